package node

import (
	"strings"
	"testing"
	"time"
)

// Instance IDs keep 1Backend's shape, never repeat, and sort (as strings)
// in the order they were made, also when many come in one tick, when the
// clock steps back and across a tick's last sequence number.
func TestInstanceIDsSortByCreation(t *testing.T) {
	var g sortedIDs
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	prev := ""
	seen := map[string]bool{}
	check := func(id string) {
		t.Helper()
		rest, ok := strings.CutPrefix(id, "inst-")
		if !ok || len(rest) != 10 || strings.Trim(rest, base62) != "" {
			t.Fatalf("id %q is not inst- and 10 base62 characters", id)
		}
		if seen[id] || id <= prev {
			t.Fatalf("id %q after %q: not new and later", id, prev)
		}
		seen[id], prev = true, id
	}
	for i := range 20000 {
		// Five IDs a tick, then a clock that steps back a second.
		now := at.Add(time.Duration(i/5) * idTick)
		if i%1000 == 999 {
			now = now.Add(-time.Second)
		}
		check(g.next(now))
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
