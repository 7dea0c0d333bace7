package testcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/httpapi/client"
)

// The attacks of an outsider on the same network, replayed against a
// cluster started the production way (agent processes with TLS and a gossip
// key, as `roster testcluster up` runs them). Each must be refused and leave
// the catalog, the Raft configuration and the term as they were.
func TestAttacksOnASecureCluster(t *testing.T) {
	bin := buildRoster(t)
	base := mustFreeBase(t, 9)
	c, err := StartProcesses(ProcOptions{Binary: bin, Nodes: 3, Dir: t.TempDir(), BasePort: base,
		Args: []string{"--check-interval", "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	// An instance node1 checks: on a dead port, it turns Unhealthy only if
	// node1 keeps checking it.
	victim, err := c.Client(0).RegisterInstance(ctx, client.RegisterRequest{URL: "http://127.0.0.1:1", Slug: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	gossipAddr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(base+3*i+1) }
	raftAddr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(base+3*i+2) }
	key, err := c.PKI().Key()
	if err != nil {
		t.Fatal(err)
	}
	before := observe(ctx, t, c)

	t.Run("raft RPCs without a node certificate of the CA", func(t *testing.T) {
		other, err := MakePKI(filepath.Join(t.TempDir(), "pki"), []string{"node1"})
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := other.Bundle("node1")
		if err != nil {
			t.Fatal(err)
		}
		opCert, opKey := c.PKI().Operator()
		operator, err := tls.LoadX509KeyPair(opCert, opKey)
		if err != nil {
			t.Fatal(err)
		}
		for name, tc := range map[string]*tls.Config{
			"plain TCP":                        nil,
			"TLS without a certificate":        {InsecureSkipVerify: true},
			"a node certificate of another CA": {Certificates: []tls.Certificate{stranger.Cert}, InsecureSkipVerify: true},
			"an operator's client certificate": {Certificates: []tls.Certificate{operator}, InsecureSkipVerify: true},
		} {
			if err := forgeAppendEntries(before.status, raftAddr(1), tc); err == nil {
				t.Errorf("%s: node2 answered a forged AppendEntries", name)
			}
		}
		same(ctx, t, c, before)
	})

	t.Run("a gossip member without the key", func(t *testing.T) {
		ml := rogue(t, "rogue-nokey", nil, nil)
		if _, err := ml.Join([]string{gossipAddr(0), gossipAddr(1)}); err == nil {
			t.Error("a member without the gossip key joined")
		}
		time.Sleep(2 * time.Second)
		notMember(ctx, t, c, "rogue-nokey")
		same(ctx, t, c, before)
	})

	t.Run("a key holder without a certificate asking to become a server", func(t *testing.T) {
		ln := listen(t)
		meta := encodeMeta(t, gossip.Meta{ID: "rogue", URL: "https://127.0.0.1:1", RaftAddr: ln.Addr().String()})
		ml := rogue(t, "rogue", key, meta)
		if _, err := ml.Join([]string{gossipAddr(0)}); err != nil {
			t.Fatal(err)
		}
		// Long enough to be added (reconcile every 2 s) and promoted (3 s).
		time.Sleep(8 * time.Second)
		same(ctx, t, c, before)
		// Nor does it take a share of the health checks: instances that no
		// node names are spread over the members by rendezvous hashing,
		// and the rogue, a member, would never check its share.
		var ids []string
		for k := range 12 {
			in, err := c.Client(k%3).RegisterInstance(ctx, client.RegisterRequest{
				URL: fmt.Sprintf("http://127.0.0.1:%d", 2+k), Slug: "unowned", NodeURL: "https://10.255.255.1:1"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, in.ID)
		}
		if err := Eventually(ctx, func() error {
			ins, _, err := c.Client(0).ListInstances(ctx, api.InstanceFilter{Slug: "unowned"}, client.ListOptions{})
			if err != nil {
				return err
			}
			for _, in := range ins {
				if in.Status != api.StatusUnhealthy {
					return fmt.Errorf("%s is %s: nobody checks it", in.ID, in.Status)
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		for _, id := range ids {
			if err := c.Client(0).DeleteInstance(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		leaveRogue(ml)
	})

	t.Run("a certificate of another node at a stopped voter's place", func(t *testing.T) {
		if err := c.Terminate(2, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		// node9 is a real certificate of this CA; the impostor serves it on
		// a Raft address of its own and gossips as node3 from node3's
		// gossip address (so memberlist lets it reclaim the name at once).
		p9, err := MakePKI(c.PKI().Dir, []string{"node9"})
		if err != nil {
			t.Fatal(err)
		}
		b9, err := p9.Bundle("node9")
		if err != nil {
			t.Fatal(err)
		}
		ln := tls.NewListener(listen(t), b9.RaftServer())
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(io.Discard, conn); conn.Close() }()
			}
		}()
		meta := encodeMeta(t, gossip.Meta{ID: "node3", URL: "https://127.0.0.1:" + strconv.Itoa(base+6), RaftAddr: ln.Addr().String()})
		ml := rogueAt(t, "node3", key, meta, base+7)
		if _, err := ml.Join([]string{gossipAddr(0)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8 * time.Second)
		st := status(ctx, t, c, 0)
		for _, s := range st.Servers {
			if s.ID == "node3" && s.Address != raftAddr(2) {
				t.Errorf("node3 was re-addressed to the impostor's %s", s.Address)
			}
		}
		leaveRogue(ml)
		if err := c.Restart(2); err != nil {
			t.Fatal(err)
		}
		if err := Eventually(ctx, func() error {
			st, err := c.Client(2).ClusterStatus(ctx)
			if err != nil {
				return err
			}
			if st.LeaderID == "" || st.AppliedIndex < before.status.AppliedIndex {
				return fmt.Errorf("node3 back: leader %q, applied %d", st.LeaderID, st.AppliedIndex)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		before = observe(ctx, t, c)
	})

	t.Run("forged usage and far-future epochs from a key holder", func(t *testing.T) {
		ml := rogue(t, "forger", key, encodeMeta(t, gossip.Meta{ID: "forger", URL: "https://127.0.0.1:2", RaftAddr: "127.0.0.1:3"}))
		if _, err := ml.Join([]string{gossipAddr(0)}); err != nil {
			t.Fatal(err)
		}
		for _, ep := range []int64{time.Now().UnixNano(), math.MaxInt64} {
			inv := fmt.Sprintf(`{"id":"node1","ep":%d,"v":%d,"n":8,"d":{"nm":"H100 (FORGED)","m":81559},"g":[{"i":0},{"i":1},{"i":2},{"i":3},{"i":4},{"i":5},{"i":6},{"i":7}]}`, ep, math.MaxInt32)
			use := fmt.Sprintf(`{"id":"node1","ep":%d,"sq":%d,"at":%d,"iv":5000,"o":0,"n":8,"g":[{"i":0,"t":40,"w":70,"m":0,"u":0}]}`, ep, math.MaxInt32, time.Now().UnixMilli())
			for _, sig := range [][]byte{nil, randomBytes(64)} {
				for _, msg := range [][]byte{envelope(3, sig, inv), envelope(2, sig, use)} {
					for _, m := range ml.Members() {
						if m.Name != "forger" {
							_ = ml.SendReliable(m, msg)
						}
					}
				}
			}
		}
		time.Sleep(2 * time.Second)
		for i := range 3 {
			nodes, err := c.Client(i).ListNodes(ctx, client.ListNodesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				if n.ID == "node1" && len(n.GPUs) > 0 {
					t.Errorf("node%d lists %d GPUs on node1 (%s)", i+1, len(n.GPUs), n.GPUs[0].Name)
				}
			}
		}
		leaveRogue(ml)
		same(ctx, t, c, before)
	})

	t.Run("a node ID with control characters", func(t *testing.T) {
		name := "evil\n[ERR] raft: forged record"
		ml := rogue(t, name, key, nil)
		_, _ = ml.Join([]string{gossipAddr(0)})
		time.Sleep(2 * time.Second)
		notMember(ctx, t, c, name)
		for i := range 3 {
			raw, err := os.ReadFile(c.LogPath(i))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(raw), "\n") {
				if strings.HasPrefix(line, "[ERR] raft: forged") {
					t.Errorf("node%d's log has a forged record: %q", i+1, line)
				}
			}
		}
		leaveRogue(ml)
	})

	t.Run("URLs that are, or are one slash away from, another member's", func(t *testing.T) {
		url1 := c.URL(0)
		slashed := bytes.Replace(encodeMeta(t, gossip.Meta{ID: "slashy", URL: url1, RaftAddr: "127.0.0.1:4"}),
			[]byte(`"`+url1+`"`), []byte(`"`+url1+`/"`), 1)
		for name, meta := range map[string][]byte{
			"slashy": slashed,
			"dupe":   encodeMeta(t, gossip.Meta{ID: "dupe", URL: url1, RaftAddr: "127.0.0.1:5"}),
		} {
			ml := rogue(t, name, key, meta)
			if _, err := ml.Join([]string{gossipAddr(0)}); err != nil {
				t.Fatal(err)
			}
			defer leaveRogue(ml)
		}
		time.Sleep(3 * time.Second)
		for i := range 3 {
			for _, m := range status(ctx, t, c, i).Members {
				if (m.ID == "slashy" || m.ID == "dupe") && m.URL != "" {
					t.Errorf("node%d lists %s with URL %s", i+1, m.ID, m.URL)
				}
			}
		}
		// node1 still checks its instance: the dead port turns it Unhealthy.
		if err := Eventually(ctx, func() error {
			ins, _, err := c.Client(0).ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{})
			if err != nil {
				return err
			}
			for _, in := range ins {
				if in.ID == victim.ID && in.Status != api.StatusUnhealthy {
					return fmt.Errorf("victim is %s", in.Status)
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		if st := status(ctx, t, c, 0); st.Health.Checking == 0 {
			t.Error("node1 checks nothing: its instances were taken over")
		}
	})
}

// observation is what an attack must not change.
type observation struct {
	status    *api.ClusterStatus
	instances []string
	servers   []string
}

func observe(ctx context.Context, t *testing.T, c *ProcCluster) observation {
	t.Helper()
	var o observation
	if err := Eventually(ctx, func() error {
		o.status = status(ctx, t, c, 0)
		ins, _, err := c.Client(0).ListInstances(ctx, api.InstanceFilter{}, client.ListOptions{Consistent: true})
		if err != nil {
			return err
		}
		o.instances = nil
		for _, in := range ins {
			o.instances = append(o.instances, in.ID+" "+in.URL+" "+in.Slug)
		}
		o.servers = nil
		for _, s := range o.status.Servers {
			o.servers = append(o.servers, s.ID+" "+s.Address+" "+s.Suffrage)
		}
		slices.Sort(o.instances)
		slices.Sort(o.servers)
		if o.status.LeaderID == "" {
			return fmt.Errorf("no leader")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return o
}

func same(ctx context.Context, t *testing.T, c *ProcCluster, want observation) {
	t.Helper()
	got := observe(ctx, t, c)
	if got.status.Term != want.status.Term || got.status.LeaderID != want.status.LeaderID {
		t.Errorf("term %d, leader %s; before: term %d, leader %s", got.status.Term, got.status.LeaderID, want.status.Term, want.status.LeaderID)
	}
	if !slices.Equal(got.instances, want.instances) {
		t.Errorf("catalog changed:\n%v\nbefore:\n%v", got.instances, want.instances)
	}
	if !slices.Equal(got.servers, want.servers) {
		t.Errorf("Raft configuration changed:\n%v\nbefore:\n%v", got.servers, want.servers)
	}
}

func status(ctx context.Context, t *testing.T, c *ProcCluster, i int) *api.ClusterStatus {
	t.Helper()
	st, err := c.Client(i).ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func notMember(ctx context.Context, t *testing.T, c *ProcCluster, name string) {
	t.Helper()
	for i := range c.Size() {
		if !c.Running(i) {
			continue
		}
		for _, m := range status(ctx, t, c, i).Members {
			if m.ID == name {
				t.Errorf("node%d lists %q as a member (%s)", i+1, name, m.State)
			}
		}
	}
}

// forgeAppendEntries sends node2 what the leader would, one term ahead,
// with a command the HTTP API refuses, over hashicorp/raft's own transport.
func forgeAppendEntries(st *api.ClusterStatus, addr string, tc *tls.Config) error {
	cmd, err := (&fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{
		Instance: fsm.Instance{URL: "gopher://forged", Slug: "forged slug!"}, NewID: "inst-forged", Now: time.Now(),
	}}).Encode()
	if err != nil {
		return err
	}
	tr := raft.NewNetworkTransport(&rawDialer{tls: tc}, 1, 3*time.Second, io.Discard)
	defer tr.Close()
	next := st.LastLogIndex + 1
	var resp raft.AppendEntriesResponse
	return tr.AppendEntries("node2", raft.ServerAddress(addr), &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(st.LeaderID), Addr: []byte(addr)},
		Term:              st.Term + 1,
		PrevLogEntry:      st.LastLogIndex,
		PrevLogTerm:       st.Term,
		Entries:           []*raft.Log{{Index: next, Term: st.Term + 1, Type: raft.LogCommand, Data: cmd}},
		LeaderCommitIndex: next,
	}, &resp)
}

// rawDialer is an attacker's stream layer: plain TCP, or TLS with whatever
// certificate it holds.
type rawDialer struct {
	net.Listener
	tls *tls.Config
}

func (d *rawDialer) Accept() (net.Conn, error) { select {} }
func (d *rawDialer) Close() error              { return nil }
func (d *rawDialer) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (d *rawDialer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || d.tls == nil {
		return conn, err
	}
	tc := tls.Client(conn, d.tls)
	if err := tc.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func encodeMeta(t *testing.T, m gossip.Meta) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelope is a gossip user message as the agents frame it: type,
// signature length, signature, JSON.
func envelope(typ byte, sig []byte, body string) []byte {
	return append(append([]byte{typ, byte(len(sig))}, sig...), body...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// rogue is a bare memberlist member with the given name, gossip key (nil:
// none) and meta, on a free port.
func rogue(t *testing.T, name string, key, meta []byte) *memberlist.Memberlist {
	t.Helper()
	return rogueAt(t, name, key, meta, mustFreeBase(t, 1))
}

func rogueAt(t *testing.T, name string, key, meta []byte, port int) *memberlist.Memberlist {
	t.Helper()
	mc := memberlist.DefaultLocalConfig()
	mc.Name = name
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = "127.0.0.1", port, port
	mc.LogOutput = io.Discard
	mc.Delegate = rogueDelegate{meta: meta}
	if key != nil {
		mc.SecretKey = key
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	return ml
}

func leaveRogue(ml *memberlist.Memberlist) {
	ml.Leave(time.Second)
	ml.Shutdown()
}

type rogueDelegate struct{ meta []byte }

func (d rogueDelegate) NodeMeta(int) []byte             { return d.meta }
func (d rogueDelegate) NotifyMsg([]byte)                {}
func (d rogueDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d rogueDelegate) LocalState(bool) []byte          { return nil }
func (d rogueDelegate) MergeRemoteState([]byte, bool)   {}
