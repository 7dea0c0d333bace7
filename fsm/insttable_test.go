package fsm

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
)

// Every index of the instances table agrees with a plain map of the rows
// after a long run of random writes: new rows, rows that change URL, slug
// and tags, and removals, in transactions that commit or abort.
func TestInstanceIndexesFollowRandomWrites(t *testing.T) {
	st := newStore()
	model := map[string]*Instance{}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(prefix string, n int) string { return fmt.Sprintf("%s%d", prefix, rng.IntN(n)) }
	for round := range 400 {
		txn := st.write()
		next := map[string]*Instance{}
		for id, in := range model {
			next[id] = in
		}
		for range 1 + rng.IntN(8) {
			id := pick("i", 60)
			old := txn.instances().get(id)
			if old != nil && rng.IntN(4) == 0 {
				txn.inst.remove(old, uint64(round+1))
				delete(next, id)
				continue
			}
			row := &Instance{ID: id, URL: "http://h/" + id + "/" + pick("v", 3), Slug: pick("s", 4)}
			if rng.IntN(5) == 0 {
				row.Slug = ""
			}
			for range rng.IntN(4) {
				row.Tags = append(row.Tags, pick("t", 3)) // repeats too
			}
			if rng.IntN(6) == 0 {
				row.Tags = append(row.Tags, "")
			}
			txn.inst.put(old, row)
			next[id] = row
		}
		if round%7 == 3 {
			txn.Abort()
		} else {
			txn.Commit()
			model = next
		}
		checkIndexes(t, st.read().insts, model)
	}
}

