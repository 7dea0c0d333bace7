package gossip

import (
	"fmt"
	"math"

	"github.com/rosterhq/roster/gossip/resource"
)

// Bounds on what a peer may send. They are generous for real machines and
// keep a broken or hostile peer from filling memory.
const (
	maxIDLen     = 128
	maxGPUs      = 64
	maxProcesses = 8
	maxText      = 96
)

// The wire forms use short keys: a node with eight GPUs must fit one UDP
// packet (see maxMsgSize).

// amount is resource.Amount on the wire.
type amount struct {
	U uint64  `json:"u"`
	T uint64  `json:"t"`
	P float64 `json:"p"`
}

type hostUsage struct {
	C amount `json:"c"`
	M amount `json:"m"`
	D amount `json:"d"`
}

type process struct {
	PID  int    `json:"p"`
	Name string `json:"n,omitempty"`
	Mem  int    `json:"m"`
}

// gpuUsage is what changes on a GPU from one sample to the next.
type gpuUsage struct {
	I      int       `json:"i"`
	Temp   float64   `json:"t"`
	PState string    `json:"s,omitempty"`
	Power  float64   `json:"w"`
	Mem    int       `json:"m"`
	Util   float64   `json:"u"`
	Procs  []process `json:"pr,omitempty"`
}

// usageMsg is one sample of a node, or the part of it holding GPUs O..;
// Host is in the part with O == 0. Samples are ordered by (Ep, Seq): Ep is
// the sending process's start time, so a restarted node's samples win.
type usageMsg struct {
	ID   string     `json:"id"`
	Ep   int64      `json:"ep"`
	Seq  uint64     `json:"sq"`
	At   int64      `json:"at"` // sample time, unix ms, the sender's clock
	Iv   int64      `json:"iv"` // sampling interval, ms
	O    int        `json:"o"`
	N    int        `json:"n"` // GPUs the node has
	Host *hostUsage `json:"h,omitempty"`
	G    []gpuUsage `json:"g,omitempty"`
}

// gpuInv is what rarely changes on a GPU. On the wire, name, memory, power
// cap and compute mode are left out where they equal the message's default
// (the GPUs of one machine are usually alike): eight full entries would not
// fit one packet.
type gpuInv struct {
	I    int     `json:"i"`
	UUID string  `json:"id,omitempty"`
	Bus  string  `json:"b,omitempty"`
	Name string  `json:"nm,omitempty"`
	Mem  int     `json:"m,omitempty"`
	Cap  float64 `json:"pc,omitempty"`
	Mode string  `json:"cm,omitempty"`
}

// compact leaves out what equals def.
func (g gpuInv) compact(def gpuInv) gpuInv {
	if g.Name == def.Name {
		g.Name = ""
	}
	if g.Mem == def.Mem {
		g.Mem = 0
	}
	if g.Cap == def.Cap {
		g.Cap = 0
	}
	if g.Mode == def.Mode {
		g.Mode = ""
	}
	return g
}

// expand fills in what compact left out.
func (g gpuInv) expand(def gpuInv) gpuInv {
	if g.Name == "" {
		g.Name = def.Name
	}
	if g.Mem == 0 {
		g.Mem = def.Mem
	}
	if g.Cap == 0 {
		g.Cap = def.Cap
	}
	if g.Mode == "" {
		g.Mode = def.Mode
	}
	return g
}

// inventoryMsg is a node's GPU inventory, or the part holding GPUs O...
// Versions are ordered by (Ep, Ver).
type inventoryMsg struct {
	ID     string `json:"id"`
	Ep     int64  `json:"ep"`
	Ver    uint64 `json:"v"`
	Cuda   string `json:"cu,omitempty"`
	Driver string `json:"dr,omitempty"`
	O      int    `json:"o"`
	N      int    `json:"n"`
	// D holds the default name, memory, power cap and compute mode of the
	// entries in G (its I and identifiers are unused).
	D *gpuInv  `json:"d,omitempty"`
	G []gpuInv `json:"g,omitempty"`
}

// stateMsg is push/pull state: the newest known status of every node, as
// the signed parts its nodes sent (a receiver checks each signature as if
// the part had come by gossip).
type stateMsg struct {
	Parts [][]byte `json:"p,omitempty"`
}

