package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is a workload.
type Mode string

// Workloads.
const (
	// ModeRegister registers unique instances.
	ModeRegister Mode = "register"
	// ModeDeregister registers Total instances untimed, then removes them.
	ModeDeregister Mode = "deregister"
	// ModeRead lists one slug of InstancesPerSlug instances.
	ModeRead Mode = "read"
	// ModeMixed reads with probability ReadRatio and registers otherwise.
	ModeMixed Mode = "mixed"
)

// LoadConfig describes one load run.
type LoadConfig struct {
	// Addrs are node URLs, used round robin.
	Addrs   []string
	Mode    Mode
	Clients int
	// Total ops, or Duration; with both, whichever ends first.
	Total    int
	Duration time.Duration
	// InstancesPerSlug groups registered instances into slugs, and is the
	// size of the slug that read runs list (default 100).
	InstancesPerSlug int
	// Consistent makes reads go through the leader with a quorum check.
	Consistent bool
	// ReadRatio is the share of reads in mixed runs (default 0.9).
	ReadRatio float64
	// Prefix names this run's slugs and URL paths (default bench-<random>),
	// so runs never collide.
	Prefix string
	// Keys, when set, makes registrations cycle through this many URLs
	// (upserts after the first round), so a long run does not grow the
	// catalog the later rows measure.
	Keys int
	// Progress, when set, gets a line a second while the run goes.
	Progress io.Writer
	// TLS verifies https nodes (the cluster's CA); nil: the system's.
	TLS *tls.Config `json:"-"`
	// Token is sent as the bearer token ("": none).
	Token string `json:"-"`
}

// Result is what one run measured.
type Result struct {
	Mode      Mode    `json:"mode"`
	Clients   int     `json:"clients"`
	Ops       int     `json:"ops"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"opsPerSec"`
	Latency   Latency `json:"latency"`
	// ErrorsByCode counts failures by HTTP status, or "transport".
	ErrorsByCode map[string]int `json:"errorsByCode"`
	// FirstError describes the first transport failure, if any.
	FirstError string `json:"firstError,omitempty"`
}

// Validate checks a configuration and fills its defaults.
func (c *LoadConfig) Validate() error {
	switch c.Mode {
	case ModeRegister, ModeDeregister, ModeRead, ModeMixed:
	default:
		return fmt.Errorf("mode %q: want register, deregister, read or mixed", c.Mode)
	}
	if len(c.Addrs) == 0 {
		return errors.New("no node address")
	}
	for _, a := range c.Addrs {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("node address %q: want http(s)://host:port", a)
		}
	}
	if c.Clients < 1 || c.Clients > 4096 {
		return fmt.Errorf("clients %d: want 1-4096", c.Clients)
	}
	if c.Total < 0 || c.Duration < 0 || (c.Total == 0 && c.Duration == 0) {
		return errors.New("give a positive total or duration")
	}
	if c.Mode == ModeDeregister && c.Total == 0 {
		return errors.New("deregister needs a total: the instances it registers first, then removes")
	}
	if c.InstancesPerSlug == 0 {
		c.InstancesPerSlug = 100
	}
	if c.InstancesPerSlug < 1 || c.InstancesPerSlug > 1_000_000 {
		return fmt.Errorf("instances per slug %d: want 1-1000000", c.InstancesPerSlug)
	}
	if c.ReadRatio == 0 {
		c.ReadRatio = 0.9
	}
	if c.ReadRatio < 0 || c.ReadRatio > 1 {
		return fmt.Errorf("read ratio %v: want 0-1", c.ReadRatio)
	}
	// The token goes into a header line as it is.
	if strings.ContainsFunc(c.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("token: holds a space or a control character")
	}
	if c.Prefix == "" {
		c.Prefix = fmt.Sprintf("bench-%06x", rand.N(1<<24))
	}
	return nil
}

// loader runs one configured load.
type loader struct {
	cfg  LoadConfig
	hc   *rawClient
	next atomic.Int64
	ids  []string // deregister: the instances to remove
}

// Load runs a workload and measures it. Setup (registering what a read or
// deregister run needs) is not timed.
func Load(ctx context.Context, cfg LoadConfig) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &loader{cfg: cfg, hc: &rawClient{tls: cfg.TLS}}
	defer l.hc.closeIdle()
	if err := l.setup(ctx); err != nil {
		return nil, err
	}
	return l.run(ctx)
}

func (l *loader) setup(ctx context.Context) error {
	switch l.cfg.Mode {
	case ModeRead, ModeMixed:
		// The slug read is prefix-read; fill it (a re-run upserts).
		for i := range l.cfg.InstancesPerSlug {
			if _, err := l.register(ctx, l.cfg.Addrs[0], fmt.Sprintf("%s-read", l.cfg.Prefix), "r"+strconv.Itoa(i)); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
		}
	case ModeDeregister:
		reg := l.cfg
		reg.Mode, reg.Duration, reg.Progress = ModeRegister, 0, nil
		pre := &loader{cfg: reg, hc: l.hc, ids: make([]string, reg.Total)}
		res, err := pre.run(ctx)
		if err != nil {
			return err
		}
		if res.Errors > 0 {
			return fmt.Errorf("setup: %d of %d registrations failed: %v", res.Errors, res.Ops, res.ErrorsByCode)
		}
		l.ids = pre.ids
	}
	return nil
}

type worker struct {
	lat      []time.Duration
	errs     map[string]int
	rng      *rand.Rand
	firstErr error
}

