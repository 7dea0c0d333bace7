package fsm

import (
	"net"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
)

// InstanceFilter selects instances; every non-empty field must match exactly
// (ANDed), as the seed's list endpoint does. Tags adds more tags that must
// all be present (?tag=a&tag=b), beside Tag.
type InstanceFilter struct {
	ID           string
	Slug         string
	Host         string
	IP           string
	DeploymentID string
	NodeURL      string
	Path         string
	Scheme       string
	Tag          string
	Tags         []string
	Status       string
}

// Match reports whether in passes every set field of the filter. Host also
// matches an instance whose URL names that IP: a URL's host is stored as IP
// when it is an address, but users ask ?host= for either.
func (f InstanceFilter) Match(in *Instance) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	host := eq(f.Host, in.Host) || (f.hostIsIP() && f.Host == in.IP)
	return eq(f.ID, in.ID) && eq(f.Slug, in.Slug) && host && eq(f.IP, in.IP) &&
		eq(f.DeploymentID, in.DeploymentID) && eq(f.NodeURL, in.NodeURL) && eq(f.Path, in.Path) &&
		eq(f.Scheme, in.Scheme) && eq(f.Status, string(in.Status)) &&
		(f.Tag == "" || slices.Contains(in.Tags, f.Tag)) && hasAll(in.Tags, f.Tags)
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func (f InstanceFilter) hostIsIP() bool { return net.ParseIP(f.Host) != nil }

// bestIndex picks the most selective go-memdb index the filter can use.
// host, ip, deploymentId, nodeUrl and status have no index of their own: a filter
// on them alone scans the table (about 10 ms per 100,000 rows) and the
// catalog stays small in memory, where every index costs each row a tree
// leaf on every replica.
func (f InstanceFilter) bestIndex() (string, string) {
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
// the index of the last write to the table. With a non-nil ws, a later change
// to the result fires one of the set's channels (blocking reads).
func (f *FSM) Instances(ws memdb.WatchSet, filter InstanceFilter) ([]*Instance, uint64, error) {
	txn := f.state().Txn(false)
	index := maxIndex(txn, tableInstances)
	name, value := filter.bestIndex()
	var it memdb.ResultIterator
	var err error
	if value == "" {
		it, err = txn.Get(tableInstances, "id_prefix", "")
	} else {
		it, err = txn.Get(tableInstances, name, value)
	}
	if err != nil {
		return nil, 0, err
	}
	ws.Add(it.WatchCh())
	out := []*Instance{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if in := raw.(*Instance); filter.Match(in) {
			out = append(out, in.clone())
		}
	}
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
	txn := f.state().Txn(false)
	in, err := firstInstance(txn, "id", id)
	if err != nil {
		return nil, 0, err
	}
	if in == nil {
		return nil, 0, NotFound("instance %s not found", id)
	}
	return in.clone(), maxIndex(txn, tableInstances), nil
}

// Definitions returns every definition sorted by ID, and the table's index.
func (f *FSM) Definitions(ws memdb.WatchSet) ([]*Definition, uint64, error) {
	txn := f.state().Txn(false)
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
	return maxIndex(f.state().Txn(false), tableInstances)
}

// Index returns the highest write index across the catalog's tables.
func (f *FSM) Index() uint64 {
	txn := f.state().Txn(false)
	return max(maxIndex(txn, tableInstances), maxIndex(txn, tableDefinitions))
}

func maxIndex(txn *memdb.Txn, table string) uint64 {
	raw, err := txn.First(tableIndex, "id", table)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*indexEntry).Index
}

// ScanInstances calls fn with every stored instance, unsorted and not
// copied, and returns the table's index. fn must not modify or keep a
// modified row: rows are shared with every reader. It is for loops that
// read the whole catalog often (the health checker) and must not copy it.
func (f *FSM) ScanInstances(fn func(*Instance)) (uint64, error) {
	txn := f.state().Txn(false)
	it, err := txn.Get(tableInstances, "id")
	if err != nil {
		return 0, err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		fn(raw.(*Instance))
	}
	return maxIndex(txn, tableInstances), nil
}
