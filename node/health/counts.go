package health

import (
	"sync"

	"github.com/rosterhq/roster/api"
)

// CheckCount is how many checks of one type this node ran, and how many of
// them failed, since it started (for /metrics).
type CheckCount struct {
	Type        api.CheckType
	Ran, Failed uint64
}

// counts adds up check runs by type: probes when they end, ttl checks when
// their deadline is looked at.
type counts struct {
	mu sync.Mutex
	by map[api.CheckType]*CheckCount
}

func (c *counts) add(t api.CheckType, pass bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[api.CheckType]*CheckCount{}
	}
	n := c.by[t]
	if n == nil {
		n = &CheckCount{Type: t}
		c.by[t] = n
	}
	n.Ran++
	if !pass {
		n.Failed++
	}
}

// Counts are the checks run by type (http, tcp, ttl), in that order.
func (c *Checker) Counts() []CheckCount {
	c.counts.mu.Lock()
	defer c.counts.mu.Unlock()
	out := make([]CheckCount, 0, 3)
	for _, t := range []api.CheckType{api.CheckHTTP, api.CheckTCP, api.CheckTTL} {
		n := CheckCount{Type: t}
		if got := c.counts.by[t]; got != nil {
			n = *got
		}
		out = append(out, n)
	}
	return out
}