func checkIndexes(t *testing.T, tab *instTable, model map[string]*Instance) {
	t.Helper()
	ids := func(index, value string) []string {
		var out []string
		if index == "url" { // register's lookup, not a read's
			if in := tab.getURL(value); in != nil {
				out = append(out, in.ID)
			}
			return out
		}
		tab.lookup(index, value, func(in *Instance) bool {
			out = append(out, in.ID)
			return true
		})
		return out
	}
	want := func(match func(*Instance) bool) []string {
		out := []string{}
		for id, in := range model {
			if match(in) {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	same := func(what string, got, exp []string) {
		t.Helper()
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("%s: got %v, want %v", what, got, exp)
		}
	}
	same("all", ids("id", ""), want(func(*Instance) bool { return true }))
	if tab.len() != len(model) {
		t.Fatalf("len %d, want %d", tab.len(), len(model))
	}
	for _, in := range model {
		same("url "+in.URL, ids("url", in.URL), []string{in.ID})
		same("id "+in.ID, ids("id", in.ID), []string{in.ID})
	}
	same("gone url", ids("url", "http://h/none"), nil)
	for s := range 4 {
		slug := fmt.Sprintf("s%d", s)
		same("slug "+slug, ids("slug", slug), want(func(in *Instance) bool { return in.Slug == slug }))
	}
	for g := range 3 {
		tag := fmt.Sprintf("t%d", g)
		same("tag "+tag, ids("tag", tag), want(func(in *Instance) bool { return slices.Contains(in.Tags, tag) }))
	}
	if tab.byTag.Len() != len(tagPairs(model)) {
		t.Fatalf("tag index holds %d pairs, want %d", tab.byTag.Len(), len(tagPairs(model)))
	}
}

func tagPairs(model map[string]*Instance) map[string]bool {
	out := map[string]bool{}
	for _, in := range model {
		for _, tag := range in.Tags {
			if tag != "" {
				out[tag+"\x00"+in.ID] = true
			}
		}
	}
	return out
}

// A reader keeps the version it started with while writes go on, and an
// aborted transaction publishes nothing.
func TestInstanceReadersKeepTheirVersion(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://a:1", Slug: "s"}, "i1")
	before := a.f.state().read()
	a.mustRegister(Instance{URL: "http://a:2", Slug: "s"}, "i2")
	if _, err := a.register(Instance{ID: "i1", URL: "http://a:2", Slug: "s"}, "x"); err == nil {
		t.Fatal("a URL held by another instance was taken")
	}
	if n := before.insts.len(); n != 1 {
		t.Fatalf("the earlier reader sees %d rows", n)
	}
	if n := a.f.state().read().insts.len(); n != 2 {
		t.Fatalf("a new reader sees %d rows", n)
	}
	txn := a.f.state().write()
	txn.inst.remove(txn.instances().get("i1"), 99)
	txn.Abort()
	if a.f.state().read().insts.get("i1") == nil {
		t.Fatal("an aborted removal was published")
	}
}

// A blocking read of one slug wakes for a change to that slug (a row
// added, a row moved away), not for another slug's; a read of the whole
// table wakes for any.
func TestInstanceWatchesAreBySlug(t *testing.T) {
	a := newApplier(t)
	// Slugs share channels by hash: pick two that do not.
	w := &a.f.state().watch
	sa, sb := "a", "b"
	for i := 0; w.shard(sa) == w.shard(sb); i++ {
		sb = fmt.Sprintf("b%d", i)
	}
	a.mustRegister(Instance{URL: "http://a:1", Slug: sa}, "i1")
	watch := func(slug string) memdb.WatchSet {
		ws := memdb.NewWatchSet()
		if _, _, err := a.f.Instances(ws, InstanceFilter{Slug: slug}); err != nil {
			t.Fatal(err)
		}
		return ws
	}
	fired := func(ws memdb.WatchSet) bool { return !ws.Watch(time.After(50 * time.Millisecond)) }
	wa, wb, wall := watch(sa), watch(sb), watch("")
	a.mustRegister(Instance{URL: "http://b:1", Slug: sb}, "i2")
	if fired(wa) {
		t.Fatal("a write to slug b woke a reader of slug a")
	}
	if !fired(wb) || !fired(wall) {
		t.Fatal("a write to slug b did not wake its readers")
	}
	wa, wb = watch(sa), watch(sb)
	if _, err := a.register(Instance{ID: "i1", URL: "http://a:1", Slug: sb}, "x"); err == nil {
		t.Fatal("a slug owned by another was taken")
	}
	if fired(wa) || fired(wb) {
		t.Fatal("a refused write woke readers")
	}
	res := a.apply(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: "i1", Remove: true}}})
	if r, ok := res.(*StatusResult); !ok || len(r.Applied) != 1 {
		t.Fatalf("%#v", res)
	}
	if !fired(wa) || fired(wb) {
		t.Fatal("removing slug a's row woke the wrong readers")
	}
}

// A snapshot that holds two instances with one ID or one URL is refused
// (the URL index keeps one row a URL), and nothing of it is kept.
func TestRestoreRefusesInstancesSharingAnIDOrURL(t *testing.T) {
	a := newApplier(t)
	a.mustRegister(Instance{URL: "http://a:1", Slug: "s"}, "i1")
	good := snapshotBytes(t, a.f)
	row := func(id, url string) string {
		return fmt.Sprintf(`{"instance":{"id":%q,"url":%q,"status":"Unknown","lastHeartbeat":"2026-11-22T10:00:00Z","createIndex":1,"modifyIndex":1}}`, id, url)
	}
	for name, extra := range map[string]string{
		"same id":  row("i1", "http://b:1"),
		"same url": row("i9", "http://a:1"),
	} {
		in := strings.Replace(string(good), "\n", "\n"+extra+"\n", 1)
		f := New(nil)
		err := f.Restore(io.NopCloser(bytes.NewReader([]byte(in))))
		if err == nil {
			t.Fatalf("%s: restored", name)
		}
		if n := f.state().read().insts.len(); n != 0 {
			t.Fatalf("%s: %d rows kept after a refused restore", name, n)
		}
	}
	if _, err := CheckSnapshot(bytes.NewReader(good)); err != nil {
		t.Fatalf("the good snapshot: %v", err)
	}
}

