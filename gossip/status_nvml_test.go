//go:build cgo

package gossip

import (
	"testing"
	"time"

	"github.com/rosterhq/roster/gossip/collect"
	"github.com/rosterhq/roster/gossip/resource"
	"github.com/rosterhq/roster/internal/nvmltest"
)

// An eight-GPU node sampled through go-nvml's DGX A100 mock gossips its
// inventory and usage, each in one packet, over encrypted gossip.
func TestDGXA100StatusOverEncryptedGossip(t *testing.T) {
	lib, _ := nvmltest.DGXA100()
	dgx := collect.NewWithNVML(collect.Options{DiskPath: t.TempDir()}, lib)
	defer dgx.Close()

	smp := dgx.Sample(t.Context())
	u, inv := splitSample("dgx-node-with-a-fairly-long-name-01", time.Now().UnixNano(), smp)
	u.Seq, u.Iv, inv.Ver = 123456789, 5000, 42
	for name, parts := range map[string]func() ([]part, error){"usage": u.parts, "inventory": inv.parts} {
		ps, err := parts()
		if err != nil || len(ps) != 1 || len(ps[0].b) > maxMsgSize {
			t.Fatalf("%s of 8 mock A100s: %d parts (%v)", name, len(ps), err)
		}
		t.Logf("%s of 8 mock A100s: %d bytes of %d", name, len(ps[0].b), maxMsgSize)
	}

	key := []byte("0123456789abcdef0123456789abcdef")
	const every = 300 * time.Millisecond
	a := startWith(t, "dgx", func(c *Config) { c.Sampler, c.StatusInterval, c.Keys = dgx, every, [][]byte{key} })
	defer a.Shutdown()
	b := startWith(t, "b", func(c *Config) {
		c.Keys, c.StatusInterval = [][]byte{key}, every
		c.Sampler = collect.New(collect.Options{DiskPath: t.TempDir()})
	})
	defer b.Shutdown()
	b.Join(t.Context(), []string{a.LocalAddr()})
	waitFor(t, "dgx's eight GPUs on b", func() bool {
		v, ok := b.Node("dgx")
		return ok && len(v.GPUs) == 8 && v.GPUs[7].Name != "" && v.GPUs[7].GPUUtilization == 70
	})
	v, _ := b.Node("dgx")
	g := v.GPUs[1]
	want := resource.GPU{ID: "http://dgx:11337:1", UUID: smp.GPUs[1].UUID, IntraNodeID: 1, Name: "Mock NVIDIA A100-SXM4-40GB",
		BusID: "00000000:08:00.0", Temperature: 31, PerformanceState: "P0", PowerUsage: 61.234, PowerCap: 400,
		MemoryUsage: 1024, MemoryTotal: 40960, GPUUtilization: 10, ComputeMode: "Default", CudaVersion: "12.4",
		ProcessDetails: []resource.Process{{PID: 101, ProcessName: "python3-101", MemoryUsage: 1024}}}
	if g.ID != want.ID || g.UUID != want.UUID || g.Name != want.Name || g.BusID != want.BusID || g.Temperature != want.Temperature ||
		g.PowerUsage != want.PowerUsage || g.PowerCap != want.PowerCap || g.MemoryUsage != want.MemoryUsage ||
		g.MemoryTotal != want.MemoryTotal || g.GPUUtilization != want.GPUUtilization || g.ComputeMode != want.ComputeMode ||
		g.CudaVersion != want.CudaVersion || g.PerformanceState != want.PerformanceState ||
		len(g.ProcessDetails) != 1 || g.ProcessDetails[0] != want.ProcessDetails[0] {
		t.Fatalf("GPU 1 on b:\n got %+v\nwant %+v", g, want)
	}
	if a.BadMessageCount()+b.BadMessageCount() != 0 {
		t.Fatal("status messages were refused")
	}
}
