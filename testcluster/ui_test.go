package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// needChromium finds Debian's chromium; without it the browser tests skip,
// or fail with CI=true (.ci/run installs it).
func needChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium (CI=true: the browser tests must run; .ci/run installs Debian's chromium)")
	}
	t.Skip("no chromium: install Debian's chromium to run the browser tests")
	return ""
}

// browser is a headless chromium at 1280×800 for the test.
func browser(t testing.TB, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(needChromium(t)), chromedp.NoSandbox,
		chromedp.WindowSize(width, height), chromedp.Flag("ignore-certificate-errors", true), chromedp.Flag("disable-gpu", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artifacts is where the browser tests write their screenshots:
// $ROSTER_UI_ARTIFACTS, else the test's temporary directory.
func artifacts(t *testing.T) string {
	if d := os.Getenv("ROSTER_UI_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifacts(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// pageShows evaluates js on the page until want holds.
func pageShows(t *testing.T, ctx context.Context, what, js string, want func(any) bool) {
	t.Helper()
	within(t, 15*time.Second, what, func() error {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		if err != nil {
			return err
		}
		if !want(got) {
			return fmt.Errorf("the page shows %v", got)
		}
		return nil
	})
}

// typed tells the page an input changed (SetValue sets it silently).
func typed(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.querySelector('`+sel+`').dispatchEvent(new Event('input'))`))
		return err
	})
}

func equals(v any) func(any) bool {
	return func(got any) bool { return fmt.Sprint(got) == fmt.Sprint(v) }
}

// The UI in a real browser: every page shows what the API says (leader,
// nodes with the go-nvml mock's GPUs, instances by status, definitions,
// the DeMi tree), follows changes without a reload, and says when the node
// it came from is gone.
func TestTheWebUIShowsTheClusterLive(t *testing.T) {
	ctx := browser(t, 1280, 800)
	c := startCluster(t, Options{Nodes: 3, StatusInterval: 300 * time.Millisecond, Configure: mockGPUs(t, 2)})
	f := follower(c)
	base := c.Member(f).URL
	cl := c.Client(f)
	for i, slug := range []string{"web", "web", "web", "db", "db"} {
		registerChecked(t, c, f, client.RegisterRequest{URL: fmt.Sprintf("http://10.20.0.%d:80", i+1), Slug: slug,
			Check: &api.Check{Type: api.CheckNone}, Meta: map[string]string{"version": "1"}})
	}
	if _, err := cl.SetInstanceStatus(t.Context(), mustID(t, cl, "http://10.20.0.1:80"), api.StatusHealthy, "ok"); err != nil {
		t.Fatal(err)
	}

	// Cluster: the leader the API names.
	st, err := cl.ClusterStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/cluster"), chromedp.WaitVisible(`[data-test=leader]`)); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "the leader", `document.querySelector('[data-test=leader]').textContent`, equals(st.LeaderID))
	pageShows(t, ctx, "three members", `document.querySelectorAll('[data-test=member]').length`, equals(3))

	// Nodes: three, and the mock's eight GPUs on node3.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/nodes")); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "three nodes", `document.querySelectorAll('[data-test=node]').length`, equals(3))
	pageShows(t, ctx, "node3's eight GPUs", `document.querySelectorAll('[data-node=node3] [data-test=gpu]').length`, equals(8))
	// The free-GPU-memory filter keeps only node3.
	if err := chromedp.Do(ctx, chromedp.SetValue(`#f-minfree`, "40000"), typed(`#f-minfree`)); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "only node3 with 40000 MiB free", `[...document.querySelectorAll('[data-test=node]')].map(n => n.dataset.node).join()`, equals("node3"))
	if err := chromedp.Do(ctx, chromedp.SetValue(`#f-minfree`, ""), typed(`#f-minfree`)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "nodes")

	// Instances: as many as the API lists, each with its status; a new
	// registration shows without a reload.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/instances")); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "five instances", `document.querySelectorAll('[data-test=instance]').length`, equals(5))
	pageShows(t, ctx, "one Healthy", `document.querySelectorAll('[data-test=instance][data-status=Healthy]').length`, equals(1))
	registerChecked(t, c, c.Leader(), client.RegisterRequest{URL: "http://10.20.0.9:80", Slug: "cache", Check: &api.Check{Type: api.CheckNone}})
	pageShows(t, ctx, "the new instance, live", `document.querySelectorAll('[data-test=instance]').length`, equals(6))
	screenshot(t, ctx, "instances")

	// Definitions and the DeMi tree follow the API too.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/definitions")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SaveDefinition(t.Context(), &api.Definition{ID: "web-def", Image: &api.ImageSpec{Name: "nginx:1", InternalPorts: []uint16{80}}}); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "the definition", `document.querySelectorAll('[data-test=definition]').length`, equals(1))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/demi")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.KVPut(t.Context(), "demi/lab42/felix/api/url", []byte("http://pc1:8000"), nil); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "the DeMi service", `document.querySelector('[data-test=demi-service] a')?.href`, equals("http://pc1:8000/"))
	// A value is anyone's input: a javascript: URL is shown, never linked.
	if _, err := cl.KVPut(t.Context(), "demi/lab42/evil/x/url", []byte("javascript:alert(document.cookie)"), nil); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "the evil URL as text, not a link", `[document.querySelectorAll('[data-test=demi-service]').length, document.querySelectorAll('a[href^="javascript"]').length].join()`, equals("2,0"))

	// The node the page came from dies: the page says so.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/#/instances")); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "six instances", `document.querySelectorAll('[data-test=instance]').length`, equals(6))
	// Through a leader change the page goes on: the old leader dies, a
	// write through the new one shows.
	if err := c.Kill(c.Leader()); err != nil {
		t.Fatal(err)
	}
	newLeader, err := c.WaitLeader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	registerChecked(t, c, newLeader, client.RegisterRequest{URL: "http://10.20.0.10:80", Slug: "cache", Check: &api.Check{Type: api.CheckNone}})
	pageShows(t, ctx, "a write after the election, live", `document.querySelectorAll('[data-test=instance]').length`, equals(7))
	if err := c.Kill(f); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "the lost-node banner", `(b => !b.hidden && b.textContent)(document.querySelector('#banner'))`,
		func(got any) bool { s, _ := got.(string); return len(s) > 0 && strings.Contains(s, "Lost contact") })
}

func mustID(t *testing.T, cl *client.Client, url string) string {
	t.Helper()
	list, _, err := cl.ListInstances(t.Context(), api.InstanceFilter{}, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.URL == url {
			return in.ID
		}
	}
	t.Fatalf("no instance at %s", url)
	return ""
}

// With tokens: the page asks for one, keeps it for the session, and hides
// what the token may not do.
func TestTheWebUIAsksForATokenAndHidesWhatItMayNotDo(t *testing.T) {
	ctx := browser(t, 390, 844) // a phone's width
	c := aclCluster(t)
	f := follower(c)
	within(t, 10*time.Second, "the management token on the follower", func() error {
		_, err := c.Client(f).TokenSelf(t.Context())
		return err
	})
	registerChecked(t, c, f, client.RegisterRequest{URL: "http://10.21.0.1:80", Slug: "web", Check: &api.Check{Type: api.CheckNone}})
	viewer := mint(t, c, f, api.CreateTokenRequest{Permissions: []string{api.PermInstanceView}})
	if err := chromedp.Do(ctx, chromedp.Navigate(c.Member(f).URL+"/ui/#/instances"), chromedp.WaitVisible(`#token`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(`#token`, viewer), chromedp.Click(`#login-form button`)); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "the instance", `document.querySelectorAll('[data-test=instance]').length`, equals(1))
	pageShows(t, ctx, "no deregister button for a viewer", `document.querySelectorAll('[data-del]').length`, equals(0))
	pageShows(t, ctx, "the token kept for the session", `sessionStorage.getItem('roster.token') !== null`, equals(true))
	screenshot(t, ctx, "instances-phone")
	// The viewer may not see nodes: the page says why.
	if err := chromedp.Do(ctx, chromedp.Navigate(c.Member(f).URL+"/ui/#/nodes")); err != nil {
		t.Fatal(err)
	}
	pageShows(t, ctx, "a 403 said plainly", `document.querySelector('[role=alert]')?.textContent || ''`,
		func(got any) bool {
			s, _ := got.(string)
			return strings.Contains(s, "may not see") && strings.Contains(s, api.PermNodeView)
		})
}