// A read of one slug answers with the index of the last change to that
// slug's rows: writes to other slugs leave it, a removal moves it, and
// after a snapshot restore it is never behind what it was.
func TestSlugIndexFollowsOnlyItsOwnRows(t *testing.T) {
	a := newApplier(t)
	index := func(slug string) uint64 {
		t.Helper()
		_, got, err := a.f.Instances(nil, InstanceFilter{Slug: slug})
		if err != nil {
			t.Fatal(err)
		}
		if other := a.f.InstancesIndexOf(slug); other != got {
			t.Fatalf("slug %s: the list says %d, InstancesIndexOf %d", slug, got, other)
		}
		return got
	}
	if got := index("a"); got != 1 {
		t.Fatalf("a slug never written: %d, want 1", got)
	}
	a.mustRegister(Instance{URL: "http://a:1", Slug: "a"}, "i1")
	atA := a.index
	a.mustRegister(Instance{URL: "http://b:1", Slug: "b"}, "i2")
	a.mustRegister(Instance{URL: "http://b:2", Slug: "b"}, "i3")
	if got := index("a"); got != atA {
		t.Fatalf("slug a after writes to b: %d, want %d", got, atA)
	}
	if got := index("b"); got != a.index {
		t.Fatalf("slug b: %d, want %d", got, a.index)
	}
	if _, all, _ := a.f.Instances(nil, InstanceFilter{}); all != a.index {
		t.Fatalf("the whole table: %d, want %d", all, a.index)
	}
	if res := a.apply(&Command{Type: CmdDeregisterInstance, ID: "i1"}); res != nil {
		t.Fatal(res)
	}
	if got := index("a"); got != a.index {
		t.Fatalf("slug a after its last row left: %d, want %d", got, a.index)
	}
	a.mustRegister(Instance{URL: "http://b:3", Slug: "b"}, "i4")
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, a.f)))); err != nil {
		t.Fatal(err)
	}
	if got := g.InstancesIndexOf("a"); got != a.index {
		t.Fatalf("slug a after a restore: %d, want the table's %d", got, a.index)
	}
}

// Rows share the text they repeat: two instances of one slug hold one
// copy of the slug and the status, each decoded from its own log entry;
// the scheme, host, IP and path hold no bytes of their own but the URL's.
func TestStoredRowsShareRepeatedText(t *testing.T) {
	a := newApplier(t)
	r1 := a.mustRegister(Instance{URL: "http://10.9.0.1:80/a", Slug: "shared"}, "i1")
	r2 := a.mustRegister(Instance{URL: "http://10.9.0.1:81/b", Slug: "shared"}, "i2")
	s1, s2 := a.f.state().read().insts.get(r1.ID), a.f.state().read().insts.get(r2.ID)
	for name, pair := range map[string][2]string{"slug": {s1.Slug, s2.Slug}, "status": {string(s1.Status), string(s2.Status)}} {
		if pair[0] != pair[1] || unsafe.StringData(pair[0]) != unsafe.StringData(pair[1]) {
			t.Errorf("%s: %q and %q are two copies", name, pair[0], pair[1])
		}
	}
	for _, row := range []*Instance{s1, s2} {
		start := uintptr(unsafe.Pointer(unsafe.StringData(row.URL)))
		for name, part := range map[string]string{"scheme": row.Scheme, "host": row.Host, "ip": row.IP, "path": row.Path} {
			if part == "" {
				if name != "host" { // a URL with an IP literal has no host name
					t.Errorf("%s of %s is empty", name, row.URL)
				}
				continue
			}
			at := uintptr(unsafe.Pointer(unsafe.StringData(part)))
			if at < start || at+uintptr(len(part)) > start+uintptr(len(row.URL)) {
				t.Errorf("%s %q of %s is not within its URL's bytes", name, part, row.URL)
			}
		}
	}
}

