package testcluster

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// dockerSocket is the local engine the registrator tests use.
const dockerSocket = "/var/run/docker.sock"

// engineLink is a TCP door to the Docker engine's socket that a test can
// shut (every connection cut, new ones refused) and open again: the
// registrator's event stream drops as it would when the engine restarts,
// without restarting an engine other tests use.
type engineLink struct {
	ln     net.Listener
	mu     sync.Mutex
	shut   bool
	conns  map[net.Conn]bool
	closed chan struct{}
}

func newEngineLink(t *testing.T) *engineLink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &engineLink{ln: ln, conns: map[net.Conn]bool{}, closed: make(chan struct{})}
	t.Cleanup(func() {
		ln.Close()
		<-l.closed
		l.cut()
	})
	go l.serve()
	return l
}

func (l *engineLink) addr() string { return "tcp://" + l.ln.Addr().String() }

func (l *engineLink) serve() {
	defer close(l.closed)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.shut {
			l.mu.Unlock()
			c.Close()
			continue
		}
		e, err := net.Dial("unix", dockerSocket)
		if err != nil {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c], l.conns[e] = true, true
		l.mu.Unlock()
		go func() { io.Copy(e, c); e.Close() }()
		go func() { io.Copy(c, e); c.Close() }()
	}
}

// cut closes every connection; shut also refuses new ones until open.
func (l *engineLink) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

func (l *engineLink) setShut(shut bool) {
	l.mu.Lock()
	l.shut = shut
	l.mu.Unlock()
	if shut {
		l.cut()
	}
}

// demiImage builds an image FROM scratch holding examples/demi/server
// (static), which answers 200 on every path of the ports it is given.
func demiImage(t *testing.T, tag string) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "demiserver"), "../examples/demi/server")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build demiserver: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY demiserver /demiserver\nENTRYPOINT [\"/demiserver\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	image := "roster-demi-test:" + tag
	dockerCmd(t, "build", "-q", "-t", image, dir)
	t.Cleanup(func() { engineCmd("rmi", "-f", image).Run() })
	return image
}

// engineEnv is the environment of the docker CLI here: the engine itself,
// never the registrator's door to it (DOCKER_HOST in this test).
func engineEnv() []string {
	return append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_HOST=unix://"+dockerSocket)
}

func engineCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("docker", args...)
	cmd.Env = engineEnv()
	return cmd
}

func dockerCmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = engineEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// The registrator on a real Docker engine: the seed's FELIX container
// (two services, the port label choosing among published ports) appears on
// every node as instances with meta, URL, check and KV keys; bad labels
// are reported and affect nothing else; stop, pause, kill and remove are
// followed; containers that die while the agent is down are removed when
// it comes back; a dropped event stream reconnects and resyncs.
func TestRegistratorFollowsDockerContainers(t *testing.T) {
	needDocker(t)
	tag := fmt.Sprintf("t%d", rand.Uint32())
	site := "lab" + tag
	image := demiImage(t, tag)
	t.Cleanup(func() {
		out, _ := engineCmd("ps", "-aq", "--filter", "label=roster.test="+tag).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			engineCmd(append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	link := newEngineLink(t)
	t.Setenv("DOCKER_HOST", link.addr())
	c := startCluster(t, Options{Nodes: 3, Docker: func(i int) *agent.DockerConfig {
		if i != 0 {
			return nil
		}
		return &agent.DockerConfig{Namespace: "demi." + site}
	}})
	ctx := t.Context()
	run := func(name string, labels map[string]string, ports []string, args ...string) string {
		t.Helper()
		cmd := []string{"run", "-d", "--name", name + "-" + tag, "--label", "roster.test=" + tag}
		for k, v := range labels {
			cmd = append(cmd, "--label", k+"="+v)
		}
		for _, p := range ports {
			cmd = append(cmd, "-p", "127.0.0.1::"+p)
		}
		return dockerCmd(t, append(append(cmd, image), args...)...)
	}
	bySlug := func(i int, slug string) []*api.Instance {
		list, _, err := c.Client(i).ListInstances(ctx, api.InstanceFilter{Slug: slug}, client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	ns := "demi." + site + "."
	felix := run("felix", map[string]string{
		ns + "felix.api.port": "8000", ns + "felix.api.url_prefix": "api/", ns + "felix.api.url_postfix": "/docs",
		ns + "felix.api.health": "/health", ns + "felix.api.description": "Interface to FELIX hardware",
		ns + "felix.api.category": "Microservice", ns + "felix.api.protocol": "http",
		ns + "felix.ui.port": "3000", ns + "felix.ui.category": "Microservice-UI", ns + "felix.ui.description": "FELIX UI",
	}, []string{"8000", "3000"}, "8000", "3000")
	hostPort := func(port string) string {
		out := dockerCmd(t, "port", felix, port+"/tcp")
		_, p, _ := strings.Cut(strings.Fields(out)[0], "127.0.0.1:")
		return p
	}
	apiURL := "http://127.0.0.1:" + hostPort("8000") + "/api"
	uiURL := "http://127.0.0.1:" + hostPort("3000")
	apiSlug, uiSlug := site+".felix.api", site+".felix.ui"
	for _, i := range c.Running() {
		within(t, 15*time.Second, fmt.Sprintf("node %d lists FELIX's two services", i), func() error {
			a, u := bySlug(i, apiSlug), bySlug(i, uiSlug)
			if len(a) != 1 || len(u) != 1 || a[0].URL != apiURL || u[0].URL != uiURL {
				return fmt.Errorf("api %v ui %v (want %s and %s)", a, u, apiURL, uiURL)
			}
			return nil
		})
	}
	in := bySlug(1, apiSlug)[0]
	if in.Meta["demi.site"] != site || in.Meta["demi.stack"] != "felix" || in.Meta["demi.service"] != "api" ||
		in.Meta["description"] != "Interface to FELIX hardware" || in.Meta["swagger_url"] != apiURL+"/docs" ||
		in.Meta["demi.container"] == "" || in.NodeURL != c.Member(0).URL ||
		in.Check == nil || in.Check.Type != api.CheckHTTP || in.Check.Path != "/health" {
		t.Fatalf("the api instance: %+v meta %v check %+v", in, in.Meta, in.Check)
	}
	within(t, 15*time.Second, "its http check passes", func() error {
		if st := bySlug(1, apiSlug)[0].Status; st != api.StatusHealthy {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
	keys, _, err := c.Client(2).KVKeys(ctx, "demi/"+site+"/", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"felix/api/url", "felix/api/swagger_url", "felix/api/port", "felix/api/description", "felix/ui/url", "felix/ui/category"} {
		if !slices.Contains(keys, "demi/"+site+"/"+want) {
			t.Errorf("KV: no %s in %v", want, keys)
		}
	}
	if e, _, err := c.Client(2).KVGet(ctx, "demi/"+site+"/felix/api/url", client.ListOptions{}); err != nil || string(e.Value) != apiURL {
		t.Fatalf("KV url: %+v %v", e, err)
	}

	// Bad labels: reported, nothing registered for them, others unharmed.
	bad := run("bad", map[string]string{ns + "daq.gopher.protocol": "gopher", ns + "daq.noport.description": "no port",
		ns + "daq.good.url": "http://10.1.2.3:9000/x"}, nil)
	within(t, 15*time.Second, "the bad container's status and its good service", func() error {
		var st api.RegistratorStatus
		if _, err := c.Client(0).Do(ctx, http.MethodGet, "/registry-svc/registrator", nil, &st); err != nil {
			return err
		}
		for _, ct := range st.Containers {
			if ct.ID == bad && len(ct.Services) == 1 && strings.Contains(ct.Errors[site+".daq.gopher"], "gopher") &&
				strings.Contains(ct.Errors[site+".daq.noport"], "no published port") {
				return nil
			}
		}
		return fmt.Errorf("status %+v", st)
	})
	if len(bySlug(0, site+".daq.gopher")) != 0 || len(bySlug(0, site+".daq.good")) != 1 || len(bySlug(0, apiSlug)) != 1 {
		t.Fatal("bad labels registered something, or spoiled the rest")
	}

	// Stop: gone quickly, keys too.
	start := time.Now()
	dockerCmd(t, "stop", "-t", "1", felix)
	within(t, 10*time.Second, "FELIX deregistered", func() error {
		if n := len(bySlug(0, apiSlug)) + len(bySlug(0, uiSlug)); n != 0 {
			return fmt.Errorf("%d left", n)
		}
		return nil
	})
	t.Logf("stop -> deregistered in %v (docker stop -t 1 included)", time.Since(start).Round(time.Millisecond))
	if keys, _, _ := c.Client(0).KVKeys(ctx, "demi/"+site+"/felix/", client.ListOptions{}); len(keys) != 0 {
		t.Fatalf("FELIX's keys stayed: %v", keys)
	}

	// Pause: Stopping; unpause: back to checking; kill: gone.
	solo := run("solo", map[string]string{ns + "tools.web.health": "/"}, []string{"8000"}, "8000")
	soloSlug := site + ".tools.web"
	within(t, 15*time.Second, "solo registered", func() error {
		if l := bySlug(0, soloSlug); len(l) != 1 || l[0].Status != api.StatusHealthy {
			return fmt.Errorf("%v", l)
		}
		return nil
	})
	dockerCmd(t, "pause", solo)
	within(t, 10*time.Second, "paused -> Stopping", func() error {
		if l := bySlug(0, soloSlug); len(l) != 1 || l[0].Status != api.StatusStopping {
			return fmt.Errorf("%v", l)
		}
		return nil
	})
	dockerCmd(t, "unpause", solo)
	within(t, 15*time.Second, "unpaused -> Healthy again", func() error {
		if l := bySlug(0, soloSlug); len(l) != 1 || l[0].Status != api.StatusHealthy {
			return fmt.Errorf("%v", l)
		}
		return nil
	})
	dockerCmd(t, "kill", solo)
	within(t, 10*time.Second, "killed -> gone", func() error {
		if l := bySlug(0, soloSlug); len(l) != 0 {
			return fmt.Errorf("%v", l)
		}
		return nil
	})

	// The agent is down while a container goes: its instance is removed
	// when the agent is back.
	late := run("late", map[string]string{ns + "tools.late.description": "late"}, []string{"8000"}, "8000")
	lateSlug := site + ".tools.late"
	within(t, 15*time.Second, "late registered", func() error {
		if l := bySlug(1, lateSlug); len(l) != 1 {
			return fmt.Errorf("%v", l)
		}
		return nil
	})
	if err := c.Kill(0); err != nil {
		t.Fatal(err)
	}
	dockerCmd(t, "rm", "-f", late)
	time.Sleep(time.Second)
	if l := bySlug(1, lateSlug); len(l) != 1 {
		t.Fatalf("with the agent down nothing removes the instance, yet %v", l)
	}
	if err := c.Restart(0); err != nil {
		t.Fatal(err)
	}
	within(t, 20*time.Second, "the restarted agent removes what died meanwhile", func() error {
		if l := bySlug(1, lateSlug); len(l) != 0 {
			return fmt.Errorf("%v", l)
		}
		return nil
	})
	if len(bySlug(1, site+".daq.good")) != 1 {
		t.Fatal("the resync removed a container that still runs")
	}

	// The event stream drops (the engine is unreachable for a while) and a
	// container goes meanwhile: the registrator reconnects and resyncs.
	t.Logf("%s shutting", time.Now().Format("15:04:05.000"))
	link.setShut(true)
	within(t, 10*time.Second, "the status says the engine is lost", func() error {
		var st api.RegistratorStatus
		if _, err := c.Client(0).Do(ctx, http.MethodGet, "/registry-svc/registrator", nil, &st); err != nil {
			return err
		}
		if st.Connected {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	t.Logf("%s shut; removing", time.Now().Format("15:04:05.000"))
	dockerCmd(t, "rm", "-f", bad)
	t.Logf("%s removed; open", time.Now().Format("15:04:05.000"))
	link.setShut(false)
	within(t, 40*time.Second, "reconnected: the removed container's service is gone", func() error {
		if l := bySlug(1, site+".daq.good"); len(l) != 0 {
			return fmt.Errorf("%v", l)
		}
		return nil
	})
}
