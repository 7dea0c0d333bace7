package httpapi

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A node answering many reads is busy: the writes it forwards are then
// spaced (Options.WriteSpacing), so that fewer Raft entries take CPU from
// the reads.

// busyReadsPerCore is the read rate, per second and core, from which a
// node is busy. A list read costs tens of microseconds of CPU here, so at
// that rate the reads take a good share of the node.
const busyReadsPerCore = 1000

// busyReadRate is the read rate from which this node is busy now. The
// cores are asked each time (once a batch at most): since Go 1.25 the
// runtime follows a container's CPU limit as it changes, and a threshold
// fixed at start would go on counting the cores the node had then.
func busyReadRate() float64 { return busyReadsPerCore * float64(runtime.GOMAXPROCS(0)) }

// busyReading says whether this node is busy answering reads.
func (s *Server) busyReading() bool { return s.reads.perSecond(time.Now()) >= busyReadRate() }

// rateMeter counts events and tells their rate over the last window of at
// least rateWindow (the window ends when the rate is asked for).
type rateMeter struct {
	n    atomic.Uint64
	mu   sync.Mutex
	at   time.Time // start of the current window
	base uint64    // n at the start of the current window
	rate float64   // the rate over the last complete window
}

const rateWindow = 100 * time.Millisecond

func (m *rateMeter) add() { m.n.Add(1) }

// perSecond is the rate over the last window that ended before now. A
// meter not asked for a while averages over all the time since it was last
// asked (writes were quiet, reads may not have been); the window after
// that, rateWindow later, is current again.
func (m *rateMeter) perSecond(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el := now.Sub(m.at); el >= rateWindow {
		n := m.n.Load()
		if !m.at.IsZero() {
			m.rate = float64(n-m.base) / el.Seconds()
		}
		m.base, m.at = n, now
	}
	return m.rate
}
