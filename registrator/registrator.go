package registrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	docker "github.com/moby/moby/client"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// DefaultResync is how often every container is reconciled even when the
// event stream says nothing (a missed event must not leave a stale entry).
const DefaultResync = 30 * time.Second

// opTimeout bounds one round of work (a sync, one event's handling): a
// stuck engine or node call must not wedge the loop.
const opTimeout = time.Minute

// Config of a registrator.
type Config struct {
	Namespace Namespace
	// Docker is the engine's client (docker.FromEnv: DOCKER_HOST).
	Docker *docker.Client
	// API is this node's HTTP API; NodeURL this node's URL (the instances'
	// nodeUrl) and Host its advertised address (URLs without a host label).
	API     *client.Client
	NodeURL string
	Host    string
	Resync  time.Duration
	Logger  *slog.Logger
}

// Registrator keeps the catalog in step with the node's containers.
type Registrator struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	containers map[string]*tracked // by container ID
	connected  bool
	lastSync   time.Time
	lastErr    string
	logged     map[string]string // what was logged about a container, to log a refusal once

	cancel context.CancelFunc
	done   chan struct{}
}

// tracked is what this node registered for one container.
type tracked struct {
	c        Container
	services []Service
	errs     map[string]string
}

// New returns a registrator; Start runs it.
func New(cfg Config) *Registrator {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registrator{cfg: cfg, log: cfg.Logger, containers: map[string]*tracked{}, logged: map[string]string{}, done: make(chan struct{})}
}

// Start follows the engine until Stop.
func (r *Registrator) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
}

// Stop ends the registrator and closes its engine client; what it
// registered stays (the node may come back; a resync then reconciles).
func (r *Registrator) Stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	r.cfg.Docker.Close()
}

// Status says what the registrator has done.
func (r *Registrator) Status() api.RegistratorStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := api.RegistratorStatus{Enabled: true, Namespace: r.cfg.Namespace.String(), Connected: r.connected,
		LastSync: r.lastSync, LastError: r.lastErr, Containers: []api.ContainerServices{}}
	for _, id := range slices.Sorted(maps.Keys(r.containers)) {
		t := r.containers[id]
		cs := api.ContainerServices{ID: id, Name: t.c.Name, Paused: t.c.Paused, Services: []api.RegisteredService{}}
		for _, s := range t.services {
			cs.Services = append(cs.Services, api.RegisteredService{Slug: s.Slug(), InstanceID: s.InstanceID(id), URL: s.URL})
		}
		if len(t.errs) > 0 {
			cs.Errors = maps.Clone(t.errs)
		}
		st.Containers = append(st.Containers, cs)
	}
	return st
}

