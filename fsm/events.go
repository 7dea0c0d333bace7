package fsm

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/rosterhq/roster/api"
)

// The change stream (GET /registry-svc/events) reads a bounded history of
// the catalog's changes that every replica keeps in memory as it applies
// the log. A change is the net effect of one applied batch on one row
// (the store's change tracking), at the row's modify index, or for a
// removal the batch's last index. The history starts afresh at a restart
// or a snapshot restore; a reader asking for older changes is told where
// it starts and lists again.

// DefaultEventHistory is how many changes a replica keeps.
const DefaultEventHistory = 10000

// Change is one held change. Its JSON is encoded once, by the first
// reader that asks, and shared by every stream that sends it.
type Change struct {
	api.Event
	enc atomic.Pointer[[]byte]
}

// JSON is the change's encoding (api.Event's shape).
func (c *Change) JSON() []byte {
	if b := c.enc.Load(); b != nil {
		return *b
	}
	b, _ := json.Marshal(&c.Event) // plain data: it always encodes
	c.enc.Store(&b)                // a racing reader stores the same bytes
	return b
}

// eventLog is a ring of the newest changes, in index order.
type eventLog struct {
	mu     sync.Mutex
	buf    []*Change
	start  int    // position of the oldest in buf
	n      int    // how many buf holds
	oldest uint64 // every change after this index is held (or none happened)
	wake   chan struct{}
}

func newEventLog(capacity int, from uint64) *eventLog {
	if capacity <= 0 {
		capacity = DefaultEventHistory
	}
	return &eventLog{buf: make([]*Change, capacity), oldest: from, wake: make(chan struct{})}
}

// add appends changes in index order and wakes the readers.
func (l *eventLog) add(evs []api.Event) {
	if len(evs) == 0 {
		return
	}
	slices.SortStableFunc(evs, func(a, b api.Event) int {
		switch {
		case a.Index < b.Index:
			return -1
		case a.Index > b.Index:
			return 1
		}
		return 0
	})
	l.mu.Lock()
	for _, e := range evs {
		if l.n == len(l.buf) {
			// The oldest leaves: readers after it still have all.
			l.oldest = l.buf[l.start].Index
			l.start = (l.start + 1) % len(l.buf)
			l.n--
		}
		l.buf[(l.start+l.n)%len(l.buf)] = &Change{Event: e}
		l.n++
	}
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// Since returns the held changes after index (at most max), whether the
// history still reaches back to index (false: changes were dropped; the
// reader must list again, from Oldest), and a channel closed at the next
// change.
func (f *FSM) EventsSince(index uint64, max int) (evs []*Change, complete bool, oldest uint64, wake <-chan struct{}) {
	l := f.eventLog()
	l.mu.Lock()
	defer l.mu.Unlock()
	if index < l.oldest {
		return nil, false, l.oldest, l.wake
	}
	// The ring is in index order: a thousand streams woken by one write
	// each find their place by bisection, not by a walk of the history.
	first := sort.Search(l.n, func(i int) bool { return l.buf[(l.start+i)%len(l.buf)].Index > index })
	for i := first; i < l.n && len(evs) < max; i++ {
		evs = append(evs, l.buf[(l.start+i)%len(l.buf)])
	}
	return evs, true, l.oldest, l.wake
}

func (f *FSM) eventLog() *eventLog {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.events
}

// record turns a committed transaction's changes into events.
func (f *FSM) record(txn *tx, lastIndex uint64) {
	changes := txn.changes()
	evs := make([]api.Event, 0, len(changes))
	for _, ch := range changes {
		row, op := ch.After, api.EventUpsert
		if row == nil {
			row, op = ch.Before, api.EventDelete
		}
		e := api.Event{Op: op}
		var modified uint64
		switch r := row.(type) {
		case *Instance:
			e.Kind, e.ID, e.Instance, modified = api.EventInstance, r.ID, r, r.ModifyIndex
		case *Definition:
			e.Kind, e.ID, e.Definition, modified = api.EventDefinition, r.ID, r, r.ModifyIndex
		default:
			continue // the index, usage and token tables are not streamed
		}
		// An upsert is at its row's index; a removal at the batch's end.
		e.Index = lastIndex
		if op == api.EventUpsert && modified > 0 && modified <= lastIndex {
			e.Index = modified
		}
		evs = append(evs, e)
	}
	f.eventLog().add(evs)
}
