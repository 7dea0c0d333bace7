// Package collect samples this machine's resources: CPU, memory and disk with
// gopsutil, NVIDIA GPUs with NVML. Sampler is what gossip calls on every
// status interval.
package collect

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/rosterhq/roster/gossip/resource"
)

// host samples CPU, memory and the disk holding a directory.
type host struct {
	diskPath string

	// CPU percent is computed from this sampler's own previous reading, not
	// from gopsutil's package-wide one, so that several agents in one
	// process (the test cluster) do not steal each other's intervals.
	mu       sync.Mutex
	lastBusy float64
	lastAll  float64
	cpus     int
}

func newHost(diskPath string) *host {
	h := &host{diskPath: diskPath}
	h.cpus, _ = cpu.Counts(true)
	if h.cpus <= 0 {
		h.cpus = runtime.NumCPU()
	}
	h.lastBusy, h.lastAll, _ = cpuTimes(context.Background())
	return h
}

func cpuTimes(ctx context.Context) (busy, all float64, err error) {
	ts, err := cpu.TimesWithContext(ctx, false)
	if err != nil || len(ts) == 0 {
		return 0, 0, fmt.Errorf("cpu times: %v", err)
	}
	t := ts[0]
	// Guest time is already counted in user time on Linux.
	all = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	return all - t.Idle - t.Iowait, all, nil
}

// sample reads the three figures; a figure that cannot be read stays zero
// and is reported in the error, the others are still returned.
func (h *host) sample(ctx context.Context) (resource.Usage, error) {
	var u resource.Usage
	var errs []error
	if busy, all, err := cpuTimes(ctx); err != nil {
		errs = append(errs, err)
	} else {
		h.mu.Lock()
		dBusy, dAll := busy-h.lastBusy, all-h.lastAll
		h.lastBusy, h.lastAll = busy, all
		h.mu.Unlock()
		u.CPU.Total = uint64(h.cpus)
		if dAll > 0 {
			u.CPU.Percent = round2(math.Min(100, math.Max(0, dBusy/dAll*100)))
			u.CPU.Used = uint64(math.Round(u.CPU.Percent / 100 * float64(h.cpus)))
		}
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("memory: %w", err))
	} else {
		u.Memory = resource.Amount{Used: vm.Used, Total: vm.Total, Percent: round2(vm.UsedPercent)}
	}
	if du, err := disk.UsageWithContext(ctx, h.diskPath); err != nil {
		errs = append(errs, fmt.Errorf("disk of %s: %w", h.diskPath, err))
	} else {
		u.Disk = resource.Amount{Used: du.Used, Total: du.Total, Percent: round2(du.UsedPercent)}
	}
	if len(errs) > 0 {
		return u, fmt.Errorf("%v", errs)
	}
	return u, nil
}

// round2 keeps two decimals: more is noise, and shorter numbers keep gossip
// messages small.
func round2(f float64) float64 { return math.Round(f*100) / 100 }
