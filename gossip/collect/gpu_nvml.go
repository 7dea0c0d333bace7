//go:build cgo

package collect

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/rosterhq/roster/gossip/resource"
)

// maxProcessesPerGPU bounds what one GPU reports, largest users first: the
// list travels by gossip and must stay small.
const maxProcessesPerGPU = 8

// nvmlGPUs reads GPUs through an initialised NVML library.
type nvmlGPUs struct {
	lib     nvml.Interface
	devices []nvml.Device
	driver  string
	cuda    string
	log     *slog.Logger
}

// NewWithNVML is New with a given NVML library, such as go-nvml's own mocks.
func NewWithNVML(opts Options, lib nvml.Interface) *Sampler {
	return newSampler(opts, func(log *slog.Logger) gpuSource { return openNVML(lib, log) })
}

func systemGPUs(log *slog.Logger) gpuSource { return openNVML(nvml.New(), log) }

// openNVML initialises NVML once. No library or no GPU is not an error: the
// node simply has no GPUs, and says so once at info level.
func openNVML(lib nvml.Interface, log *slog.Logger) gpuSource {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		log.Info("no NVIDIA GPUs: NVML is not available", "reason", errString(lib, ret))
		return nil
	}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS || n == 0 {
		log.Info("no NVIDIA GPUs: NVML found none", "reason", errString(lib, ret))
		lib.Shutdown()
		return nil
	}
	g := &nvmlGPUs{lib: lib, log: log}
	for i := range n {
		d, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			log.Warn("GPU skipped: no handle", "index", i, "reason", errString(lib, ret))
			continue
		}
		g.devices = append(g.devices, d)
	}
	if v, ret := lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		g.driver = v
	}
	if v, ret := lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS && v > 0 {
		g.cuda = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	log.Info("NVIDIA GPUs found", "count", len(g.devices), "driver", g.driver, "cuda", g.cuda)
	return g
}

func errString(lib nvml.Interface, ret nvml.Return) string {
	if ret == nvml.SUCCESS {
		return "count is 0"
	}
	return lib.ErrorString(ret)
}

func (g *nvmlGPUs) close() { g.lib.Shutdown() }

// sample reads every GPU. A figure a board does not support (power on some
// cards, for instance) stays zero; the rest of the GPU is still reported.
func (g *nvmlGPUs) sample() ([]resource.GPU, string) {
	out := make([]resource.GPU, 0, len(g.devices))
	for i, d := range g.devices {
		gpu := resource.GPU{IntraNodeID: i, CudaVersion: g.cuda, PerformanceState: "Unknown"}
		if idx, ret := d.GetIndex(); ret == nvml.SUCCESS {
			gpu.IntraNodeID = idx
		}
		if v, ret := d.GetUUID(); ret == nvml.SUCCESS {
			gpu.UUID = v
		}
		if v, ret := d.GetName(); ret == nvml.SUCCESS {
			gpu.Name = v
		}
		if p, ret := d.GetPciInfo(); ret == nvml.SUCCESS {
			gpu.BusID = cString(p.BusId[:])
		}
		if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			gpu.MemoryTotal, gpu.MemoryUsage = mib(m.Total), mib(m.Used)
		}
		if v, ret := d.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
			gpu.Temperature = float64(v)
		}
		if p, ret := d.GetPerformanceState(); ret == nvml.SUCCESS && p != nvml.PSTATE_UNKNOWN {
			gpu.PerformanceState = fmt.Sprintf("P%d", p)
		}
		if v, ret := d.GetPowerUsage(); ret == nvml.SUCCESS {
			gpu.PowerUsage = float64(v) / 1000
		}
		if v, ret := d.GetEnforcedPowerLimit(); ret == nvml.SUCCESS {
			gpu.PowerCap = float64(v) / 1000
		}
		if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
			gpu.GPUUtilization = float64(u.Gpu)
		}
		if m, ret := d.GetComputeMode(); ret == nvml.SUCCESS {
			gpu.ComputeMode = computeMode(m)
		}
		gpu.ProcessDetails = g.processes(d)
		out = append(out, gpu)
	}
	return out, g.driver
}

// processes lists compute and graphics processes, the largest first.
func (g *nvmlGPUs) processes(d nvml.Device) []resource.Process {
	var infos []nvml.ProcessInfo
	if ps, ret := d.GetComputeRunningProcesses(); ret == nvml.SUCCESS {
		infos = append(infos, ps...)
	}
	if ps, ret := d.GetGraphicsRunningProcesses(); ret == nvml.SUCCESS {
		infos = append(infos, ps...)
	}
	seen := map[uint32]bool{}
	var out []resource.Process
	for _, p := range infos {
		if seen[p.Pid] {
			continue
		}
		seen[p.Pid] = true
		name, ret := g.lib.SystemGetProcessName(int(p.Pid))
		if ret != nvml.SUCCESS {
			name = ""
		}
		out = append(out, resource.Process{PID: int(p.Pid), ProcessName: baseName(name), MemoryUsage: mib(p.UsedGpuMemory)})
	}
	slices.SortFunc(out, func(a, b resource.Process) int { return b.MemoryUsage - a.MemoryUsage })
	if len(out) > maxProcessesPerGPU {
		out = out[:maxProcessesPerGPU]
	}
	return out
}

// mib converts bytes to MiB; NVML reports "not available" as all ones.
func mib(b uint64) int {
	if b >= 1<<62 {
		return 0
	}
	return int(b >> 20)
}

func cString(b []uint8) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// baseName keeps the program name of a process path: the full command line
// is neither needed nor small.
func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if len(p) > 32 {
		p = p[:32]
	}
	return p
}

// computeMode uses nvidia-smi's names, which the seed shows.
func computeMode(m nvml.ComputeMode) string {
	switch m {
	case nvml.COMPUTEMODE_DEFAULT:
		return "Default"
	case nvml.COMPUTEMODE_EXCLUSIVE_THREAD:
		return "Exclusive_Thread"
	case nvml.COMPUTEMODE_PROHIBITED:
		return "Prohibited"
	case nvml.COMPUTEMODE_EXCLUSIVE_PROCESS:
		return "Exclusive_Process"
	}
	return fmt.Sprintf("Unknown(%d)", m)
}
