package collect

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rosterhq/roster/gossip/resource"
)

// Options configures a Sampler.
type Options struct {
	// DiskPath is a directory whose file system's use is reported (the
	// node's data dir). Required.
	DiskPath string
	Logger   *slog.Logger
}

// gpuSource is an opened GPU library.
type gpuSource interface {
	sample() (gpus []resource.GPU, driver string)
	close()
}

// Sampler reads this machine's resources. NVML is opened once, when the
// Sampler is made, and closed by Close.
type Sampler struct {
	host *host
	gpus gpuSource
	log  *slog.Logger

	mu      sync.Mutex
	lastErr string
}

// New returns a Sampler of this machine, with the system's NVML library when
// there is one.
func New(opts Options) *Sampler { return newSampler(opts, systemGPUs) }

func newSampler(opts Options, open func(*slog.Logger) gpuSource) *Sampler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{host: newHost(opts.DiskPath), gpus: open(opts.Logger), log: opts.Logger}
}

// Sample takes one reading. Figures that cannot be read are zero; the
// failure is logged once per distinct error rather than every interval.
func (s *Sampler) Sample(ctx context.Context) resource.Sample {
	u, err := s.host.sample(ctx)
	s.noteErr(err)
	out := resource.Sample{At: time.Now(), Usage: u}
	if s.gpus != nil {
		out.GPUs, out.DriverVersion = s.gpus.sample()
	}
	return out
}

func (s *Sampler) noteErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg != s.lastErr && msg != "" {
		s.log.Warn("resource sample incomplete", "err", msg)
	}
	s.lastErr = msg
}

// Close releases NVML.
func (s *Sampler) Close() {
	if s.gpus != nil {
		s.gpus.close()
	}
}
