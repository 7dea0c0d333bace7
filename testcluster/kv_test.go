package testcluster

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// The KV tree: written through a follower, read on every node, listed by
// prefix, compare-and-set on the modify index, blocking reads (also of a
// key that does not exist yet), validated keys and values, and carried by
// a backup.
func TestKVTreeReadsWritesCASAndBlocks(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	ctx := t.Context()
	f := follower(c)
	cl := c.Client(f)
	url := []byte("http://pc1:8000/api")
	e, err := cl.KVPut(ctx, "demi/lab42/felix/api/url", url, nil)
	if err != nil || e.CreateIndex == 0 || e.ModifyIndex != e.CreateIndex {
		t.Fatalf("put: %+v %v", e, err)
	}
	if _, err := cl.KVPut(ctx, "demi/lab42/felix/ui/url", []byte("http://pc1:3000"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.KVPut(ctx, "demi/other/x", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, i := range c.Running() {
		within(t, 5*time.Second, fmt.Sprintf("node %d has the key", i), func() error {
			got, _, err := c.Client(i).KVGet(ctx, "demi/lab42/felix/api/url", client.ListOptions{})
			if err != nil || !bytes.Equal(got.Value, url) {
				return fmt.Errorf("%+v %v", got, err)
			}
			return nil
		})
	}
	// Raw, lists and names.
	resp, body := do(t, http.MethodGet, c.Member(f).URL+"/registry-svc/kv/demi/lab42/felix/api/url?raw", "")
	if resp.StatusCode != 200 || body != string(url) || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("raw: HTTP %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	keys, _, err := cl.KVKeys(ctx, "demi/lab42/", client.ListOptions{})
	if err != nil || strings.Join(keys, " ") != "demi/lab42/felix/api/url demi/lab42/felix/ui/url" {
		t.Fatalf("keys: %v %v", keys, err)
	}
	all, _, err := cl.KVList(ctx, "", client.ListOptions{Consistent: true})
	if err != nil || len(all) != 3 {
		t.Fatalf("the whole tree: %v %v", all, err)
	}

	// Compare-and-set.
	zero := uint64(0)
	if _, err := cl.KVPut(ctx, "demi/lab42/felix/api/url", []byte("x"), &zero); statusOf(err) != http.StatusConflict {
		t.Fatalf("cas=0 on an existing key: %v", err)
	}
	stale := e.ModifyIndex
	e2, err := cl.KVPut(ctx, "demi/lab42/felix/api/url", []byte("http://pc2:8000/api"), &stale)
	if err != nil || e2.ModifyIndex <= stale || e2.CreateIndex != e.CreateIndex {
		t.Fatalf("cas at the modify index: %+v %v", e2, err)
	}
	if _, err := cl.KVPut(ctx, "demi/lab42/felix/api/url", []byte("y"), &stale); statusOf(err) != http.StatusConflict {
		t.Fatalf("cas at a stale index: %v", err)
	}
	if _, err := cl.KVDelete(ctx, "demi/lab42/felix/api/url", false, &stale); statusOf(err) != http.StatusConflict {
		t.Fatalf("delete at a stale index: %v", err)
	}

	// Blocking reads: of a key (wakes at its change) and of a key that
	// does not exist yet (wakes at its creation).
	type got struct {
		e   *api.KVEntry
		err error
	}
	changed, created := make(chan got, 1), make(chan got, 1)
	go func() {
		e, _, err := cl.KVGet(ctx, "demi/lab42/felix/api/url", client.ListOptions{Index: e2.ModifyIndex, Wait: time.Minute})
		changed <- got{e, err}
	}()
	_, missing, err := cl.KVGet(ctx, "demi/lab42/new", client.ListOptions{})
	if statusOf(err) != http.StatusNotFound || missing.Index == 0 {
		t.Fatalf("absent key: %v index %d", err, missing.Index)
	}
	go func() {
		// An absent key's index is the tree's: any write in the tree
		// wakes the read (404), and the client waits again from there.
		index := missing.Index
		for {
			e, m, err := cl.KVGet(ctx, "demi/lab42/new", client.ListOptions{Index: index, Wait: time.Minute})
			if statusOf(err) == http.StatusNotFound && m.Index > index {
				index = m.Index
				continue
			}
			created <- got{e, err}
			return
		}
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := c.Client(c.Leader()).KVPut(ctx, "demi/lab42/felix/api/url", []byte("v3"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client(c.Leader()).KVPut(ctx, "demi/lab42/new", []byte("here"), nil); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan got{"changed": changed, "created": created} {
		select {
		case g := <-ch:
			if g.err != nil || (string(g.e.Value) != "v3" && string(g.e.Value) != "here") {
				t.Fatalf("%s: %+v %v", name, g.e, g.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("the blocking read of a %s key did not wake", name)
		}
	}

	// Validation: each refusal names its field.
	base := c.Member(f).URL + "/registry-svc/kv/"
	for _, tc := range []struct{ method, path, body, field string }{
		{"PUT", "a//b", "x", "key"},
		{"PUT", "a/%2E%2E/b", "x", "key"},
		{"PUT", "a/b/", "x", "key"},
		{"PUT", "a%00b", "x", "key"},
		{"PUT", strings.Repeat("k", 513), "x", "key"},
		{"PUT", "a?cas=x", "x", "cas"},
		{"PUT", "big", strings.Repeat("v", 512<<10+1), "value"},
		{"GET", "a?keys&recurse", "", "keys"},
		{"DELETE", "a?cas=0", "", "cas"},
		{"DELETE", "a/?recurse&cas=3", "", "cas"},
	} {
		contentType := ""
		if tc.body != "" {
			contentType = "application/octet-stream"
		}
		resp, body := doType(t, tc.method, base+tc.path, tc.body, contentType)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"field":"`+tc.field+`"`) {
			t.Errorf("%s %s: HTTP %d %s (want 400 naming %s)", tc.method, tc.path, resp.StatusCode, clip([]byte(body)), tc.field)
		}
	}
	// A value over the limit is named by its own length, not by the limit
	// and one byte, which is all the node reads of it.
	if resp, body := doType(t, http.MethodPut, base+"bigger", strings.Repeat("v", 2<<20), "application/octet-stream"); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "is 2097152 bytes, the limit is 524288") {
		t.Errorf("a 2 MiB value: HTTP %d %s", resp.StatusCode, clip([]byte(body)))
	}
	// A text/plain body (which a web page could send) is refused.
	// The refusal names the types this route takes.
	if resp, body := doType(t, http.MethodPut, base+"a", "x", "text/plain"); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "must be application/json or application/octet-stream") {
		t.Errorf("text/plain value: HTTP %d %s", resp.StatusCode, clip([]byte(body)))
	}

	// A backup carries the tree; a restore brings back what was removed.
	backup, err := cl.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cl.KVDelete(ctx, "demi/", true, nil); err != nil || n != 4 {
		t.Fatalf("recursive delete: %d %v", n, err)
	}
	if _, err := cl.KVDelete(ctx, "demi/lab42/new", false, nil); statusOf(err) != http.StatusNotFound {
		t.Fatalf("delete of an absent key: %v", err)
	}
	if _, err := cl.RestoreSnapshot(ctx, backup); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "the restored tree on the follower", func() error {
		list, _, err := cl.KVList(context.Background(), "demi/", client.ListOptions{})
		if err != nil || len(list) != 4 {
			return fmt.Errorf("%d keys, %v", len(list), err)
		}
		return nil
	})
	st, err := cl.ClusterStatus(ctx)
	if err != nil || st.Catalog == nil || st.Catalog.KV != 4 {
		t.Fatalf("usage after the restore: %+v %v", st.Catalog, err)
	}
}
