package gossip

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/gossip/collect"
	"github.com/rosterhq/roster/gossip/resource"
)

func sampleWithGPUs(n int, procs int) resource.Sample {
	s := resource.Sample{At: time.Now(), DriverVersion: "550.54.15", Usage: resource.Usage{
		CPU:    resource.Amount{Used: 37, Total: 128, Percent: 28.91},
		Memory: resource.Amount{Used: 812345651200, Total: 2164663517184, Percent: 37.53},
		Disk:   resource.Amount{Used: 1200000000000, Total: 7680000000000, Percent: 15.63},
	}}
	for i := range n {
		g := resource.GPU{IntraNodeID: i, UUID: "GPU-6f3e4c3a-8a39-4e2c-a4ee-9d2b1c4bf1a" + string(rune('0'+i%10)),
			Name: "NVIDIA H100 80GB HBM3", BusID: "00000000:1B:00.0", Temperature: 71, PerformanceState: "P0",
			PowerUsage: 612.34, PowerCap: 700, MemoryUsage: 79123, MemoryTotal: 81559, GPUUtilization: 100,
			ComputeMode: "Exclusive_Process", CudaVersion: "12.4"}
		for p := range procs {
			g.ProcessDetails = append(g.ProcessDetails, resource.Process{PID: 4000000 + p, ProcessName: strings.Repeat("p", 32), MemoryUsage: 9000})
		}
		s.GPUs = append(s.GPUs, g)
	}
	return s
}

// bare is a Gossip without memberlist, for feeding messages by hand.
func bare(id string) *Gossip {
	g := &Gossip{id: id, log: slog.New(slog.DiscardHandler), members: map[string]*Member{}, status: map[string]*nodeStatus{},
		leaving: map[string]bool{}, forgetting: map[string]time.Time{}}
	g.initQueues(4)
	return g
}

func TestEightGPUsFitOneGossipPacket(t *testing.T) {
	u, inv := splitSample(strings.Repeat("n", 64), time.Now().UnixNano(), sampleWithGPUs(8, 1))
	u.Seq, u.Iv, inv.Ver = 1<<40, 5000, 1<<40
	for name, parts := range map[string]func() ([]part, error){"usage": u.parts, "inventory": inv.parts} {
		ps, err := parts()
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || len(ps[0].b) > maxMsgSize {
			t.Fatalf("%s with 8 GPUs: %d parts, first %d bytes (limit %d)", name, len(ps), len(ps[0].b), maxMsgSize)
		}
		t.Logf("%s with 8 GPUs and a 64-byte node ID: %d bytes of %d", name, len(ps[0].b), maxMsgSize)
	}
}

func TestLargeStatusIsSplitAndReassembled(t *testing.T) {
	smp := sampleWithGPUs(24, maxProcesses)
	u, inv := splitSample("big", 7, smp)
	u.Seq, u.Iv, inv.Ver = 3, 5000, 2
	up, err := u.parts()
	if err != nil {
		t.Fatal(err)
	}
	ip, err := inv.parts()
	if err != nil {
		t.Fatal(err)
	}
	if len(up) < 2 || len(ip) < 2 {
		t.Fatalf("24 GPUs should need several parts: usage %d, inventory %d", len(up), len(ip))
	}
	g := bare("me")
	g.members["big"] = &Member{Name: "big", State: StateAlive, Meta: Meta{URL: "http://big:1"}}
	// Parts arrive in any order, some twice; every one must fit a packet.
	all := append(append([]part{}, up...), ip...)
	all = append(all, all[0], all[len(all)-1])
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, p := range all {
		if len(p.b) > maxMsgSize {
			t.Fatalf("part of %d bytes", len(p.b))
		}
		(&delegate{g: g}).NotifyMsg(p.b)
	}
	if g.BadMessageCount() != 0 {
		t.Fatal("own parts were refused")
	}
	v, _ := g.Node("big")
	if len(v.GPUs) != 24 || v.Usage.Memory.Total != smp.Usage.Memory.Total {
		t.Fatalf("reassembled %d GPUs, usage %+v", len(v.GPUs), v.Usage)
	}
	for i, gpu := range v.GPUs {
		if gpu.Name != smp.GPUs[i].Name || gpu.MemoryUsage != 79123 || len(gpu.ProcessDetails) != maxProcesses ||
			gpu.ID != "http://big:1:"+string(rune('0'+i%10)) && i < 10 {
			t.Fatalf("GPU %d reassembled as %+v", i, gpu)
		}
	}
}

func TestNewestSampleWins(t *testing.T) {
	st := newNodeStatus()
	msg := func(ep int64, seq uint64, cpu float64) usageMsg {
		return usageMsg{ID: "a", Ep: ep, Seq: seq, At: 1, Iv: 1000, Host: &hostUsage{C: amount{P: cpu}}}
	}
	now := time.Now()
	steps := []struct {
		m       usageMsg
		changed bool
		cpu     float64
	}{
		{msg(10, 5, 50), true, 50},
		{msg(10, 4, 40), false, 50}, // older sample
		{msg(10, 5, 55), false, 50}, // duplicate of what we have
		{msg(10, 6, 60), true, 60},
		{msg(11, 1, 11), true, 11}, // restarted node: new epoch wins over a higher seq
		{msg(10, 99, 99), false, 11},
	}
	for i, s := range steps {
		if got := st.applyUsage(s.m, now); got != s.changed || st.host.C.P != s.cpu {
			t.Fatalf("step %d: changed=%v cpu=%v, want %v %v", i, got, st.host.C.P, s.changed, s.cpu)
		}
	}
}

