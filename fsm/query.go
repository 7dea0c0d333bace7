package fsm

import (
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
)

// bestIndex picks the most selective index the filter can use.
// host, ip, deploymentId, nodeUrl and status have no index of their own: a filter
// on them alone scans the table (make bench's fsm rows measure it) and the
// catalog stays small in memory, where every index costs each row a tree
// leaf on every replica.
func bestIndex(f InstanceFilter) (string, string) {
	tag := f.Tag
	if tag == "" && len(f.Tags) > 0 {
		tag = f.Tags[0]
	}
	for _, c := range []struct{ index, value string }{
		{"id", f.ID}, {"slug", f.Slug}, {"tag", tag},
	} {
		if c.value != "" {
			return c.index, c.value
		}
	}
	return "id", ""
}

// Instances returns the instances that match, sorted by slug then URL, and
// the index of the last write to the table, or for a filter on a slug the
// last change to that slug's rows (InstancesIndexOf). With a non-nil ws, a later change
// to the result fires one of the set's channels (blocking reads).
func (f *FSM) Instances(ws memdb.WatchSet, filter InstanceFilter) ([]*Instance, uint64, error) {
	st := f.state()
	if ws != nil {
		ws.Add(st.watch.ch(filter.Slug)) // before the read: see slugWatch
	}
	r := st.read()
	var index uint64
	if filter.Slug != "" {
		index = r.insts.slugIndex(filter.Slug)
	} else {
		index = maxIndex(r.Txn, tableInstances)
	}
	name, value := bestIndex(filter)
	out := []*Instance{}
	r.insts.lookup(name, value, func(in *Instance) bool {
		if filter.Match(in) {
			in.Unshare() // built for this read: its struct is already a copy
			out = append(out, in)
		}
		return true
	})
	slices.SortFunc(out, func(a, b *Instance) int {
		if c := strings.Compare(a.Slug, b.Slug); c != 0 {
			return c
		}
		return strings.Compare(a.URL, b.URL)
	})
	return out, index, nil
}

// Instance returns one instance by ID, or a NotFound error.
func (f *FSM) Instance(id string) (*Instance, uint64, error) {
	r := f.state().read()
	in := r.insts.get(id)
	if in == nil {
		return nil, 0, NotFound("instance %s not found", id)
	}
	in.Unshare()
	return in, maxIndex(r.Txn, tableInstances), nil
}

// Definitions returns every definition sorted by ID, and the table's index.
func (f *FSM) Definitions(ws memdb.WatchSet) ([]*Definition, uint64, error) {
	txn := f.state().db.Txn(false)
	it, err := txn.Get(tableDefinitions, "id")
	if err != nil {
		return nil, 0, err
	}
	ws.Add(it.WatchCh())
	out := []*Definition{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		d := *raw.(*Definition)
		out = append(out, &d)
	}
	return out, maxIndex(txn, tableDefinitions), nil
}

// InstancesIndex returns the index of the last write to the instances
// table, without reading any row.
func (f *FSM) InstancesIndex() uint64 {
	return maxIndex(f.state().db.Txn(false), tableInstances)
}

// InstancesIndexOf is the index a read of slug's instances answers with
// (the last change to its rows), or for "" the instances table's.
func (f *FSM) InstancesIndexOf(slug string) uint64 {
	if slug == "" {
		return f.InstancesIndex()
	}
	return f.state().insts.Load().slugIndex(slug)
}

// Index returns the highest write index across the catalog's tables.
func (f *FSM) Index() uint64 {
	txn := f.state().db.Txn(false)
	return max(maxIndex(txn, tableInstances), maxIndex(txn, tableDefinitions))
}

func maxIndex(txn *memdb.Txn, table string) uint64 {
	raw, err := txn.First(tableIndex, "id", table)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*indexEntry).Index
}

// InstancesByStatus counts the stored instances of each status, without
// building them (the /metrics gauge).
func (f *FSM) InstancesByStatus() map[Status]int {
	out := map[Status]int{}
	f.state().read().insts.eachStored(func(r *row) bool {
		out[r.statusOf()]++
		return true
	})
	return out
}

// ScanInstances calls fn with every stored instance, unsorted, and returns
// the table's index. Each *Instance is built for the call from the stored
// row but shares its strings, tags, meta and check with every reader: fn
// must not modify them. It is for loops that read the whole catalog often
// (the health checker, /metrics) and need no copy of its slices and maps.
func (f *FSM) ScanInstances(fn func(*Instance)) (uint64, error) {
	r := f.state().read()
	r.insts.each(func(in *Instance) bool {
		fn(in)
		return true
	})
	return maxIndex(r.Txn, tableInstances), nil
}
