package fsm

import (
	"encoding/json"
	"testing"

	"github.com/rosterhq/roster/api"
)

// The ring keeps the newest changes in index order across wrap-arounds,
// finds a reader's place, and says when it no longer reaches back.
func TestTheEventRingFindsEachReadersPlace(t *testing.T) {
	l := newEventLog(5, 0)
	f := &FSM{events: l}
	for i := uint64(1); i <= 12; i++ { // wraps twice; two changes share index 12
		evs := []api.Event{{Index: i, Kind: api.EventInstance, ID: "x"}}
		if i == 12 {
			evs = append(evs, api.Event{Index: 12, Kind: api.EventDefinition, ID: "y"})
		}
		l.add(evs)
	}
	// Held: 9, 10, 11, 12, 12 (oldest: changes after 8).
	for _, tc := range []struct {
		after    uint64
		want     []uint64
		complete bool
	}{
		{7, nil, false},
		{8, []uint64{9, 10, 11, 12, 12}, true},
		{10, []uint64{11, 12, 12}, true},
		{12, nil, true},
		{99, nil, true},
	} {
		evs, complete, oldest, _ := f.EventsSince(tc.after, 100)
		var got []uint64
		for _, e := range evs {
			got = append(got, e.Index)
		}
		if complete != tc.complete || len(got) != len(tc.want) || oldest != 8 {
			t.Fatalf("after %d: %v complete=%v oldest=%d, want %v %v", tc.after, got, complete, oldest, tc.want, tc.complete)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("after %d: %v, want %v", tc.after, got, tc.want)
			}
		}
	}
	evs, _, _, _ := f.EventsSince(10, 2)
	if len(evs) != 2 || evs[0].Index != 11 {
		t.Fatalf("a page of 2: %v", evs)
	}
	// The shared encoding is the event's JSON.
	var back api.Event
	if err := json.Unmarshal(evs[0].JSON(), &back); err != nil || back != evs[0].Event {
		t.Fatalf("JSON %s: %+v %v", evs[0].JSON(), back, err)
	}
}
