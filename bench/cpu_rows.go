package bench

import (
	"fmt"
	"os"
)

// writeCPU adds up where the machine's CPU went during the write row on
// each side: the three servers, and the load that drove them (this
// process for Roster, etcdload for etcd). On a machine whose cores the
// servers share with their load, a cheaper loader leaves the servers more
// of it; the servers' CPU a write is the figure that holds on machines of
// their own.
type writeCPU struct {
	ourServers, ourLoader, ourOps       float64
	theirServers, theirLoader, theirOps float64
}

// cpuNow is the CPU seconds the Roster servers and this process have
// taken so far.
func (s *suite) cpuNow() (servers, loader float64, err error) {
	for i := range s.pc.Size() {
		c, err := cpuSeconds(s.pc.PID(i))
		if err != nil {
			return 0, 0, err
		}
		servers += c
	}
	loader, err = cpuSeconds(os.Getpid())
	return servers, loader, err
}

func (w *writeCPU) addOurs(s *suite, servers, loader float64, ops int) error {
	servers2, loader2, err := s.cpuNow()
	if err != nil {
		return err
	}
	w.ourServers += servers2 - servers
	w.ourLoader += loader2 - loader
	w.ourOps += float64(ops)
	return nil
}

// cpu is the CPU seconds etcd's members have taken so far.
func (p *etcdPeer) cpu() (float64, error) {
	var sum float64
	for _, c := range p.procs {
		s, err := cpuSeconds(c.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

func (w *writeCPU) addTheirs(p *etcdPeer, members float64, r *etcdResult) error {
	members2, err := p.cpu()
	if err != nil {
		return err
	}
	w.theirServers += members2 - members
	w.theirLoader += p.loadCPU
	w.theirOps += float64(r.Ops)
	return nil
}

func (w writeCPU) String() string {
	per := func(cpu, ops float64) float64 {
		if ops == 0 {
			return 0
		}
		return cpu / ops * 1e6
	}
	return fmt.Sprintf("CPU a write: servers %.0f µs vs %.0f µs, load %.0f µs vs %.0f µs (etcdload)",
		per(w.ourServers, w.ourOps), per(w.theirServers, w.theirOps), per(w.ourLoader, w.ourOps), per(w.theirLoader, w.theirOps))
}
