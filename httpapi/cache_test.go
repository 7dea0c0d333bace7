package httpapi

import "testing"

func TestListCacheKeepsOnlyTheCurrentIndex(t *testing.T) {
	lc := newListCache()
	g1, g2 := make(chan struct{}), make(chan struct{})
	lc.put(g1, 5, "a", []byte("five"))
	if b, ok := lc.get(g1, 5, "a"); !ok || string(b) != "five" {
		t.Fatalf("get at 5: %q %v", b, ok)
	}
	if _, ok := lc.get(g1, 6, "a"); ok {
		t.Fatal("an answer of index 5 served at 6")
	}
	lc.put(g1, 4, "b", []byte("four")) // older: ignored
	if _, ok := lc.get(g1, 4, "b"); ok {
		t.Fatal("an older index replaced a newer one")
	}
	lc.put(g1, 6, "a", []byte("six"))
	if _, ok := lc.get(g1, 5, "a"); ok {
		t.Fatal("index 5 kept after a write at 6")
	}
	if _, ok := lc.get(g2, 6, "a"); ok {
		t.Fatal("an answer served across a snapshot restore")
	}
	lc.put(g1, 6, "big", make([]byte, maxCacheBytes))
	if _, ok := lc.get(g1, 6, "big"); ok {
		t.Fatal("the size bound was not kept")
	}
}
