package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
)

// reserved are first path segments that are Roster's own, never a slug.
var reserved = map[string]bool{
	"registry-svc": true, "health": true, "healthz": true, "readyz": true, "metrics": true,
	"openapi.json": true, "ui": true, "favicon.ico": true, "debug": true,
}

// hopHeader lists the nodes a proxied request has passed: a node that finds
// itself in it answers 508 instead of sending the request round again.
const hopHeader = "X-Roster-Hop"

// maxHops bounds the list, whatever the IDs in it.
const maxHops = 8

// proxy routes /{slug}/... to an instance of that slug, as the seed's Proxy
// Svc does: Healthy instances first, Unknown ones only when no instance is
// Healthy, never Unhealthy, Starting or Stopping; round robin among them;
// the full path is forwarded. An idempotent request without a body is tried
// once more on another instance when the first cannot be connected to.
type proxy struct {
	s         *Server
	next      sync.Map // slug -> *atomic.Uint64, the round-robin position
	inFlight  sync.Map // slug -> chan struct{}, the requests in flight
	limit     int
	rp        *httputil.ReverseProxy
	transport *http.Transport
}

type targetKey struct{}

func newProxy(s *Server, o Options) *proxy {
	if o.ProxyTimeout == 0 {
		o.ProxyTimeout = 30 * time.Second
	}
	if o.ProxyConcurrency == 0 {
		o.ProxyConcurrency = 256
	}
	p := &proxy{s: s, limit: o.ProxyConcurrency, transport: &http.Transport{
		// Every connection is checked against the target policy after name
		// resolution: a name may point anywhere.
		DialContext:           (&net.Dialer{Timeout: dialTimeout, Control: o.Targets.Control}).DialContext,
		ResponseHeaderTimeout: o.ProxyTimeout,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
	}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			target := r.In.Context().Value(targetKey{}).(*url.URL)
			r.SetURL(target)
			r.SetXForwarded()
			r.Out.Header.Add(hopHeader, s.n.ID())
		},
		Transport: p.transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			*r.Context().Value(failKey{}).(*error) = err
		},
	}
	return p
}

const dialTimeout = 3 * time.Second

type failKey struct{}

// slugOf returns the slug a path addresses, or "" when it is not a proxy path.
func slugOf(path string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if first == "" || reserved[first] || fsm.ValidateID("slug", first) != nil {
		return ""
	}
	return first
}

// candidates are the usable instances of a slug, best class first.
func (p *proxy) candidates(slug string) (list []*api.Instance, known bool, err error) {
	all, _, err := p.s.n.FSM().Instances(nil, api.InstanceFilter{Slug: slug})
	if err != nil || len(all) == 0 {
		return nil, false, err
	}
	var healthy, unknown []*api.Instance
	for _, in := range all {
		switch in.Status {
		case api.StatusHealthy:
			healthy = append(healthy, in)
		case api.StatusUnknown, "":
			unknown = append(unknown, in)
		}
	}
	if len(healthy) > 0 {
		return healthy, true, nil
	}
	return unknown, true, nil
}

func (p *proxy) serve(c *gin.Context, slug string) {
	// An instance's answer may stream for as long as the service likes;
	// --proxy-timeout bounds the wait for its headers.
	liftWriteDeadline(c)
	if escapesSlug(c.Request.URL) {
		p.s.writeError(c, api.Invalid("path", "%s has a '..' segment: it would leave /%s/ on the instance", c.Request.URL.EscapedPath(), slug))
		return
	}
	if hops := c.Request.Header.Values(hopHeader); len(hops) >= maxHops || slices.Contains(hops, p.s.n.ID()) {
		p.s.log.Warn("proxy: loop detected", "slug", slug, "hops", hops)
		p.s.writeError(c, api.ErrLoopDetected)
		return
	}
	list, known, err := p.candidates(slug)
	if known {
		c.Set(knownSlugKey, slug) // a label of the proxy's metrics
	}
	switch {
	case err != nil:
		p.s.writeError(c, err)
		return
	case !known:
		c.JSON(http.StatusNotFound, gin.H{"error": "no route for " + c.Request.Method + " " + c.Request.URL.Path +
			" (no instance has slug " + slug + ")", "code": "not_found"})
		return
	case len(list) == 0:
		p.s.writeError(c, errNoInstance)
		return
	}
	// Only a slug the catalog knows gets a slot counter: a request for a
	// made-up one must not leave state behind.
	slot, ok := p.inFlight.Load(slug)
	if !ok {
		slot, _ = p.inFlight.LoadOrStore(slug, make(chan struct{}, p.limit))
	}
	select {
	case slot.(chan struct{}) <- struct{}{}:
		defer func() { <-slot.(chan struct{}) }()
	default:
		p.s.writeError(c, api.ErrBusy)
		return
	}
	ctr, _ := p.next.LoadOrStore(slug, new(atomic.Uint64))
	start := ctr.(*atomic.Uint64).Add(1)
	tries := 1
	if retryable(c.Request) && len(list) > 1 {
		tries = 2
	}
	for try := range tries {
		in := list[(start+uint64(try))%uint64(len(list))]
		target, err := url.Parse(in.URL)
		if err != nil {
			continue
		}
		var failed error
		ctx := context.WithValue(context.WithValue(c.Request.Context(), targetKey{}, target), failKey{}, &failed)
		p.rp.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
		if failed == nil {
			return
		}
		p.s.log.Debug("proxy: instance failed", "slug", slug, "instance", in.ID, "url", in.URL, "err", failed)
		if !c.Writer.Written() && try+1 < tries && isDialError(failed) {
			continue // nothing reached the instance: safe to try another
		}
		if !c.Writer.Written() {
			p.s.writeError(c, errBadGateway)
		}
		return
	}
	p.s.writeError(c, errBadGateway)
}

// retryable requests can be sent again: idempotent and without a body.
func retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodPut:
		return r.ContentLength == 0 && (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0)
	}
	return false
}
