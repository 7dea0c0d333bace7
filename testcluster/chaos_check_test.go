package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rosterhq/roster/api"
)

// electionLog records raft's own "election won" lines (they carry the
// exact term) from every node's log, to check that no term has two leaders.
type electionLog struct {
	next  slog.Handler // may be nil
	attrs []slog.Attr
	rec   *elections
}

type elections struct {
	mu     sync.Mutex
	byTerm map[uint64][]string
}

var termRE = regexp.MustCompile(`\bterm=(\d+)`)

func newElectionLog(next *slog.Logger) *electionLog {
	h := &electionLog{rec: &elections{byTerm: map[uint64][]string{}}}
	if next != nil {
		h.next = next.Handler()
	}
	return h
}

func (h *electionLog) Enabled(ctx context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *electionLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "election won") {
		if m := termRE.FindStringSubmatch(r.Message); m != nil {
			term, _ := strconv.ParseUint(m[1], 10, 64)
			node := "?"
			for _, a := range h.attrs {
				if a.Key == "node" {
					node = a.Value.String()
				}
			}
			h.rec.mu.Lock()
			h.rec.byTerm[term] = append(h.rec.byTerm[term], node)
			h.rec.mu.Unlock()
		}
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *electionLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), as...)
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return &c
}

func (h *electionLog) WithGroup(name string) slog.Handler {
	c := *h
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

// check returns the number of elections won and one anomaly per term that
// had more than one winner.
func (e *elections) check() (won int, anomalies []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for term, nodes := range e.byTerm {
		won += len(nodes)
		if distinct := slices.Compact(slices.Sorted(slices.Values(nodes))); len(distinct) > 1 {
			anomalies = append(anomalies, fmt.Sprintf("term %d has %d leaders: %v", term, len(distinct), distinct))
		}
	}
	return won, anomalies
}

// indexWatch checks that X-Registry-Index never goes backwards for a client
// that reads from one node.
type indexWatch struct {
	mu        sync.Mutex
	last      map[[2]int]uint64 // (client, node) -> last index seen
	reads     int
	anomalies []string
}

func (w *indexWatch) saw(client, node int, index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[[2]int]uint64{}
	}
	w.reads++
	k := [2]int{client, node}
	if prev := w.last[k]; index < prev {
		w.anomalies = append(w.anomalies, fmt.Sprintf("client %d on node%d: X-Registry-Index went from %d back to %d", client, node+1, prev, index))
	}
	w.last[k] = max(w.last[k], index)
}

// catalogDigest is what must be equal on every node once the cluster has
// converged: each instance's id, tags and modifyIndex.
func catalogDigest(insts []*api.Instance) string {
	var rows []string
	for _, in := range insts {
		rows = append(rows, fmt.Sprintf("%s %v %d", in.ID, in.Tags, in.ModifyIndex))
	}
	slices.Sort(rows)
	return strings.Join(rows, "\n")
}