func (r *Registrator) run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		// Subscribe first, then list: a container that starts in between
		// is in one or the other (registrator's lesson).
		sctx, stop := context.WithCancel(ctx)
		stream := r.cfg.Docker.Events(sctx, docker.EventsListOptions{Filters: docker.Filters{}.Add("type", string(events.ContainerEventType))})
		err := r.sync(ctx)
		if err == nil {
			backoff = time.Second
			err = r.follow(ctx, stream)
		}
		stop()
		r.setConnected(false, err)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("docker: event stream lost; reconnecting and resyncing", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (r *Registrator) follow(ctx context.Context, stream docker.EventsResult) error {
	tick := time.NewTicker(r.cfg.Resync)
	defer tick.Stop()
	for {
		select {
		case m, ok := <-stream.Messages:
			if !ok {
				return errors.New("the event stream closed")
			}
			hctx, cancel := context.WithTimeout(ctx, opTimeout)
			r.handle(hctx, m)
			cancel()
		case err := <-stream.Err:
			if err == nil {
				err = errors.New("the event stream ended")
			}
			return err
		case <-tick.C:
			if err := r.sync(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Registrator) setConnected(ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connected = ok
	if err != nil && !errors.Is(err, context.Canceled) {
		r.lastErr = err.Error()
	}
}

// handle takes one container event.
func (r *Registrator) handle(ctx context.Context, m events.Message) {
	id := m.Actor.ID
	switch action := string(m.Action); {
	case action == string(events.ActionStart), action == string(events.ActionUnPause), action == string(events.ActionRestart),
		strings.HasPrefix(action, string(events.ActionHealthStatus)):
		r.refresh(ctx, id)
	case action == string(events.ActionPause):
		r.refresh(ctx, id)
	case action == string(events.ActionDie), action == string(events.ActionStop), action == string(events.ActionDestroy),
		action == string(events.ActionOOM):
		r.remove(ctx, id)
	}
}

// sync reconciles every running container and what the catalog holds for
// this node: containers that run are registered, anything registered here
// for a container that does not run is removed.
func (r *Registrator) sync(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, opTimeout)
	defer cancel()
	list, err := r.cfg.Docker.ContainerList(ctx, docker.ContainerListOptions{})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	running := map[string]bool{}
	for _, c := range list.Items {
		running[c.ID] = true
		r.refresh(ctx, c.ID)
	}
	r.mu.Lock()
	var gone []string
	for id := range r.containers {
		if !running[id] {
			gone = append(gone, id)
		}
	}
	r.mu.Unlock()
	for _, id := range gone {
		r.remove(ctx, id)
	}
	// What an earlier run of this node registered (the agent was down
	// while containers died): its instances carry their container's ID.
	rows, _, err := r.cfg.API.ListInstances(ctx, api.InstanceFilter{NodeURL: r.cfg.NodeURL}, client.ListOptions{})
	if err != nil {
		return fmt.Errorf("list this node's instances: %w", err)
	}
	for _, in := range rows {
		cid := in.Meta[metaContainer]
		if cid == "" || running[cid] || !r.ours(in) {
			continue
		}
		r.log.Info("docker: removing an instance whose container no longer runs", "instance", in.ID, "container", short(cid))
		r.drop(ctx, in.ID, Service{Site: in.Meta[metaSite], Stack: in.Meta[metaStack], Name: in.Meta[metaService]})
	}
	r.mu.Lock()
	r.lastSync, r.connected = time.Now(), true
	r.mu.Unlock()
	return nil
}

// ours: an instance of a site this registrator registers.
func (r *Registrator) ours(in *api.Instance) bool {
	return r.cfg.Namespace.site == "" || in.Meta[metaSite] == r.cfg.Namespace.site
}

// Meta keys the registrator adds beside the labels' keys.
const (
	metaSite          = "demi.site"
	metaStack         = "demi.stack"
	metaService       = "demi.service"
	metaContainer     = "demi.container"
	metaContainerName = "demi.container_name"
)

// refresh registers a running container's services (again), or removes
// them when it no longer runs.
func (r *Registrator) refresh(ctx context.Context, id string) {
	res, err := r.cfg.Docker.ContainerInspect(ctx, id, docker.ContainerInspectOptions{})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("docker: inspect", "container", short(id), "err", err)
			r.remove(ctx, id)
		}
		return
	}
	info := res.Container
	if info.State == nil || !info.State.Running {
		r.remove(ctx, id)
		return
	}
	c := Container{ID: info.ID, Name: strings.TrimPrefix(info.Name, "/"), Paused: info.State.Paused, Ports: map[string][]string{}}
	if info.Config != nil {
		c.Labels = info.Config.Labels
	}
	if info.State.Health != nil {
		c.Health = string(info.State.Health.Status)
	}
	if info.NetworkSettings != nil {
		for port, bindings := range info.NetworkSettings.Ports {
			for _, b := range bindings {
				if b.HostPort != "" {
					c.Ports[port.String()] = append(c.Ports[port.String()], b.HostPort)
				}
			}
		}
	}
	svcs, errs := r.cfg.Namespace.Services(c, r.cfg.Host)
	if len(svcs) == 0 && len(errs) == 0 {
		return // no label of this namespace
	}
	t := &tracked{c: c, errs: map[string]string{}}
	for slug, err := range errs {
		t.errs[slug] = err.Error()
	}
	r.mu.Lock()
	before := r.containers[id]
	r.mu.Unlock()
	for _, s := range svcs {
		if err := r.register(ctx, c, s, before); err != nil {
			t.errs[s.Slug()] = err.Error()
			continue
		}
		t.services = append(t.services, s)
	}
	r.logOnce(c, t.errs)
	r.mu.Lock()
	r.containers[id] = t
	r.mu.Unlock()
}

// logOnce logs a container's refused services when they change.
func (r *Registrator) logOnce(c Container, errs map[string]string) {
	var parts []string
	for _, slug := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, slug+": "+errs[slug])
	}
	msg := strings.Join(parts, "; ")
	r.mu.Lock()
	seen := r.logged[c.ID]
	r.logged[c.ID] = msg
	r.mu.Unlock()
	if msg != "" && msg != seen {
		r.log.Warn("docker: services not registered", "container", c.Name, "id", short(c.ID), "reasons", msg)
	}
}