func (l *loader) run(ctx context.Context) (*Result, error) {
	if l.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.Duration)
		defer cancel()
	}
	workers := make([]*worker, l.cfg.Clients)
	var done atomic.Int64
	stopProgress := l.progress(&done)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		workers[w] = &worker{errs: map[string]int{}, rng: rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))}
		wg.Add(1)
		go func(wk *worker) {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(l.next.Add(1)) - 1
				if l.cfg.Total > 0 && n >= l.cfg.Total {
					return
				}
				t0 := time.Now()
				code, err := l.op(ctx, wk, n)
				if (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) && l.cfg.Duration > 0 {
					return // cut off by the clock: not a failure
				}
				wk.lat = append(wk.lat, time.Since(t0))
				switch {
				case err != nil:
					wk.errs["transport"]++
					if wk.firstErr == nil {
						wk.firstErr = err
					}
				case code >= 300:
					wk.errs[strconv.Itoa(code)]++
				}
				done.Add(1)
			}
		}(workers[w])
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	res := &Result{Mode: l.cfg.Mode, Clients: l.cfg.Clients, Seconds: elapsed.Seconds(), ErrorsByCode: map[string]int{}}
	var all []time.Duration
	for _, wk := range workers {
		all = append(all, wk.lat...)
		for k, v := range wk.errs {
			res.ErrorsByCode[k] += v
			res.Errors += v
		}
		if wk.firstErr != nil && res.FirstError == "" {
			res.FirstError = wk.firstErr.Error()
		}
	}
	res.Ops = len(all)
	res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	res.Latency = summarise(all)
	if ctx.Err() != nil && l.cfg.Duration == 0 {
		return res, ctx.Err()
	}
	return res, nil
}

// progress prints a line a second until stopped.
func (l *loader) progress(done *atomic.Int64) func() {
	if l.cfg.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := int64(0)
		for {
			select {
			case <-stop:
				fmt.Fprintln(l.cfg.Progress)
				return
			case <-tick.C:
				n := done.Load()
				fmt.Fprintf(l.cfg.Progress, "\r  %5.1fs  %8d ops  %7d ops/s ", time.Since(start).Seconds(), n, n-last)
				last = n
			}
		}
	}()
	return func() { close(stop); <-finished }
}

// op runs operation n and returns the HTTP status.
func (l *loader) op(ctx context.Context, wk *worker, n int) (int, error) {
	addr := l.cfg.Addrs[n%len(l.cfg.Addrs)]
	switch l.cfg.Mode {
	case ModeRegister:
		return l.registerOp(ctx, addr, n)
	case ModeDeregister:
		return l.send(ctx, http.MethodDelete, addr+"/registry-svc/instance/"+url.PathEscape(l.ids[n]), nil, nil)
	case ModeMixed:
		if wk.rng.Float64() >= l.cfg.ReadRatio {
			return l.registerOp(ctx, addr, n)
		}
	}
	q := "?slug=" + url.QueryEscape(l.cfg.Prefix+"-read")
	if l.cfg.Consistent {
		q += "&consistent"
	}
	return l.send(ctx, http.MethodGet, addr+"/registry-svc/instances"+q, nil, nil)
}

func (l *loader) registerOp(ctx context.Context, addr string, n int) (int, error) {
	if l.cfg.Keys > 0 {
		n %= l.cfg.Keys
	}
	slug := fmt.Sprintf("%s-%d", l.cfg.Prefix, n/l.cfg.InstancesPerSlug)
	return l.register(ctx, addr, slug, strconv.Itoa(n))
}

// register upserts one instance whose URL is unique to (prefix, key). Its
// check is none: a benchmark must not have the cluster probe made-up hosts.
func (l *loader) register(ctx context.Context, addr, slug, key string) (int, error) {
	body := fmt.Sprintf(`{"url":"http://10.255.0.1:8080/%s/%s","slug":%q,"check":{"type":"none"}}`, l.cfg.Prefix, key, slug)
	var out struct {
		Instance struct {
			ID string `json:"id"`
		} `json:"instance"`
	}
	// The answer is read whole either way; decoded only when a later
	// phase needs the IDs (the loader shares the cores it measures).
	var dst any
	if l.ids != nil {
		dst = &out
	}
	code, err := l.send(ctx, http.MethodPut, addr+"/registry-svc/instance", []byte(body), dst)
	if err == nil && code == http.StatusCreated && l.ids != nil {
		if n, perr := strconv.Atoi(key); perr == nil && n < len(l.ids) {
			l.ids[n] = out.Instance.ID
		}
	}
	return code, err
}

func (l *loader) send(ctx context.Context, method, u string, body []byte, out any) (int, error) {
	var read func(io.Reader) error
	if out != nil {
		read = func(r io.Reader) error { return json.NewDecoder(r).Decode(out) }
	}
	return l.hc.do(ctx, method, u, l.cfg.Token, body, read)
}

// answerBuffer is the size of the loader's reads of an answer: a slug of
// 100 instances is ~38 KB, which io.Discard would read 8 KB at a time and
// the transport's default buffer 4 KB at a time, a read system call each;
// the loader shares the machine's cores with the cluster it measures, so
// its system calls are taken from the servers (etcd's gRPC client reads
// 32 KB at a time).
const answerBuffer = 64 << 10

var answerBuffers = sync.Pool{New: func() any { b := make([]byte, answerBuffer); return &b }}

// discard is io.Discard without its ReadFrom, so that io.CopyBuffer reads
// into the buffer it is given.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// SplitAddrs reads a comma-separated list of node URLs.
func SplitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, strings.TrimSuffix(a, "/"))
		}
	}
	return out
}