// Rows with equal checks share one stored check, a status change keeps
// it, and a check no row holds any more is forgotten.
func TestStoredRowsShareOneCheckAndForgetUnusedOnes(t *testing.T) {
	a := newApplier(t)
	check := func(typ api.CheckType, path string) *Check {
		return &Check{Type: typ, Path: path, Interval: Duration(17 * time.Second), Timeout: Duration(2 * time.Second),
			FailuresBeforeUnhealthy: 3, SuccessesBeforeHealthy: 1}
	}
	odd := check(CheckHTTP, "/only-here-"+t.Name())
	r1 := a.mustRegister(Instance{URL: "http://10.9.0.1:80", Slug: "a", Check: odd, Tags: []string{"x"}}, "i1")
	r2 := a.mustRegister(Instance{URL: "http://10.9.0.2:80", Slug: "b", Check: check(CheckHTTP, odd.Path)}, "i2")
	r3 := a.mustRegister(Instance{URL: "http://10.9.0.3:80", Slug: "a", Check: check(CheckTCP, "")}, "i3")
	get := func(id string) *Instance { return a.f.state().read().insts.get(id) }
	if get(r1.ID).Check != get(r2.ID).Check || *get(r1.ID).Check != *odd {
		t.Fatalf("equal checks are two copies, or changed: %+v %+v", get(r1.ID).Check, get(r2.ID).Check)
	}
	if get(r3.ID).Check == get(r1.ID).Check || get(r3.ID).Check.Type != CheckTCP {
		t.Fatalf("a different check is shared: %+v", get(r3.ID).Check)
	}
	before := get(r1.ID)
	a.apply(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: r1.ID, Status: StatusUnhealthy, At: t0, Reason: "probe"}}})
	if got := get(r1.ID); got.Status != StatusUnhealthy || got.Check != before.Check || unsafe.SliceData(got.Tags) != unsafe.SliceData(before.Tags) {
		t.Fatalf("a status change copied what it does not change: %s, check %p (was %p)", got.Status, got.Check, before.Check)
	}
	held := func() bool {
		checks.Lock()
		defer checks.Unlock()
		for k := range checks.m {
			if k.Path == odd.Path {
				return true
			}
		}
		return false
	}
	if !held() {
		t.Fatal("the shared check is not in the table")
	}
	before = nil
	a.apply(&Command{Type: CmdDeregisterInstance, ID: r1.ID})
	a.apply(&Command{Type: CmdDeregisterInstance, ID: r2.ID})
	a.f = nil // the applier's FSM still holds old versions of the table
	for i := 0; held(); i++ {
		if i == 500 {
			t.Fatal("a check no row holds stays in the table")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// Slugs created and emptied again are not remembered without bound, and a
// slug whose mark is dropped never answers with a lower index than before.
func TestSlugMarksStayBounded(t *testing.T) {
	a := newApplier(t)
	keep := a.mustRegister(Instance{URL: "http://keep:1", Slug: "keep"}, "k")
	var firstGone uint64
	for i := range 3 * minPruneAt {
		slug := fmt.Sprintf("tmp%d", i)
		in := a.mustRegister(Instance{URL: fmt.Sprintf("http://tmp:%d", i+2), Slug: slug}, fmt.Sprintf("t%d", i))
		if res := a.apply(&Command{Type: CmdDeregisterInstance, ID: in.ID}); res != nil {
			t.Fatal(res)
		}
		if i == 0 {
			firstGone = a.f.InstancesIndexOf(slug)
		}
	}
	tab := a.f.state().read().insts
	if n := tab.marks.Len(); n > 2*minPruneAt {
		t.Fatalf("%d slug marks kept for 1 slug with rows", n)
	}
	if got := a.f.InstancesIndexOf("tmp0"); got < firstGone {
		t.Fatalf("an emptied slug went back from %d to %d", firstGone, got)
	}
	if got := a.f.InstancesIndexOf("keep"); got < keep.ModifyIndex {
		t.Fatalf("a slug with rows answers %d, below its write at %d", got, keep.ModifyIndex)
	}
}
