package testcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/certs"
)

var (
	dockerDuration = flag.Duration("docker.duration", 40*time.Second, "fault time of TestContainerCluster")
	dockerSeed     = flag.Uint64("docker.seed", 7, "seed of TestContainerCluster's fault schedule and clients")
)

// dockerCluster runs agents as separate containers, each with its own IP
// on a private Docker network, from an image built here out of the static
// roster binary (FROM scratch: nothing is pulled). Agents use production
// timings. Faults are Docker's: kill, network disconnect, pause, restart.
type dockerCluster struct {
	t       *testing.T
	name    string // prefix of the image, network and containers
	subnet  string // "10.a.b."; node i has subnet+(10+i)
	n       int
	pki     PKI
	tls     *tls.Config  // the test's client: the CA, verified as server.roster
	token   string       // the management token (the agents require tokens)
	hc      *http.Client // status polls (made once the token is known)
	mu      sync.Mutex
	faulted map[int]string // node -> the fault it is under
}

// needDocker skips without a working Docker engine, or fails in CI, where
// the container suite must run.
func needDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("no Docker engine: %v: %s", err, bytes.TrimSpace(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: the container suite must run)")
	}
	t.Skip(msg)
}

func (d *dockerCluster) docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0") // the classic builder needs no frontend image
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (d *dockerCluster) must(args ...string) string {
	d.t.Helper()
	out, err := d.docker(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

func (d *dockerCluster) container(i int) string { return fmt.Sprintf("%s-node%d", d.name, i+1) }
func (d *dockerCluster) ip(i int) string        { return d.subnet + strconv.Itoa(10+i) }
func (d *dockerCluster) url(i int) string       { return "https://" + d.ip(i) + ":11337" }

// startDockerCluster builds the image, creates the network and starts n
// agents; everything is removed when the test ends.
func startDockerCluster(t *testing.T, n int) *dockerCluster {
	needDocker(t)
	d := &dockerCluster{t: t, name: fmt.Sprintf("roster-test-%d", rand.IntN(1e9)), n: n, faulted: map[int]string{}}
	dir := t.TempDir()
	// The image users get (make image): the repository's Dockerfile over
	// the static binary, in a context of its own.
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "roster-static"), "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static roster: %v: %s", err, out)
	}
	d.must("build", "-q", "-f", "../Dockerfile", "-t", d.name+":test", "--label", "roster-test=1", dir)
	t.Cleanup(func() { _, _ = d.docker("rmi", "-f", d.name+":test") })
	// A /24 no other network on this engine uses.
	var err error
	for range 10 {
		d.subnet = fmt.Sprintf("10.%d.%d.", 200+rand.IntN(50), rand.IntN(256))
		if _, err = d.docker("network", "create", "--label", "roster-test=1", "--subnet", d.subnet+"0/24", d.name); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := range n {
			_, _ = d.docker("rm", "-f", d.container(i))
		}
		_, _ = d.docker("network", "rm", d.name)
	})
	// TLS and gossip encryption on, as in production: the files are
	// mounted read-only at /pki.
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("node%d", i+1))
	}
	if d.pki, err = MakePKI(filepath.Join(dir, "pki"), ids); err != nil {
		t.Fatal(err)
	}
	if d.tls, err = d.pki.ClientTLS(); err != nil {
		t.Fatal(err)
	}
	d.tls.ServerName = certs.ServerName
	for i := range n {
		id := ids[i]
		args := []string{"run", "-d", "--name", d.container(i), "--label", "roster-test=1",
			"--network", d.name, "--ip", d.ip(i), "--hostname", id,
			"-v", d.pki.Dir + ":/pki:ro",
			"-e", "OB_NODE_ID=" + id, "-e", "OB_SELF_URL=" + d.url(i),
			"-e", fmt.Sprintf("OB_AVAILABILITY_ZONE=az%d", i+1),
			d.name + ":test", "agent", "--data-dir", "/data", "--http-addr", "0.0.0.0:11337",
			"--advertise", d.ip(i), "--bootstrap-expect", strconv.Itoa(n),
			"--tls-ca-file", "/pki/ca.pem", "--tls-cert-file", "/pki/" + id + ".pem", "--tls-key-file", "/pki/" + id + "-key.pem",
			"--encrypt-file", "/pki/gossip.key"}
		for j := range n {
			if j != i {
				args = append(args, "--join", d.ip(j)+":11338")
			}
		}
		d.must(args...)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// Reachable agents require tokens (the default): the suite makes the
	// management token, as an operator's first step would be.
	if err := d.bootstrapACL(ctx); err != nil {
		d.dumpLogs()
		t.Fatalf("acl bootstrap: %v", err)
	}
	if err := d.waitStable(ctx); err != nil {
		d.dumpLogs()
		t.Fatalf("container cluster did not form: %v", err)
	}
	return d
}

