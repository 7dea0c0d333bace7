package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/httpapi/client"
)

// A backup taken through one follower and restored through the other
// brings back exactly the saved catalog on every node, without taking any
// node's index back; damaged, truncated and foreign files change nothing.
func TestSnapshotSaveWipeRestore(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	ctx := t.Context()
	l := c.Leader()
	f1, f2 := (l+1)%3, (l+2)%3
	// No checks: a made-up address may accept connections where this runs
	// (CI's network did), and a probe moving a status after the save would
	// make the exact comparison below wrong for the wrong reason.
	var ids []string
	for i := range 10 {
		ids = append(ids, registerChecked(t, c, f1, client.RegisterRequest{URL: fmt.Sprintf("http://10.4.0.%d:80", i+1), Slug: "saved",
			Check: &api.Check{Type: api.CheckNone}}).ID)
	}
	backup, err := c.Client(f1).SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := httpapi.ParseBackup(backup)
	if err != nil || h.Index == 0 {
		t.Fatalf("backup: %v %+v", err, h)
	}
	saved := catalog(t, c)

	// The catalog moves on: some removed, some added.
	for _, id := range ids[:5] {
		if err := c.Client(f2).DeleteInstance(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 { // no checks either: a probe moving a status would read as a changed catalog
		registerChecked(t, c, f2, client.RegisterRequest{URL: fmt.Sprintf("http://10.4.1.%d:80", i+1), Slug: "later",
			Check: &api.Check{Type: api.CheckNone}})
	}
	changed := catalog(t, c)
	_, before, err := c.Client(l).ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Refused files change nothing.
	flipped := bytes.Clone(backup)
	flipped[len(flipped)/2] ^= 0x20
	for name, b := range map[string][]byte{
		"damaged":   flipped,
		"truncated": backup[:len(backup)*2/3],
		"foreign":   []byte(`{"instances": []}` + "\n"),
		"empty":     {},
	} {
		_, err := c.Client(f2).RestoreSnapshot(ctx, b)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Body.Field != "snapshot" {
			t.Errorf("%s file: %v, want 400 naming snapshot", name, err)
		}
	}
	// An upload that says it is larger than any backup is refused from its
	// length, before its body is read (this one sends no more until it
	// gives up).
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(quick, http.MethodPut, c.Member(f2).URL+"/registry-svc/snapshot",
		io.MultiReader(strings.NewReader("{\"roster\""), stallReader{quick}))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = httpapi.MaxBackupBytes + 1
	req.Header.Set("Content-Type", "application/x-ndjson")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("an upload past the bound: %v (want a 400 before its body is read)", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "is 536870913 bytes, the limit is 536870912") {
			t.Errorf("an upload past the bound: HTTP %d %s", resp.StatusCode, body)
		}
	}
	if got := catalog(t, c); got != changed {
		t.Fatalf("a refused restore changed the catalog")
	}

	if _, err := c.Client(f2).RestoreSnapshot(ctx, backup); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		within(t, 10*time.Second, fmt.Sprintf("node%d holds the saved catalog", i+1), func() error {
			rows, meta, err := c.Client(i).ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{})
			if err != nil {
				return err
			}
			if meta.Index <= before.Index {
				return fmt.Errorf("index %d, was %d before the restore", meta.Index, before.Index)
			}
			if got := digestOf(rows); got != saved {
				return fmt.Errorf("catalog:\n%s\nwant:\n%s", got, saved)
			}
			return nil
		})
	}
	// Every node starts again on its data after the restore (Raft leaves
	// a hole in the log at the restore's index, which the start-up check
	// must accept), and the cluster takes writes.
	for i := range 3 {
		if err := c.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := c.Restart(i); err != nil {
			t.Fatalf("node%d after the restore: %v", i+1, err)
		}
	}
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "the restored catalog after a full restart", func() error {
		// Statuses may have moved since (the checks run): rows are compared.
		if got := catalog(t, c); withoutStatus(got) != withoutStatus(saved) {
			return fmt.Errorf("catalog:\n%s\nwant:\n%s", got, saved)
		}
		return nil
	})
	register(t, c, f1, "http://10.4.2.1:80", "after")
}

func withoutStatus(digest string) string {
	for _, st := range api.Statuses {
		digest = strings.ReplaceAll(digest, " "+string(st)+";", ";")
		digest = strings.TrimSuffix(digest, " "+string(st))
	}
	return digest
}

// A backup of a cluster that had written more than the one it is restored
// into: Raft's log goes on past the backup's index, so the writes after
// the restore are applied everywhere (they were refused, 500, until the
// new cluster's log had caught up with the backup's index).
func TestARestoreIntoAYoungerClusterTakesWrites(t *testing.T) {
	ctx := t.Context()
	old := startCluster(t, Options{Nodes: 3})
	for i := range 40 {
		registerChecked(t, old, old.Leader(), client.RegisterRequest{URL: fmt.Sprintf("http://10.4.3.%d:80", i+1), Slug: "older",
			Check: &api.Check{Type: api.CheckNone}})
	}
	backup, err := old.Client(old.Leader()).SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := httpapi.ParseBackup(backup)
	if err != nil {
		t.Fatal(err)
	}
	old.Stop()

	c := startCluster(t, Options{Nodes: 3})
	if st := c.Agent(c.Leader()).Node.Status(); st.LastLogIndex >= h.Index {
		t.Fatalf("the new cluster's log is at %d, the backup's index %d: nothing to test", st.LastLogIndex, h.Index)
	}
	f := (c.Leader() + 1) % 3
	if _, err := c.Client(f).RestoreSnapshot(ctx, backup); err != nil {
		t.Fatal(err)
	}
	added := registerChecked(t, c, f, client.RegisterRequest{URL: "http://10.4.4.1:80", Slug: "after",
		Check: &api.Check{Type: api.CheckNone}})
	for i := range 3 {
		within(t, 10*time.Second, fmt.Sprintf("node%d holds the backup and the write after it", i+1), func() error {
			rows, meta, err := c.Client(i).ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{})
			if err != nil {
				return err
			}
			if len(rows) != 41 || meta.Index <= h.Index {
				return fmt.Errorf("%d instances at index %d, want 41 past the backup's %d", len(rows), meta.Index, h.Index)
			}
			for _, r := range rows {
				if r.ID == added.ID {
					return nil
				}
			}
			return fmt.Errorf("%s is missing", added.ID)
		})
	}
}

// stallReader sends nothing until its context ends.
type stallReader struct{ ctx context.Context }

func (s stallReader) Read([]byte) (int, error) {
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}
