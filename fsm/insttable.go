package fsm

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"unique"
	"weak"

	"github.com/google/btree"

	"github.com/rosterhq/roster/api"
)

// The instances table is the catalog's big one (a million rows by quota),
// so it is not kept in go-memdb: go-memdb's radix trees cost each row about
// 1.4 KB on every replica (a tree path per index, a watch channel per tree
// node and leaf), against a few dozen bytes in copy-on-write B-trees.
// instTable is one version of the table; a published version is never
// written again, so readers use it without a lock while the FSM writes the
// next one (btree's Clone shares the nodes and copies only those a write
// touches).

// instDegree is the B-trees' degree: nodes of up to 15 rows keep the
// copies a write makes small (a node a level) at ~5 levels for 100,000 rows.
const instDegree = 8

// The trees hold the compact stored form of a row (row.go) and give
// readers an *Instance built from it. They hold their keys beside the row
// pointer: a comparison reads the node's own array rather than following a
// pointer to each row, and a lookup builds its probe on the stack. The
// slug and tag trees order by (key, row's ID) but keep only the key: the
// ID is read through the pointer when keys tie.
type (
	idRef struct {
		id string
		in *row
	}
	urlRef struct {
		url string
		in  *row
	}
	keyRef struct { // (slug, row) or (tag, row)
		key string
		in  *row
	}
)

// noRow sorts before every row of a key: a probe for the first of them.
var noRow = &row{}

// slugMark is the index of the last change to a slug's rows.
type slugMark struct {
	slug  string
	index uint64
}

type instTable struct {
	// floor is the index of every slug without a mark: the table's index
	// when the table was loaded from a snapshot (0 for a new one).
	floor uint64
	marks *btree.BTreeG[slugMark]
	// pruneAt is the number of marks past which the marks of slugs
	// without rows are dropped (pruneMarks).
	pruneAt int
	byID    *btree.BTreeG[idRef]  // every row, by ID
	byURL   *btree.BTreeG[urlRef] // every row, by URL (unique)
	bySlug  *btree.BTreeG[keyRef] // rows with a slug, by slug then ID
	byTag   *btree.BTreeG[keyRef] // one entry per distinct tag of a row, by tag then ID
}

func lessID(a, b idRef) bool    { return a.id < b.id }
func lessURL(a, b urlRef) bool  { return a.url < b.url }
func lessPair(a, b keyRef) bool { return a.key < b.key || (a.key == b.key && a.in.id < b.in.id) }

func lessMark(a, b slugMark) bool { return a.slug < b.slug }

func newInstTable() *instTable {
	return &instTable{
		marks:   btree.NewG(instDegree, lessMark),
		pruneAt: minPruneAt,
		byID:    btree.NewG(instDegree, lessID),
		byURL:   btree.NewG(instDegree, lessURL),
		bySlug:  btree.NewG(instDegree, lessPair),
		byTag:   btree.NewG(instDegree, lessPair),
	}
}

// clone returns a version to write; t stays as it is for its readers.
func (t *instTable) clone() *instTable {
	return &instTable{floor: t.floor, marks: t.marks.Clone(), pruneAt: t.pruneAt,
		byID: t.byID.Clone(), byURL: t.byURL.Clone(), bySlug: t.bySlug.Clone(), byTag: t.byTag.Clone()}
}

// minPruneAt is the fewest marks that start a prune.
const minPruneAt = 4096

// pruneMarks drops the marks of slugs that no longer have rows once the
// marks are twice what the last prune kept (slugs created and emptied again
// would otherwise be remembered without bound), and raises the floor to the
// newest dropped mark: the slugs without a mark then answer with an index
// at least as high as before, never a lower one.
func (t *instTable) pruneMarks() {
	if t.marks.Len() <= t.pruneAt {
		return
	}
	var gone []slugMark
	t.marks.Ascend(func(m slugMark) bool {
		if !t.hasSlug(m.slug) {
			gone = append(gone, m)
		}
		return true
	})
	for _, m := range gone {
		t.marks.Delete(m)
		t.floor = max(t.floor, m.index)
	}
	t.pruneAt = max(minPruneAt, 2*t.marks.Len())
}

// slugIndex is the index of the last change to slug's rows: a read of
// one slug answers with it, so its cached list and its blocking readers
// are untouched by writes to other slugs (as Consul's per-service index).
// It is at least 1, so that a blocking read with it waits.
func (t *instTable) slugIndex(slug string) uint64 {
	m, ok := t.marks.Get(slugMark{slug: slug})
	if !ok {
		return max(t.floor, 1)
	}
	return max(m.index, t.floor, 1)
}