func (m usageMsg) validate() error {
	if err := checkID(m.ID); err != nil {
		return err
	}
	if m.Ep <= 0 || m.Seq == 0 || m.At <= 0 {
		return fmt.Errorf("usage of %s: epoch, sequence and time must be positive", m.ID)
	}
	if m.Iv < 100 || m.Iv > 3_600_000 {
		return fmt.Errorf("usage of %s: interval %d ms out of range", m.ID, m.Iv)
	}
	if err := checkParts(m.O, m.N, len(m.G)); err != nil {
		return fmt.Errorf("usage of %s: %w", m.ID, err)
	}
	if m.Host != nil {
		for _, a := range []amount{m.Host.C, m.Host.M, m.Host.D} {
			if !percent(a.P) {
				return fmt.Errorf("usage of %s: percent %v out of range", m.ID, a.P)
			}
		}
	}
	for _, g := range m.G {
		switch {
		case g.I < m.O || g.I >= m.N:
			return fmt.Errorf("usage of %s: GPU index %d outside part %d..%d", m.ID, g.I, m.O, m.N)
		case !percent(g.Util), !finite(g.Temp) || g.Temp < -100 || g.Temp > 300,
			!finite(g.Power) || g.Power < 0 || g.Power > 1e5, g.Mem < 0, len(g.PState) > 8:
			return fmt.Errorf("usage of %s: GPU %d figures out of range", m.ID, g.I)
		case len(g.Procs) > maxProcesses:
			return fmt.Errorf("usage of %s: GPU %d lists %d processes, at most %d", m.ID, g.I, len(g.Procs), maxProcesses)
		}
		for _, p := range g.Procs {
			if p.PID < 0 || p.Mem < 0 || len(p.Name) > maxText {
				return fmt.Errorf("usage of %s: GPU %d has a malformed process", m.ID, g.I)
			}
		}
	}
	return nil
}

func (m inventoryMsg) validate() error {
	if err := checkID(m.ID); err != nil {
		return err
	}
	if m.Ep <= 0 || m.Ver == 0 {
		return fmt.Errorf("inventory of %s: epoch and version must be positive", m.ID)
	}
	if len(m.Cuda) > maxText || len(m.Driver) > maxText {
		return fmt.Errorf("inventory of %s: version strings too long", m.ID)
	}
	if err := checkParts(m.O, m.N, len(m.G)); err != nil {
		return fmt.Errorf("inventory of %s: %w", m.ID, err)
	}
	all := m.G
	if m.D != nil {
		all = append([]gpuInv{{I: m.O, Name: m.D.Name, Mem: m.D.Mem, Cap: m.D.Cap, Mode: m.D.Mode}}, all...)
	}
	for _, g := range all {
		switch {
		case g.I < m.O || g.I >= m.N:
			return fmt.Errorf("inventory of %s: GPU index %d outside part %d..%d", m.ID, g.I, m.O, m.N)
		case g.Mem < 0, !finite(g.Cap) || g.Cap < 0 || g.Cap > 1e5:
			return fmt.Errorf("inventory of %s: GPU %d figures out of range", m.ID, g.I)
		case len(g.UUID) > maxText, len(g.Name) > maxText, len(g.Bus) > maxText, len(g.Mode) > maxText:
			return fmt.Errorf("inventory of %s: GPU %d strings too long", m.ID, g.I)
		}
	}
	return nil
}

func (m stateMsg) validate() error {
	for _, p := range m.Parts {
		if len(p) > maxMsgSize {
			return fmt.Errorf("state part of %d bytes exceeds %d", len(p), maxMsgSize)
		}
	}
	return nil
}

func checkParts(o, n, count int) error {
	if n < 0 || n > maxGPUs {
		return fmt.Errorf("%d GPUs, at most %d", n, maxGPUs)
	}
	if o < 0 || (n > 0 && o >= n) || (n == 0 && o != 0) || count > n-o {
		return fmt.Errorf("part at %d with %d GPUs of %d is inconsistent", o, count, n)
	}
	return nil
}

func finite(f float64) bool               { return !math.IsNaN(f) && !math.IsInf(f, 0) }
func percent(f float64) bool              { return finite(f) && f >= 0 && f <= 100 }
func wireAmount(a resource.Amount) amount { return amount{U: a.Used, T: a.Total, P: a.Percent} }
func (a amount) resource() resource.Amount {
	return resource.Amount{Used: a.U, Total: a.T, Percent: a.P}
}

