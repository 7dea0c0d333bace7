//go:build cgo

package collect

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"

	"github.com/rosterhq/roster/internal/nvmltest"
)

func TestDGXA100Mock(t *testing.T) {
	lib, inits := nvmltest.DGXA100()
	s := NewWithNVML(Options{DiskPath: t.TempDir()}, lib)
	defer s.Close()
	var got []string
	for range 3 {
		smp := s.Sample(context.Background())
		if len(smp.GPUs) != 8 || smp.DriverVersion != "550.54.15" {
			t.Fatalf("got %d GPUs, driver %q", len(smp.GPUs), smp.DriverVersion)
		}
		got = got[:0]
		for _, g := range smp.GPUs {
			got = append(got, fmt.Sprintf("%d %s %s %s %.0f %s %.3f %.0f %d/%d %.0f %s %s %v",
				g.IntraNodeID, g.UUID[:4], g.Name, g.BusID, g.Temperature, g.PerformanceState, g.PowerUsage,
				g.PowerCap, g.MemoryUsage, g.MemoryTotal, g.GPUUtilization, g.ComputeMode, g.CudaVersion, g.ProcessDetails))
		}
	}
	if *inits != 1 {
		t.Fatalf("NVML initialised %d times, want once", *inits)
	}
	want := []string{
		"0 GPU- Mock NVIDIA A100-SXM4-40GB 00000000:07:00.0 30 P0 61.234 400 0/40960 0 Default 12.4 []",
		"1 GPU- Mock NVIDIA A100-SXM4-40GB 00000000:08:00.0 31 P0 61.234 400 1024/40960 10 Default 12.4 [{101 python3-101 1024}]",
		"7 GPU- Mock NVIDIA A100-SXM4-40GB 00000000:0E:00.0 37 P0 61.234 400 7168/40960 70 Default 12.4 [{107 python3-107 7168}]",
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestNoNVMLMeansNoGPUs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	lib := &mock.Interface{
		InitFunc:        func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND },
		ErrorStringFunc: func(r nvml.Return) string { return "NVML Shared Library Not Found" },
	}
	s := NewWithNVML(Options{DiskPath: t.TempDir(), Logger: log}, lib)
	defer s.Close()
	for range 3 {
		if smp := s.Sample(context.Background()); len(smp.GPUs) != 0 || smp.Usage.Memory.Total == 0 {
			t.Fatalf("sample without NVML: %+v", smp)
		}
	}
	if n := strings.Count(buf.String(), "no NVIDIA GPUs"); n != 1 || !strings.Contains(buf.String(), "level=INFO") {
		t.Fatalf("want one info line about missing GPUs, got:\n%s", buf.String())
	}
}

func TestSystemNVMLWithoutDriverWorks(t *testing.T) {
	// On a machine with no NVIDIA driver this exercises the real library
	// loader's failure path; on a GPU machine it must find the GPUs.
	s := New(Options{DiskPath: t.TempDir()})
	defer s.Close()
	smp := s.Sample(context.Background())
	for _, g := range smp.GPUs {
		if g.Name == "" || g.MemoryTotal == 0 {
			t.Fatalf("real GPU with empty figures: %+v", g)
		}
	}
	t.Logf("system NVML: %d GPUs", len(smp.GPUs))
}
