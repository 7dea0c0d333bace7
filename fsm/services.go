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
	r.insts.eachStored(func(in *row) bool {
		s := bySlug[in.slug]
		if s == nil {
			s = &Service{Slug: in.slug, ByStatus: map[Status]int{}, Tags: []string{}, Nodes: []string{}}
			bySlug[in.slug] = s
		}
		s.Instances++
		s.ByStatus[in.statusOf()]++
		for _, t := range in.tagsOf() {
			if !slices.Contains(s.Tags, t) {
				s.Tags = append(s.Tags, t)
			}
		}
		if in.nodeURL != "" && !slices.Contains(s.Nodes, in.nodeURL) {
			s.Nodes = append(s.Nodes, in.nodeURL)
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
