//go:build !cgo

package collect

import "log/slog"

// Without cgo there is no way to load NVML, so such a build has no GPUs.
func systemGPUs(log *slog.Logger) gpuSource {
	log.Info("no NVIDIA GPUs: this roster binary was built without cgo, which NVML needs")
	return nil
}
