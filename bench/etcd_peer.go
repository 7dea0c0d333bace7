package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/testcluster"
)

// The peer in the table: a three-member etcd cluster from the etcd
// binary on this machine (Debian's etcd-server; `make bench` installs it),
// loaded by etcdload (bench/etcdload, a module of its own so that this
// binary does not link etcd's client), which prints each measurement as a
// Result.

// etcdPeer is a running etcd cluster on loopback.
type etcdPeer struct {
	load      string
	endpoints []string
	procs     []*exec.Cmd
	logs      []*os.File
	// loadCPU is the CPU seconds the last etcdload run took.
	loadCPU float64
}

// findEtcd returns the etcd and etcdload executables, or why the etcd
// rows cannot run.
func (o *SuiteOptions) findEtcd() (etcd, load string, why string) {
	etcd = o.Etcd
	if etcd == "" {
		var err error
		if etcd, err = exec.LookPath("etcd"); err != nil {
			return "", "", "no etcd on this machine (Debian: apt-get install etcd-server; `make bench` tries)"
		}
	}
	load = o.EtcdLoad
	if load == "" {
		load = filepath.Join(filepath.Dir(o.Binary), "etcdload")
	}
	if _, err := os.Stat(load); err != nil {
		return "", "", fmt.Sprintf("no etcdload at %s (`make bench` builds it from bench/etcdload)", load)
	}
	return etcd, load, ""
}

// startEtcd starts three members in dir and waits until one leads.
func startEtcd(ctx context.Context, etcd, load, dir string) (*etcdPeer, error) {
	base, err := testcluster.FreeBasePort(6)
	if err != nil {
		return nil, err
	}
	p := &etcdPeer{load: load}
	var cluster []string
	for i := range 3 {
		cluster = append(cluster, fmt.Sprintf("e%d=http://127.0.0.1:%d", i+1, base+3+i))
		p.endpoints = append(p.endpoints, fmt.Sprintf("http://127.0.0.1:%d", base+i))
	}
	for i := range 3 {
		d := filepath.Join(dir, fmt.Sprintf("e%d", i+1))
		if err := os.MkdirAll(d, 0o700); err != nil {
			p.stop()
			return nil, err
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("e%d.log", i+1)))
		if err != nil {
			p.stop()
			return nil, err
		}
		peer := fmt.Sprintf("http://127.0.0.1:%d", base+3+i)
		cmd := exec.Command(etcd, "--name", fmt.Sprintf("e%d", i+1), "--data-dir", d,
			"--listen-client-urls", p.endpoints[i], "--advertise-client-urls", p.endpoints[i],
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(cluster, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "roster-bench")
		cmd.Stdout, cmd.Stderr = logf, logf
		// Its own process group: a stop takes the member and nothing else.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			p.stop()
			return nil, fmt.Errorf("start %s: %w", etcd, err)
		}
		p.procs, p.logs = append(p.procs, cmd), append(p.logs, logf)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := testcluster.Eventually(wctx, func() error { _, err := p.leader(wctx); return err }); err != nil {
		p.stop()
		return nil, fmt.Errorf("etcd did not elect a leader (logs in %s): %w", dir, err)
	}
	return p, nil
}

func (p *etcdPeer) stop() {
	for i, c := range p.procs {
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.Process.Kill()
			<-done
		}
		p.logs[i].Close()
	}
	p.procs, p.logs = nil, nil
}

// leader is the index of the member that leads.
func (p *etcdPeer) leader(ctx context.Context) (int, error) {
	out, err := p.exec(ctx, "leader", "--endpoints", strings.Join(p.endpoints, ","))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// follower is the client URL of a member that does not lead.
func (p *etcdPeer) follower(ctx context.Context) (string, error) {
	l, err := p.leader(ctx)
	if err != nil {
		return "", err
	}
	return p.endpoints[(l+1)%len(p.endpoints)], nil
}

// measure runs one etcdload measurement and reads its result.
func (p *etcdPeer) measure(ctx context.Context, args ...string) (*etcdResult, error) {
	out, err := p.exec(ctx, args...)
	if err != nil {
		return nil, err
	}
	var r etcdResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("etcdload %s: %w (printed %q)", args[0], err, out)
	}
	return &r, nil
}

func (p *etcdPeer) exec(ctx context.Context, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, p.load, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if cmd.ProcessState != nil {
		p.loadCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	if err != nil {
		return nil, fmt.Errorf("etcdload %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// rssMB is the largest member's resident set.
func (p *etcdPeer) rssMB() (float64, error) {
	var worst float64
	for _, c := range p.procs {
		rss, _, err := rssMB(c.Process.Pid)
		if err != nil {
			return 0, err
		}
		worst = max(worst, rss)
	}
	if worst == 0 {
		return 0, errors.New("no etcd member runs")
	}
	return worst, nil
}

// etcdResult is a Result with the writes of a mixed run.
type etcdResult struct {
	Result
	Writes      int `json:"writes"`
	WriteErrors int `json:"writeErrors"`
}

// seed writes the 100 records a mixed run reads.
func (p *etcdPeer) seed(ctx context.Context, endpoint, prefix string) error {
	_, err := p.exec(ctx, "seed", "--endpoints", endpoint, "--prefix", prefix, "--count", "100")
	return err
}
