package node

import (
	"strings"
	"testing"
	"time"
)

// Instance IDs keep 1Backend's shape, never repeat, and sort (as strings)
// by the tick they were made in, also when many come in one tick, when
// the clock steps back and across a tick's last sequence number; within
// a tick they are not in order (the sequence's bits are reversed).
func TestInstanceIDsSortByCreation(t *testing.T) {
	var g sortedIDs
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	var top string
	var lastTick uint64
	seen := map[string]bool{}
	descending := 0
	check := func(id string) {
		t.Helper()
		rest, ok := strings.CutPrefix(id, "inst-")
		if !ok || len(rest) != 10 || strings.Trim(rest, base62) != "" {
			t.Fatalf("id %q is not inst- and 10 base62 characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q came twice", id)
		}
		seen[id] = true
		tick := decode62(rest) >> idSeqBits
		switch {
		case tick < lastTick:
			t.Fatalf("id %q is of tick %d, after one of tick %d", id, tick, lastTick)
		case tick > lastTick && id <= top:
			t.Fatalf("id %q of a later tick sorts before %q", id, top)
		case tick == lastTick && id < top:
			descending++
		}
		lastTick, top = tick, max(top, id)
	}
	for i := range 20000 {
		// Five IDs a tick, then a clock that steps back a second.
		now := at.Add(time.Duration(i/5) * idTick)
		if i%1000 == 999 {
			now = now.Add(-time.Second)
		}
		check(g.next(now))
	}
	if descending < 2000 {
		t.Fatalf("%d of 20,000 IDs sort before one made earlier in their tick: the sequence is in order", descending)
	}
	// A full tick borrows the next one.
	g.seq = 1<<idSeqBits - 2
	last := g.tick
	check(g.next(at))
	check(g.next(at))
	if g.tick != last+1 || g.seq != 0 {
		t.Fatalf("after a full tick: tick %d seq %d, want %d and 0", g.tick, g.seq, last+1)
	}
	// Later ticks make later IDs than any of the borrowed one's.
	check(g.next(at.Add(time.Hour)))
	// The time is in the ID: a tick apart, the numbers are 2^20 apart.
	var h sortedIDs
	a, b := h.next(at), h.next(at.Add(2*idTick))
	if decode62(b[5:])>>idSeqBits-decode62(a[5:])>>idSeqBits != 2 {
		t.Fatalf("%s and %s are not two ticks apart", a, b)
	}
}

func decode62(s string) uint64 {
	var n uint64
	for i := range len(s) {
		n = n*62 + uint64(strings.IndexByte(base62, s[i]))
	}
	return n
}

func BenchmarkNewInstanceID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewInstanceID()
	}
}
