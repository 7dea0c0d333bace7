package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummariseAndMedian(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarise(ds)
	if l.P50 != 50*time.Millisecond || l.P95 != 95*time.Millisecond || l.P99 != 99*time.Millisecond || l.Max != 100*time.Millisecond {
		t.Fatalf("percentiles %+v", l)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatalf("median %v", m)
	}
}

func TestLoadConfigIsValidated(t *testing.T) {
	for _, c := range []LoadConfig{
		{Addrs: []string{"http://a:1"}, Mode: "write", Clients: 1, Total: 1},
		{Addrs: []string{"a:1"}, Mode: ModeRegister, Clients: 1, Total: 1},
		{Addrs: []string{"http://a:1"}, Mode: ModeRegister, Clients: 0, Total: 1},
		{Addrs: []string{"http://a:1"}, Mode: ModeRegister, Clients: 1},
		{Addrs: []string{"http://a:1"}, Mode: ModeDeregister, Clients: 1, Duration: time.Second},
		{Addrs: []string{"http://a:1"}, Mode: ModeMixed, Clients: 1, Total: 1, ReadRatio: 2},
		{Addrs: []string{"http://a:1"}, Mode: ModeRegister, Clients: 1, Total: 1, Token: "t\r\nX-Admin: 1"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// A tiny `make bench` against real agent processes produces every row.
func TestSuiteProducesEveryRow(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "roster")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The etcd side, as `make bench` builds it (a module of its own).
	load := filepath.Join(filepath.Dir(bin), "etcdload")
	if out, err := exec.Command("go", "build", "-C", "etcdload", "-o", load, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build etcdload: %v\n%s", err, out)
	}
	peer := []string{"9a", "9b", "9c", "9d", "9e"}
	if _, err := exec.LookPath("etcd"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no etcd on PATH: .ci/run installs etcd-server for the rows beside etcd")
		}
		peer = []string{"9"} // the row that says why they were skipped
	}
	var log bytes.Buffer
	rows, err := Suite(t.Context(), SuiteOptions{Binary: bin, Scale: 0.01, Runs: 1, Kills: 1, GossipSizes: []int{4}, Log: &log})
	if err != nil {
		t.Fatalf("suite: %v\n%s", err, log.String())
	}
	want := []string{"1", "7a", "2a", "2b", "3a", "3b", "4", "4b", "4c", "5", "7d", "7e", "7f", "7b"}
	want = append(want, peer...)
	want = append(want, "8c", "8d", "8a", "8b", "6", "6b", "6c", "7c", "2b'", "3a'", "3b'", "2bᵗ", "3aᵗ", "3bᵗ")
	var got []string
	for _, r := range rows {
		got = append(got, r.ID)
		if r.Value == "" || strings.HasPrefix(r.Value, "0/s") || strings.HasPrefix(r.Value, "0 ms") || strings.Contains(r.Value, "etcd 0/s") {
			t.Errorf("row %s %q has no figure: %q", r.ID, r.Name, r.Value)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("rows %v, want %v", got, want)
	}
	var table bytes.Buffer
	PrintTable(&table, rows)
	if !strings.Contains(table.String(), "fsync ceiling") || !strings.Contains(table.String(), "first write through a survivor") {
		t.Fatalf("table:\n%s", table.String())
	}
}
