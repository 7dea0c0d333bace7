package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
)

func TestListCacheKeepsEachListAtItsIndex(t *testing.T) {
	lc := newListCache()
	g1, g2 := make(chan struct{}), make(chan struct{})
	lc.put(g1, 5, "a", []byte("five"))
	if b, ok := lc.get(g1, 5, "a"); !ok || string(b) != "five" {
		t.Fatalf("get at 5: %q %v", b, ok)
	}
	if _, ok := lc.get(g1, 6, "a"); ok {
		t.Fatal("an answer of index 5 served at 6")
	}
	lc.put(g1, 4, "b", []byte("four")) // another list, at its own index
	if b, ok := lc.get(g1, 4, "b"); !ok || string(b) != "four" {
		t.Fatalf("another list at its own index: %q %v", b, ok)
	}
	lc.put(g1, 6, "a", []byte("six"))
	if _, ok := lc.get(g1, 5, "a"); ok {
		t.Fatal("index 5 kept after a write at 6")
	}
	lc.put(g1, 5, "a", []byte("late")) // older than the kept one: ignored
	if b, ok := lc.get(g1, 6, "a"); !ok || string(b) != "six" {
		t.Fatalf("an older answer replaced a newer one: %q %v", b, ok)
	}
	if _, ok := lc.get(g1, 4, "b"); !ok {
		t.Fatal("a write to one list dropped another")
	}
	if _, ok := lc.get(g2, 6, "a"); ok {
		t.Fatal("an answer served across a snapshot restore")
	}
	lc.put(g1, 6, "big", make([]byte, maxCacheBytes+1))
	if _, ok := lc.get(g1, 6, "big"); ok {
		t.Fatal("the size bound was not kept")
	}
	lc.put(g1, 7, "half1", make([]byte, maxCacheBytes/2))
	lc.put(g1, 7, "half2", make([]byte, maxCacheBytes/2+1)) // over the bound: the cache starts again
	if _, ok := lc.get(g1, 7, "half1"); ok {
		t.Fatal("the cache held more than its bound")
	}
	if _, ok := lc.get(g1, 7, "half2"); !ok {
		t.Fatal("the newest answer was not kept")
	}
}

// Readers of one list at one index share one encoding: the function runs
// once and every reader gets the same bytes, not a copy each.
func TestReadersOfOneListShareOneEncoding(t *testing.T) {
	lc := newListCache()
	gen := make(chan struct{})
	var calls atomic.Int32
	release := make(chan struct{})
	f := func() ([]byte, error) {
		calls.Add(1)
		<-release
		return make([]byte, 1<<20), nil
	}
	const readers = 50
	got := make([][]byte, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := lc.encode(gen, 7, "instances", f)
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		}()
	}
	time.Sleep(50 * time.Millisecond) // every reader is waiting on the one encoding
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("the list was encoded %d times for %d readers", n, readers)
	}
	for i := range got {
		if &got[i][0] != &got[0][0] {
			t.Fatalf("reader %d holds its own copy", i)
		}
	}
	// Later readers at that index take the cached answer; a new index
	// encodes again.
	if b, _ := lc.encode(gen, 7, "instances", f); &b[0] != &got[0][0] || calls.Load() != 1 {
		t.Fatal("a later reader at the same index did not take the cached answer")
	}
	if _, _ = lc.encode(gen, 8, "instances", func() ([]byte, error) { calls.Add(1); return []byte("x"), nil }); calls.Load() != 2 {
		t.Fatal("a new index did not encode again")
	}
}

func TestInstancesKeyTellsEveryFilterApart(t *testing.T) {
	filters := []api.InstanceFilter{
		{},
		{Slug: "a"},
		{Host: "a"},
		{Slug: "a b"},
		{Slug: "a", Host: "b"},
		{ID: "a b", Slug: "c"},
		{ID: "a", Slug: "b c"},
		{Meta: map[string]string{"k": "v l=w"}},
		{Tags: []string{"x", "y z"}},
		{Tags: []string{"x y", "z"}},
		{Slug: `a" "b`},
		{Tags: []string{"x"}},
		{Tags: []string{"x", "y"}},
		{Tags: []string{"x y"}},
		{Meta: map[string]string{"k": "v"}},
		{Meta: map[string]string{"k": "v", "l": "w"}},
		{Meta: map[string]string{"k=v": ""}},
		{Meta: map[string]string{"k": "=v"}},
		{Tags: []string{"meta"}},
		{Status: "Healthy"},
	}
	seen := map[string]int{}
	for i := range filters {
		k := instancesKey(&filters[i])
		if j, ok := seen[k]; ok {
			t.Fatalf("filters %d (%+v) and %d (%+v) share the key %q", j, filters[j], i, filters[i], k)
		}
		seen[k] = i
	}
	// The same filter has one key whatever order its meta map iterates in.
	m := map[string]string{}
	for i := range 20 {
		m[fmt.Sprint("k", i)] = fmt.Sprint(i)
	}
	want := instancesKey(&api.InstanceFilter{Meta: m})
	for range 10 {
		if got := instancesKey(&api.InstanceFilter{Meta: maps.Clone(m)}); got != want {
			t.Fatalf("the same filter got keys %q and %q", want, got)
		}
	}
}

// A list's answer is json.Marshal's bytes, whether the instances are
// written by hand or one of them sends the list to encoding/json.
func TestInstanceListIsJSONMarshal(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 2, 3, 4, time.UTC)
	row := func(i int) *api.Instance {
		return &api.Instance{ID: fmt.Sprint("inst-", i), URL: fmt.Sprint("http://10.0.0.1:8080/", i), Slug: "s", Port: 8080,
			Status: api.StatusHealthy, LastHeartbeat: at, StatusChangedAt: at, Tags: []string{"a", "b"},
			Meta: map[string]string{"z": "1", "a": "2"}, Check: &api.Check{Type: api.CheckHTTP, Path: "/h", Interval: api.Duration(time.Second)},
			CreateIndex: uint64(i), ModifyIndex: uint64(i + 1)}
	}
	var many instanceList
	for i := range 50 {
		many = append(many, row(i))
	}
	odd := slices.Clone(many)
	odd[7] = row(7)
	odd[7].Details = "<b>" // encoding/json escapes it: the whole list goes there
	for _, l := range []instanceList{nil, {}, {row(1)}, many, odd} {
		got, err := l.marshal()
		want, err2 := json.Marshal(gin.H{"instances": []*api.Instance(l)})
		if err != nil || err2 != nil || string(got) != string(want) {
			t.Fatalf("list of %d: %v %v\nhand %s\njson %s", len(l), err, err2, got, want)
		}
	}
}