// bootstrapACL makes the cluster's management token through node1, as soon
// as it has a leader, and keeps it for every request of the suite.
func (d *dockerCluster) bootstrapACL(ctx context.Context) error {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: d.tls}}
	return Eventually(ctx, func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.url(0)+"/registry-svc/acl/bootstrap", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var t api.CreatedToken
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.SecretID == "" {
			return fmt.Errorf("bootstrap answer: %v", err)
		}
		d.token = t.SecretID
		return nil
	})
}

// clusterView is the part of /registry-svc/cluster/status the suite reads.
type clusterView struct {
	LeaderID string `json:"leaderId"`
	Voters   int    `json:"voters"`
}

func (d *dockerCluster) status(ctx context.Context, i int) (clusterView, error) {
	var v clusterView
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url(i)+"/registry-svc/cluster/status", nil)
	d.mu.Lock()
	if d.hc == nil {
		// One client for every poll: a transport per call left a kept-alive
		// connection behind each time, and the agents' cap of 200 per
		// client address then refused the suite's own polls.
		d.hc = &http.Client{Timeout: 3 * time.Second, Transport: bearer(&http.Transport{TLSClientConfig: d.tls}, d.token)}
	}
	hc := d.hc
	d.mu.Unlock()
	resp, err := hc.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return v, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// waitStable waits until every node names the same leader, which has all
// its voters.
func (d *dockerCluster) waitStable(ctx context.Context) error {
	return Eventually(ctx, func() error {
		var leader string
		for i := range d.n {
			v, err := d.status(ctx, i)
			if err != nil {
				return fmt.Errorf("node%d: %w", i+1, err)
			}
			if v.LeaderID == "" || (leader != "" && v.LeaderID != leader) {
				return fmt.Errorf("node%d sees leader %q, others %q", i+1, v.LeaderID, leader)
			}
			leader = v.LeaderID
			if v.Voters < min(3, d.n) {
				return fmt.Errorf("%d voters", v.Voters)
			}
		}
		return nil
	})
}

// leader is the index of the node the others name as leader, or -1.
func (d *dockerCluster) leader() int {
	for i := range d.n {
		if v, err := d.status(context.Background(), i); err == nil && strings.HasPrefix(v.LeaderID, "node") {
			if l, err := strconv.Atoi(strings.TrimPrefix(v.LeaderID, "node")); err == nil && l >= 1 && l <= d.n {
				return l - 1
			}
		}
	}
	return -1
}

func (d *dockerCluster) targets() linTargets {
	return linTargets{size: d.n, url: d.url, tls: d.tls, token: d.token, running: func() []int {
		d.mu.Lock()
		defer d.mu.Unlock()
		var out []int
		for i := range d.n {
			if d.faulted[i] == "" {
				out = append(out, i)
			}
		}
		return out
	}}
}

func (d *dockerCluster) mark(i int, fault string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fault == "" {
		delete(d.faulted, i)
	} else {
		d.faulted[i] = fault
	}
}

// inject puts node i under a fault and returns what undoes it.
func (d *dockerCluster) inject(i int, fault string) (undo func() error, err error) {
	c := d.container(i)
	d.mark(i, fault)
	healed := func(args ...string) func() error {
		return func() error {
			_, err := d.docker(args...)
			if err == nil {
				d.mark(i, "")
			}
			return err
		}
	}
	switch fault {
	case "kill":
		_, err = d.docker("kill", "-s", "KILL", c)
		return healed("start", c), err
	case "disconnect":
		_, err = d.docker("network", "disconnect", d.name, c)
		return healed("network", "connect", "--ip", d.ip(i), d.name, c), err
	case "pause":
		_, err = d.docker("pause", c)
		return healed("unpause", c), err
	case "restart":
		_, err = d.docker("restart", "-t", "5", c)
		d.mark(i, "")
		return func() error { return nil }, err
	}
	return nil, fmt.Errorf("unknown fault %q", fault)
}