func (t *instTable) len() int { return t.byID.Len() }

// get returns the row with this ID, or nil.
func (t *instTable) get(id string) *Instance {
	r, _ := t.byID.Get(idRef{id: id})
	return r.in.orNil()
}

// getURL returns the row with this URL, or nil.
func (t *instTable) getURL(url string) *Instance {
	r, _ := t.byURL.Get(urlRef{url: url})
	return r.in.orNil()
}

// orNil is the row as an *Instance, nil for no row.
func (r *row) orNil() *Instance {
	if r == nil {
		return nil
	}
	return r.instance()
}

// hasSlug reports whether any row has this slug.
func (t *instTable) hasSlug(slug string) bool {
	has := false
	t.bySlug.AscendGreaterOrEqual(keyRef{slug, noRow}, func(r keyRef) bool {
		has = r.key == slug
		return false
	})
	return has
}

// put stores row in place of old (nil for a new row); old and row have the
// same ID. row shares repeated text and its check with other rows from
// here on (internRow).
func (t *instTable) put(old, in *Instance) {
	internRow(in)
	if old != nil {
		t.unindex(old)
	}
	r := compact(in)
	t.byID.ReplaceOrInsert(idRef{r.id, r})
	t.byURL.ReplaceOrInsert(urlRef{r.url, r})
	if r.slug != "" {
		t.bySlug.ReplaceOrInsert(keyRef{r.slug, r})
	}
	for _, tag := range distinctTags(in) {
		t.byTag.ReplaceOrInsert(keyRef{tag, r})
	}
}

// remove takes a stored row out of every index.
func (t *instTable) remove(row *Instance) {
	t.unindex(row)
	t.byID.Delete(idRef{id: row.ID})
}

// unindex takes row out of the secondary indexes (by its own URL, slug and
// tags: a row's new version may change them).
func (t *instTable) unindex(in *Instance) {
	t.byURL.Delete(urlRef{url: in.URL})
	probe := &row{id: in.ID}
	if in.Slug != "" {
		t.bySlug.Delete(keyRef{in.Slug, probe})
	}
	for _, tag := range distinctTags(in) {
		t.byTag.Delete(keyRef{tag, probe})
	}
}

// distinctTags returns a row's non-empty tags without repeats.
func distinctTags(row *Instance) []string {
	switch len(row.Tags) {
	case 0:
		return nil
	case 1:
		if row.Tags[0] == "" {
			return nil
		}
		return row.Tags
	}
	tags := slices.DeleteFunc(slices.Clone(row.Tags), func(s string) bool { return s == "" })
	slices.Sort(tags)
	return slices.Compact(tags)
}

// each calls fn with every row in ID order until fn returns false.
func (t *instTable) each(fn func(*Instance) bool) {
	t.byID.Ascend(func(r idRef) bool { return fn(r.in.instance()) })
}

// eachStored calls fn with every stored row in ID order, without building
// an *Instance: for scans that read a few fields of every row (the
// services view, the status counts).
func (t *instTable) eachStored(fn func(*row) bool) {
	t.byID.Ascend(func(r idRef) bool { return fn(r.in) })
}

// eachOfSlug calls fn with the rows of one slug, in ID order.
func (t *instTable) eachOfSlug(slug string, fn func(*Instance) bool) {
	t.bySlug.AscendGreaterOrEqual(keyRef{slug, noRow}, func(r keyRef) bool {
		return r.key == slug && fn(r.in.instance())
	})
}

// eachWithTag calls fn with the rows that carry tag, in ID order.
func (t *instTable) eachWithTag(tag string, fn func(*Instance) bool) {
	t.byTag.AscendGreaterOrEqual(keyRef{tag, noRow}, func(r keyRef) bool {
		return r.key == tag && fn(r.in.instance())
	})
}

// lookup calls fn with the rows an index of bestIndex finds for value
// ("id", "slug", "tag"); "" lists every row.
func (t *instTable) lookup(index, value string, fn func(*Instance) bool) {
	switch {
	case value == "":
		t.each(fn)
	case index == "id":
		if in := t.get(value); in != nil {
			fn(in)
		}
	case index == "slug":
		t.eachOfSlug(value, fn)
	case index == "tag":
		t.eachWithTag(value, fn)
	}
}

// instChange is the net change of one row in a transaction (go-memdb's
// Change, for the instances table).
type instChange struct {
	before, after *Instance
}

