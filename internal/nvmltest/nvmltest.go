//go:build cgo

// Package nvmltest gives tests go-nvml's own DGX A100 mock, completed with
// the readings the mock leaves out. Only tests import it, so it never reaches
// the roster binary.
package nvmltest

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
)

// DGXA100 returns go-nvml's DGX A100 mock with the readings it leaves out
// (temperature, power, utilisation, processes...) filled in, so every
// field of the seed can be checked. The counter counts Init calls.
func DGXA100() (*dgxa100.Server, *int) {
	s := dgxa100.New()
	inits := new(int)
	s.InitFunc = func() nvml.Return { *inits++; return nvml.SUCCESS }
	s.SystemGetProcessNameFunc = func(pid int) (string, nvml.Return) {
		return fmt.Sprintf("/usr/bin/python3-%d", pid), nvml.SUCCESS
	}
	for i, dev := range s.Devices {
		d := dev.(*dgxa100.Device)
		d.MemoryInfo = nvml.Memory{Total: 40 << 30, Used: uint64(i) << 30}
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			var p nvml.PciInfo
			copy(p.BusId[:], fmt.Sprintf("00000000:%02X:00.0", i+7))
			return p, nvml.SUCCESS
		}
		d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return uint32(30 + i), nvml.SUCCESS }
		d.GetPerformanceStateFunc = func() (nvml.Pstates, nvml.Return) { return nvml.PSTATE_0, nvml.SUCCESS }
		d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 61234, nvml.SUCCESS }
		d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 400000, nvml.SUCCESS }
		d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: uint32(10 * i)}, nvml.SUCCESS
		}
		d.GetComputeModeFunc = func() (nvml.ComputeMode, nvml.Return) { return nvml.COMPUTEMODE_DEFAULT, nvml.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
			if i == 0 {
				return nil, nvml.SUCCESS
			}
			return []nvml.ProcessInfo{{Pid: uint32(100 + i), UsedGpuMemory: uint64(i) << 30}}, nvml.SUCCESS
		}
		d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	}
	return s, inits
}