// register writes one service: its instance and its KV keys. A service
// registered before with the same URL and state keeps its instance as it
// is (no write), and only its keys are put right.
func (r *Registrator) register(ctx context.Context, c Container, s Service, before *tracked) error {
	status, reason := api.Status(""), ""
	switch {
	case c.Paused:
		status, reason = api.StatusStopping, "container paused"
	case s.HealthPath == "" && c.Health == "healthy":
		status, reason = api.StatusHealthy, "docker health: healthy"
	case s.HealthPath == "" && c.Health == "unhealthy":
		status, reason = api.StatusUnhealthy, "docker health: unhealthy"
	}
	if before != nil && before.c.Paused == c.Paused && before.c.Health == c.Health &&
		slices.ContainsFunc(before.services, func(b Service) bool { return b.Slug() == s.Slug() && b.URL == s.URL }) {
		// Registered already; its keys are checked again (one local
		// read): another host's container of the same service may have
		// removed them on its way out.
		return r.putKeys(ctx, s)
	}
	meta := maps.Clone(s.Keys)
	meta[metaSite], meta[metaStack], meta[metaService] = s.Site, s.Stack, s.Name
	meta[metaContainer], meta[metaContainerName] = c.ID, c.Name
	req := client.RegisterRequest{ID: s.InstanceID(c.ID), URL: s.URL, Slug: s.Slug(), Meta: meta, Details: s.Keys["description"]}
	switch {
	case s.HealthPath != "":
		req.Check = &api.Check{Type: api.CheckHTTP, Path: s.HealthPath}
	case c.Health != "":
		// Docker checks it already: its verdict is the status.
		req.Check = &api.Check{Type: api.CheckNone}
	}
	if _, err := r.cfg.API.RegisterInstance(ctx, req); err != nil {
		return fmt.Errorf("register %s: %w", s.URL, err)
	}
	if status != "" {
		if _, err := r.cfg.API.SetInstanceStatus(ctx, req.ID, status, reason); err != nil {
			return fmt.Errorf("set status %s: %w", status, err)
		}
	} else if before != nil && before.c.Paused {
		if _, err := r.cfg.API.SetInstanceStatus(ctx, req.ID, api.StatusUnknown, "container unpaused"); err != nil {
			return fmt.Errorf("set status Unknown: %w", err)
		}
	}
	return r.putKeys(ctx, s)
}

// putKeys writes the service's keys under its KV prefix: only those that
// changed, and removes the ones its labels no longer have.
func (r *Registrator) putKeys(ctx context.Context, s Service) error {
	have, _, err := r.cfg.API.KVList(ctx, s.KVPrefix(), client.ListOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", s.KVPrefix(), err)
	}
	stored := map[string]string{}
	for _, e := range have {
		stored[strings.TrimPrefix(e.Key, s.KVPrefix())] = string(e.Value)
	}
	for k, v := range s.Keys {
		if old, ok := stored[k]; ok && old == v {
			continue
		}
		if _, err := r.cfg.API.KVPut(ctx, s.KVPrefix()+k, []byte(v), nil); err != nil {
			return fmt.Errorf("write %s%s: %w", s.KVPrefix(), k, err)
		}
	}
	for k := range stored {
		if _, ok := s.Keys[k]; !ok {
			if _, err := r.cfg.API.KVDelete(ctx, s.KVPrefix()+k, false, nil); err != nil && api.CodeOf(err) != api.CodeNotFound {
				return err
			}
		}
	}
	return nil
}

// remove deregisters what a container had registered.
func (r *Registrator) remove(ctx context.Context, id string) {
	r.mu.Lock()
	t := r.containers[id]
	delete(r.containers, id)
	delete(r.logged, id)
	r.mu.Unlock()
	if t == nil {
		return
	}
	for _, s := range t.services {
		r.drop(ctx, s.InstanceID(id), s)
	}
}

// drop removes an instance and its service's keys, unless another of this
// node's containers still provides the service (its keys are then written
// again).
func (r *Registrator) drop(ctx context.Context, instanceID string, s Service) {
	if err := r.cfg.API.DeleteInstance(ctx, instanceID); err != nil && api.CodeOf(err) != api.CodeNotFound {
		r.log.Warn("docker: deregister", "instance", instanceID, "err", err)
	}
	if s.Site == "" || s.Stack == "" || s.Name == "" {
		return
	}
	r.mu.Lock()
	var still *Service
	for _, t := range r.containers {
		for i := range t.services {
			if t.services[i].Slug() == s.Slug() {
				still = &t.services[i]
			}
		}
	}
	r.mu.Unlock()
	if _, err := r.cfg.API.KVDelete(ctx, s.KVPrefix(), true, nil); err != nil {
		r.log.Warn("docker: remove keys", "prefix", s.KVPrefix(), "err", err)
	}
	if still != nil {
		if err := r.putKeys(ctx, *still); err != nil {
			r.log.Warn("docker: rewrite keys", "prefix", s.KVPrefix(), "err", err)
		}
	}
}