// instTxn is a transaction's writes to the table: the version it writes is
// made at the first write, and published by the store at commit.
type instTxn struct {
	base, work *instTable
	changes    map[string]*instChange // by ID
	order      []string               // IDs in the order of their first change
	slugs      map[string]struct{}    // slugs whose rows changed (watches)
}

func (x *instTxn) table() *instTable {
	if x.work != nil {
		return x.work
	}
	return x.base
}

func (x *instTxn) writable() *instTable {
	if x.work == nil {
		x.work = x.base.clone()
		x.changes = map[string]*instChange{}
		x.slugs = map[string]struct{}{}
	}
	return x.work
}

// put stores row in place of old (nil: a new row) at row.ModifyIndex.
func (x *instTxn) put(old, row *Instance) {
	x.writable().put(old, row)
	x.track(row.ID, old, row, row.ModifyIndex)
}

// remove deletes a stored row at index.
func (x *instTxn) remove(row *Instance, index uint64) {
	x.writable().remove(row)
	x.track(row.ID, row, nil, index)
}

// load adds a row of a snapshot (no change, no slug mark: the table's
// floor covers it).
func (x *instTxn) load(row *Instance) { x.writable().put(nil, row) }

func (x *instTxn) track(id string, before, after *Instance, index uint64) {
	for _, r := range []*Instance{before, after} {
		if r == nil || (r == after && before != nil && before.Slug == after.Slug) {
			continue // a row that keeps its slug marks it once
		}
		x.slugs[r.Slug] = struct{}{}
		x.work.marks.ReplaceOrInsert(slugMark{slug: r.Slug, index: index})
	}
	if c, ok := x.changes[id]; ok {
		c.after = after // the row's first before stays: the net change
		return
	}
	x.changes[id] = &instChange{before: before, after: after}
	x.order = append(x.order, id)
}

// netChanges returns the transaction's changes in the order of their first
// write, without rows added and removed again (go-memdb's Changes rule).
func (x *instTxn) netChanges() []instChange {
	out := make([]instChange, 0, len(x.order))
	for _, id := range x.order {
		if c := x.changes[id]; c.before != nil || c.after != nil {
			out = append(out, *c)
		}
	}
	return out
}

// internRow makes a stored row share the text that many rows repeat (the
// scheme, host and IP of a machine, the slug, the node, the status, the
// check): one copy each in the process instead of one per row, decoded
// anew from every log entry.
func internRow(row *Instance) {
	// The scheme, host, IP and path are parts of the URL: they share its
	// bytes, which costs nothing whether other rows repeat them or not.
	// Only what the URL does not hold (an IP given beside a host name) is
	// interned.
	for _, s := range []*string{&row.Scheme, &row.Host, &row.IP, &row.Path} {
		if i := strings.Index(row.URL, *s); *s != "" && i >= 0 {
			*s = row.URL[i : i+len(*s)]
		} else {
			*s = intern(*s)
		}
	}
	for _, s := range []*string{&row.Slug, &row.NodeURL, &row.DeploymentID, &row.StatusReason} {
		*s = intern(*s)
	}
	row.Status = Status(intern(string(row.Status)))
	if row.Check != nil {
		row.Check = internCheck(row.Check)
	}
}

// checks holds one copy of each distinct check the catalog stores: most
// rows carry the same default or registrator check, and 80 bytes a row
// are 8 MB at 100,000 rows. Stored rows are never written in place, so
// they can share it. The map holds its copies weakly: once no row holds a
// check any more, the collector takes it and its entry goes, so a writer
// of ever new checks cannot grow the map past the rows that hold them.
var checks = struct {
	sync.Mutex
	m map[api.Check]weak.Pointer[api.Check]
}{m: map[api.Check]weak.Pointer[api.Check]{}}

func internCheck(c *api.Check) *api.Check {
	key := *c
	key.Type = api.CheckType(intern(string(key.Type)))
	key.Path = intern(key.Path)
	checks.Lock()
	defer checks.Unlock()
	if p := checks.m[key].Value(); p != nil {
		return p
	}
	p := new(api.Check)
	*p = key
	checks.m[key] = weak.Make(p)
	runtime.AddCleanup(p, dropCheck, key)
	return p
}

// dropCheck forgets a check no row holds, unless it has been stored again
// since (a new copy under the same key).
func dropCheck(key api.Check) {
	checks.Lock()
	defer checks.Unlock()
	if wp, ok := checks.m[key]; ok && wp.Value() == nil {
		delete(checks.m, key)
	}
}

func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}