func TestStatusDecodingRefusesGarbage(t *testing.T) {
	good := usageMsg{ID: "a", Ep: 1, Seq: 1, At: 1, Iv: 1000, N: 1, Host: &hostUsage{}, G: []gpuUsage{{I: 0, Util: 50}}}
	bad := map[string]func(m *usageMsg){
		"no id":         func(m *usageMsg) { m.ID = "" },
		"long id":       func(m *usageMsg) { m.ID = strings.Repeat("x", 200) },
		"zero seq":      func(m *usageMsg) { m.Seq = 0 },
		"interval":      func(m *usageMsg) { m.Iv = 5 },
		"gpu index":     func(m *usageMsg) { m.G[0].I = 3 },
		"too many gpus": func(m *usageMsg) { m.N = 1000 },
		"util":          func(m *usageMsg) { m.G[0].Util = 250 },
		"cpu percent":   func(m *usageMsg) { m.Host.C.P = -1 },
		"offset":        func(m *usageMsg) { m.O = 1 },
		"processes":     func(m *usageMsg) { m.G[0].Procs = make([]process, 20) },
	}
	for name, edit := range bad {
		m := good
		m.Host = &hostUsage{}
		m.G = []gpuUsage{good.G[0]}
		edit(&m)
		b, _ := encodeMsg(msgUsage, m)
		if _, _, err := decodeMsg(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	b, _ := encodeMsg(msgUsage, good)
	if _, _, err := decodeMsg(b); err != nil {
		t.Fatalf("good message refused: %v", err)
	}
	for _, raw := range []string{`{"id":"a","ep":1,"v":1,"n":-1}`, `{"id":"a","ep":1,"v":1,"n":2,"g":[{"i":0,"pc":-5}]}`, `{"id":"a"`, `[]`} {
		if _, _, err := decodeMsg(append([]byte{byte(msgInventory)}, raw...)); err == nil {
			t.Errorf("inventory %s accepted", raw)
		}
	}
	// Random bytes after every message type never panic.
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		if len(b) > 0 {
			b[0] = byte(r.IntN(7))
		}
		decodeMsg(b)
	}
}

func FuzzDecodeMsg(f *testing.F) {
	for _, m := range []any{
		usageMsg{ID: "a", Ep: 1, Seq: 1, At: 1, Iv: 1000, N: 1, Host: &hostUsage{}, G: []gpuUsage{{I: 0}}},
		inventoryMsg{ID: "a", Ep: 1, Ver: 1, N: 1, G: []gpuInv{{I: 0, Name: "x"}}},
		leaveMsg{ID: "a"},
	} {
		b, _ := json.Marshal(m)
		for t := range 6 {
			f.Add(append([]byte{byte(t)}, b...))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g := bare("me")
		g.members["a"] = &Member{Name: "a"}
		if _, _, err := decodeMsg(b); err == nil && len(b) > maxStateSize {
			t.Fatal("oversized message decoded")
		}
		g.mergeState(b)
		g.Nodes()
	})
}

func TestStatusReachesEveryMember(t *testing.T) {
	const every = 300 * time.Millisecond
	var gs []*Gossip
	for _, id := range []string{"a", "b", "c", "d"} {
		id := id
		gs = append(gs, startWith(t, id, func(c *Config) {
			c.Sampler = collect.New(collect.Options{DiskPath: t.TempDir()})
			c.StatusInterval = every
		}))
	}
	defer func() {
		for _, g := range gs {
			g.Shutdown()
		}
		waitFor(t, "sampling goroutines to stop", func() bool {
			buf := make([]byte, 1<<20)
			return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "publishStatus")
		})
	}()
	for _, g := range gs[1:] {
		g.Join(t.Context(), []string{gs[0].LocalAddr()})
	}
	waitFor(t, "every member's figures on every member", func() bool {
		for _, g := range gs {
			nodes := g.Nodes()
			if len(nodes) != 4 {
				return false
			}
			for _, n := range nodes {
				if n.Status != resource.StatusAlive || n.Usage.CPU.Total == 0 || n.Usage.Memory.Used == 0 ||
					n.Usage.Disk.Total == 0 || n.LastHeartbeat.IsZero() || len(n.GPUs) != 0 {
					return false
				}
			}
		}
		return true
	})
	// A newer sample of "a" reaches the others within two intervals of
	// being taken.
	for range 3 {
		self, _ := gs[0].Node("a")
		deadline := self.LastHeartbeat.Add(2 * every)
		for _, g := range gs[1:] {
			waitFor(t, "a's sample on "+g.id, func() bool {
				v, _ := g.Node("a")
				return !v.LastHeartbeat.Before(self.LastHeartbeat)
			})
		}
		if late := time.Since(deadline); late > 0 {
			t.Logf("a's sample reached all members %v after two intervals", late)
		}
		time.Sleep(every)
	}
	// Killed without leave: dead everywhere; forgotten: gone everywhere.
	gs[3].Shutdown()
	for _, g := range gs[:3] {
		waitFor(t, "d dead on "+g.id, func() bool { v, ok := g.Node("d"); return ok && v.Status == resource.StatusDead })
	}
	if err := gs[1].Forget("d"); err != nil {
		t.Fatal(err)
	}
	for _, g := range gs[:3] {
		waitFor(t, "d forgotten on "+g.id, func() bool { _, ok := g.Node("d"); return !ok })
	}
	if err := gs[1].Forget("a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * every)
	if _, ok := gs[2].Node("a"); !ok {
		t.Fatal("a live member was forgotten")
	}
}
