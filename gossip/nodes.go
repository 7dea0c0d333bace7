package gossip

import (
	"strconv"
	"time"

	"github.com/rosterhq/roster/gossip/resource"
)

// suspectAfter is how many of a node's sampling intervals may pass without a
// new sample before an alive node is shown as suspect.
const suspectAfter = 3

// NodeView is one node as this member sees it: identity, liveness and the
// newest resource status that reached it.
type NodeView struct {
	Member
	// Status is resource.StatusAlive, StatusSuspect, StatusDead or StatusLeft.
	Status string
	// LastHeartbeat is when the node took its newest sample known here
	// (its own clock); zero before the first.
	LastHeartbeat time.Time
	Usage         resource.Usage
	GPUs          []resource.GPU
}

// Nodes returns every member with its status, sorted by node ID.
func (g *Gossip) Nodes() []NodeView {
	members := g.Members()
	out := make([]NodeView, 0, len(members))
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for _, m := range members {
		out = append(out, g.view(m, now))
	}
	return out
}

// Node returns one member's view by ID.
func (g *Gossip) Node(id string) (NodeView, bool) {
	m, ok := g.Member(id)
	if !ok {
		return NodeView{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.view(m, time.Now()), true
}

// view must be called with g.mu held.
func (g *Gossip) view(m Member, now time.Time) NodeView {
	v := NodeView{Member: m, Status: string(m.State), GPUs: []resource.GPU{}}
	st, ok := g.status[m.Name]
	if !ok {
		return v
	}
	if st.usage.Seq > 0 {
		v.LastHeartbeat = time.UnixMilli(st.usage.At)
		every := time.Duration(st.usage.Iv) * time.Millisecond
		if m.State == StateAlive && m.Name != g.id && now.Sub(st.recv) > suspectAfter*every {
			v.Status = resource.StatusSuspect
		}
	}
	if st.host != nil {
		v.Usage = resource.Usage{CPU: st.host.C.resource(), Memory: st.host.M.resource(), Disk: st.host.D.resource()}
	}
	n := st.usage.N
	if st.inv.Ver > 0 {
		n = st.inv.N
	}
	for i := range n {
		gpu := resource.GPU{ID: m.URL + ":" + strconv.Itoa(i), IntraNodeID: i, CudaVersion: st.inv.Cuda}
		if inv, ok := st.invGPUs[i]; ok {
			gpu.UUID, gpu.Name, gpu.BusID, gpu.MemoryTotal, gpu.PowerCap, gpu.ComputeMode =
				inv.UUID, inv.Name, inv.Bus, inv.Mem, inv.Cap, inv.Mode
		}
		if u, ok := st.gpus[i]; ok {
			gpu.Temperature, gpu.PerformanceState, gpu.PowerUsage, gpu.MemoryUsage, gpu.GPUUtilization =
				u.Temp, u.PState, u.Power, u.Mem, u.Util
			for _, p := range u.Procs {
				gpu.ProcessDetails = append(gpu.ProcessDetails, resource.Process{PID: p.PID, ProcessName: p.Name, MemoryUsage: p.Mem})
			}
		}
		v.GPUs = append(v.GPUs, gpu)
	}
	return v
}