// splitSample turns a sample into the usage and inventory wire forms (whole;
// chunk splits them for gossip).
func splitSample(id string, ep int64, s resource.Sample) (usageMsg, inventoryMsg) {
	u := usageMsg{ID: id, Ep: ep, At: s.At.UnixMilli(), N: len(s.GPUs), Host: &hostUsage{
		C: wireAmount(s.Usage.CPU), M: wireAmount(s.Usage.Memory), D: wireAmount(s.Usage.Disk),
	}}
	inv := inventoryMsg{ID: id, Ep: ep, Driver: s.DriverVersion, N: len(s.GPUs)}
	for i, g := range s.GPUs {
		if i >= maxGPUs {
			break
		}
		gu := gpuUsage{I: i, Temp: g.Temperature, PState: g.PerformanceState, Power: g.PowerUsage,
			Mem: g.MemoryUsage, Util: g.GPUUtilization}
		for j, p := range g.ProcessDetails {
			if j == maxProcesses {
				break
			}
			gu.Procs = append(gu.Procs, process{PID: p.PID, Name: clip(p.ProcessName), Mem: p.MemoryUsage})
		}
		u.G = append(u.G, gu)
		inv.Cuda = g.CudaVersion
		inv.G = append(inv.G, gpuInv{I: i, UUID: clip(g.UUID), Name: clip(g.Name), Bus: clip(g.BusID),
			Mem: g.MemoryTotal, Cap: g.PowerCap, Mode: clip(g.ComputeMode)})
	}
	u.N, inv.N = min(u.N, maxGPUs), min(inv.N, maxGPUs)
	return u, inv
}

func clip(s string) string {
	if len(s) > maxText {
		return s[:maxText]
	}
	return s
}

// sameInventory reports whether two inventories describe the same GPUs.
func sameInventory(a, b inventoryMsg) bool {
	if a.Cuda != b.Cuda || a.Driver != b.Driver || a.N != b.N || len(a.G) != len(b.G) {
		return false
	}
	for i := range a.G {
		if a.G[i] != b.G[i] {
			return false
		}
	}
	return true
}

// part is one encoded message of a sample or inventory split for gossip;
// off is the index of its first GPU.
type part struct {
	off int
	b   []byte
}

// chunk encodes parts of items, each as one message no larger than
// maxMsgSize with its signature: all of them at once when they fit, else
// halves, recursively.
func chunk[T any](items []T, off int, enc func(off int, part []T) ([]byte, error)) ([]part, error) {
	b, err := enc(off, items)
	if err != nil {
		return nil, err
	}
	if len(b)+maxSig <= maxMsgSize {
		return []part{{off, b}}, nil
	}
	if len(items) <= 1 {
		return nil, fmt.Errorf("one part of %d bytes exceeds the gossip limit of %d", len(b)+maxSig, maxMsgSize)
	}
	half := len(items) / 2
	first, err := chunk(items[:half], off, enc)
	if err != nil {
		return nil, err
	}
	rest, err := chunk(items[half:], off+half, enc)
	return append(first, rest...), err
}

// parts encodes a sample for gossip; the host figures go with the part
// at offset 0.
func (m usageMsg) parts() ([]part, error) {
	return chunk(m.G, 0, func(off int, g []gpuUsage) ([]byte, error) {
		p := m
		p.O, p.G = off, g
		if off != 0 {
			p.Host = nil
		}
		return encodeMsg(msgUsage, p)
	})
}

func (m inventoryMsg) parts() ([]part, error) {
	return chunk(m.G, 0, func(off int, g []gpuInv) ([]byte, error) {
		p := m
		p.O, p.G = off, compactAll(g)
		if len(g) > 0 {
			p.D = &gpuInv{Name: g[0].Name, Mem: g[0].Mem, Cap: g[0].Cap, Mode: g[0].Mode}
		}
		return encodeMsg(msgInventory, p)
	})
}

func compactAll(gs []gpuInv) []gpuInv {
	if len(gs) == 0 {
		return nil
	}
	out := make([]gpuInv, len(gs))
	for i, g := range gs {
		out[i] = g.compact(gs[0])
	}
	return out
}

// expanded returns the message with defaults filled into every GPU.
func (m inventoryMsg) expanded() inventoryMsg {
	if m.D == nil {
		return m
	}
	gs := make([]gpuInv, len(m.G))
	for i, g := range m.G {
		gs[i] = g.expand(*m.D)
	}
	m.G, m.D = gs, nil
	return m
}
