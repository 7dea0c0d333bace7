package fsm

import (
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
)

// Services returns one row per slug, sorted by slug, and the instances
// table's index; ws watches for changes as Instances does.
func (f *FSM) Services(ws memdb.WatchSet) ([]*Service, uint64, error) {
	st := f.state()
	if ws != nil {
		ws.Add(st.watch.ch("")) // before the read: see slugWatch
	}
	r := st.read()
	bySlug := map[string]*Service{}
	r.insts.each(func(in *Instance) bool {
		s := bySlug[in.Slug]
		if s == nil {
			s = &Service{Slug: in.Slug, ByStatus: map[Status]int{}, Tags: []string{}, Nodes: []string{}}
			bySlug[in.Slug] = s
		}
		s.Instances++
		s.ByStatus[in.Status]++
		for _, t := range in.Tags {
			if !slices.Contains(s.Tags, t) {
				s.Tags = append(s.Tags, t)
			}
		}
		if in.NodeURL != "" && !slices.Contains(s.Nodes, in.NodeURL) {
			s.Nodes = append(s.Nodes, in.NodeURL)
		}
		return true
	})
	out := make([]*Service, 0, len(bySlug))
	for _, s := range bySlug {
		slices.Sort(s.Tags)
		slices.Sort(s.Nodes)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.Slug, b.Slug) })
	return out, maxIndex(r.Txn, tableInstances), nil
}
