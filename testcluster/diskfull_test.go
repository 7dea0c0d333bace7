package testcluster

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// mountTmpfs mounts a tmpfs of size at a new directory. It takes root:
// CI runs as root, and with CI=true a missing facility fails the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("mount a tmpfs (needs root): %v: %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the disk-full test must run)")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill leaves about keep bytes free on dir's filesystem, in one file.
func fill(t *testing.T, dir string, keep uint64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if free <= keep {
		t.Fatalf("only %d bytes free", free)
	}
	path := filepath.Join(dir, "filler")
	if err := os.WriteFile(path, make([]byte, free-keep), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A leader on a disk that fills up refuses writes with 507 disk_full and
// an alarm, keeps its leadership (no election loop), loses nothing it
// acknowledged, and takes writes again once space is freed.
func TestAFullDiskIsAStateNotAStorm(t *testing.T) {
	dir := mountTmpfs(t, "48m")
	c, err := Start(Options{Nodes: 1, Dir: dir, Logger: logger(t), Configure: func(_ int, cfg *node.Config) {
		cfg.DiskReserve = 4 << 20
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx := t.Context()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(0)
	st0, err := cl.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	filler := fill(t, dir, 6<<20) // 2 MiB above the reserve
	details := strings.Repeat("x", api.MaxTextLen)
	var acked []string
	var full *client.APIError
	for i := 0; i < 5000 && full == nil; i++ {
		in, err := cl.RegisterInstance(ctx, client.RegisterRequest{URL: fmt.Sprintf("http://10.7.%d.%d:80", i/250, i%250), Slug: "fill",
			Details: details, Check: &api.Check{Type: api.CheckNone}})
		var ae *client.APIError
		switch {
		case err == nil:
			acked = append(acked, in.ID)
		case errors.As(err, &ae) && ae.Status == http.StatusInsufficientStorage:
			if ae.Body.Code != api.CodeDiskFull {
				t.Fatalf("write %d: 507 with code %q", i, ae.Body.Code)
			}
			full = ae
		default:
			t.Fatalf("write %d: %v (want 201 or 507 disk_full)", i, err)
		}
	}
	if full == nil {
		t.Fatal("the disk never filled")
	}
	t.Logf("%d writes acknowledged, then: %s", len(acked), full.Body.Error)
	// The alarm holds, and so does the leadership: no election loop.
	time.Sleep(2 * time.Second)
	st, err := cl.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.DiskAlarm == nil || st.LeaderID != st.NodeID || st.Term != st0.Term {
		t.Fatalf("after the disk filled: alarm %+v, leader %q, term %d (was %d)", st.DiskAlarm, st.LeaderID, st.Term, st0.Term)
	}
	if _, err := cl.RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.8.0.1:80", Slug: "fill"}); !errors.As(err, &full) || full.Body.Code != api.CodeDiskFull {
		t.Fatalf("a write under the alarm: %v", err)
	}
	// Space returns: the alarm clears and writes resume.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "writes resume", func() error {
		in, err := cl.RegisterInstance(ctx, client.RegisterRequest{URL: "http://10.8.0.2:80", Slug: "fill"})
		if err == nil {
			acked = append(acked, in.ID)
		}
		return err
	})
	if st, err := cl.ClusterStatus(ctx); err != nil || st.DiskAlarm != nil {
		t.Fatalf("alarm after space returned: %v %+v", err, st.DiskAlarm)
	}
	rows, _, err := cl.ListInstances(ctx, api.InstanceFilter{Slug: "fill"}, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[r.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged %s is gone", id)
		}
	}
}
