package collect

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestHostFiguresAreReal(t *testing.T) {
	s := New(Options{DiskPath: t.TempDir()})
	defer s.Close()
	// Burn a little CPU so the interval has something to measure.
	for x := 0; x < 5e7; x++ {
		_ = x * x
	}
	got := s.Sample(context.Background())
	u := got.Usage
	if u.CPU.Total == 0 || u.Memory.Total == 0 || u.Memory.Used == 0 || u.Disk.Total == 0 || u.Disk.Used == 0 {
		t.Fatalf("zero figures in %+v", u)
	}
	if u.Memory.Percent <= 0 || u.Memory.Percent > 100 || u.Disk.Percent <= 0 || u.Disk.Percent > 100 {
		t.Fatalf("percentages out of range: %+v", u)
	}
	if u.CPU.Percent < 0 || u.CPU.Percent > 100 || u.CPU.Used > u.CPU.Total {
		t.Fatalf("cpu out of range: %+v", u.CPU)
	}
	if got.At.IsZero() {
		t.Fatal("sample has no time")
	}
}

func TestMissingDiskPathIsReportedNotFatal(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s := New(Options{DiskPath: "/nonexistent/roster/path", Logger: log})
	defer s.Close()
	u := s.Sample(context.Background()).Usage
	u2 := s.Sample(context.Background()).Usage
	if u.Memory.Total == 0 || u2.Memory.Total == 0 {
		t.Fatal("memory lost because the disk path is bad")
	}
	if n := strings.Count(buf.String(), "resource sample incomplete"); n != 1 {
		t.Fatalf("the same failure was logged %d times, want once:\n%s", n, buf.String())
	}
}