// elections reads raft's "election won" lines from every container's log,
// across all its restarts.
func (d *dockerCluster) elections() *elections {
	e := &elections{byTerm: map[uint64][]string{}}
	for i := range d.n {
		out, _ := d.docker("logs", d.container(i))
		for _, line := range strings.Split(out, "\n") {
			if !strings.Contains(line, "election won") {
				continue
			}
			if m := termRE.FindStringSubmatch(line); m != nil {
				term, _ := strconv.ParseUint(m[1], 10, 64)
				e.byTerm[term] = append(e.byTerm[term], fmt.Sprintf("node%d", i+1))
			}
		}
	}
	return e
}

func (d *dockerCluster) dumpLogs() {
	for i := range d.n {
		out, _ := d.docker("logs", "--tail", "40", d.container(i))
		d.t.Logf("--- %s:\n%s", d.container(i), out)
	}
}

// Agents as separate containers with their own addresses, production
// timings, and Docker's faults (kill -9 and start on the same data, network
// disconnect, pause, restart, the leader first half the time) while clients
// put, delete and read through every node. The same checks as the
// in-process campaign follow: convergence, linearizability with final
// reads, the same catalog after every container is killed and started
// again, X-Registry-Index monotonic per node, one leader per term.
func TestContainerCluster(t *testing.T) {
	d := startDockerCluster(t, 3)
	const keys, clients = 5, 6
	seed := *dockerSeed
	rng := rand.New(rand.NewPCG(seed, 1))
	h := newLinHistory()
	idx := &indexWatch{}
	ctx, cancel := context.WithCancel(t.Context())
	done := runLinClients(ctx, d.targets(), clients, keys, seed, h, idx)

	faults := map[string]int{}
	var log []string
	start := time.Now()
	for time.Since(start) < *dockerDuration {
		i := rng.IntN(d.n)
		if rng.IntN(2) == 0 {
			if l := d.leader(); l >= 0 {
				i = l
			}
		}
		fault := []string{"kill", "disconnect", "pause", "restart"}[rng.IntN(4)]
		hold := time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))
		log = append(log, fmt.Sprintf("%6.1fs %s node%d for %v", time.Since(start).Seconds(), fault, i+1, hold.Round(time.Millisecond)))
		faults[fault]++
		undo, err := d.inject(i, fault)
		if err != nil {
			cancel()
			<-done
			t.Fatal(err)
		}
		time.Sleep(hold)
		if err := undo(); err != nil {
			cancel()
			<-done
			t.Fatal(err)
		}
		time.Sleep(time.Second + time.Duration(rng.Int64N(int64(2*time.Second))))
	}
	cancel()
	<-done
	ops, unknown := h.counts()

	wctx, wcancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer wcancel()
	fullRestart := func() error {
		for i := range d.n {
			if _, err := d.docker("kill", "-s", "KILL", d.container(i)); err != nil {
				return err
			}
		}
		for i := range d.n {
			if _, err := d.docker("start", d.container(i)); err != nil {
				return err
			}
		}
		return nil
	}
	waitStable := func(ctx context.Context) error {
		err := d.waitStable(ctx)
		if err != nil {
			d.dumpLogs() // what the agents said while the cluster did not form
		}
		return err
	}
	converged, same, anomalies := checkAfterFaults(wctx, t, d.targets(), h, keys, waitStable, fullRestart)
	anomalies = append(anomalies, idx.anomalies...)
	won, more := d.elections().check()
	anomalies = append(anomalies, more...)
	t.Logf("seed %d: %d operations (%d unknown), %d local reads, faults %v, %d elections, converged %v after heal, same catalog after killing all: %v",
		seed, ops, unknown, idx.reads, faults, won, converged.Round(time.Millisecond), same)
	if ops < 100 {
		anomalies = append(anomalies, fmt.Sprintf("only %d operations recorded", ops))
	}
	for _, a := range anomalies {
		t.Errorf("anomaly: %s", a)
	}
	if len(anomalies) > 0 || t.Failed() {
		t.Logf("faults:\n%s", strings.Join(log, "\n"))
		d.dumpLogs()
	}
	if won == 0 {
		t.Error(errors.New("no election found in the containers' logs"))
	}
}
