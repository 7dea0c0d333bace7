package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/certs"
	"github.com/rosterhq/roster/httpapi"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/node/health"
	"github.com/rosterhq/roster/registrator"
)

type agentFlags struct {
	cfg              node.Config
	health           health.Settings
	selfURL          string
	logLevel         string
	logFormat        string
	encryptFile      string
	encryptArgv      string
	leaveOnTerminate bool
	debug            bool
	dev              bool
	tlsCA, tlsCert   string
	tlsKey           string
	allowTargets     []string
	acl              bool
	docker           bool
	demiNamespace    string
	dockerToken      string
	http             httpapi.Options
}

func newAgentCmd() *cobra.Command {
	f := &agentFlags{}
	d, hd := node.DefaultConfig(), health.DefaultSettings()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a Roster node (a lone agent is a working single-node cluster)",
		Long: `Run a Roster node. Every flag can also be set with ROSTER_<FLAG> (for example
ROSTER_DATA_DIR, ROSTER_JOIN=a:11338,b:11338). The seed's OB_SELF_URL, OB_NODE_ID,
OB_REGION and OB_AVAILABILITY_ZONE are read too. SIGINT/SIGTERM stop the node and keep it
in the cluster (a restart); "roster leave" or --leave-on-terminate remove it for good.`,
		Args: noArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd.Flags())
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.NodeID, "node-id", "", "unique node ID (env OB_NODE_ID; default: persisted in the data dir, else generated)")
	fl.StringVar(&f.cfg.DataDir, "data-dir", "", "data directory (default: $XDG_STATE_HOME/roster or ~/.local/state/roster)")
	fl.StringVar(&f.cfg.HTTPAddr, "http-addr", d.HTTPAddr, "HTTP API listen address (default: loopback, on the port of --self-url when that is given)")
	fl.StringVar(&f.cfg.GossipAddr, "gossip-addr", d.GossipAddr, "gossip listen address (TCP and UDP)")
	fl.StringVar(&f.cfg.RaftAddr, "raft-addr", d.RaftAddr, "Raft listen address")
	fl.StringVar(&f.cfg.Advertise, "advertise", "", "IP other nodes use to reach this one (default: bind IP, else a private IP)")
	fl.StringVar(&f.selfURL, "self-url", "", "this node's HTTP URL as other nodes reach it (env OB_SELF_URL)")
	fl.StringArrayVar(&f.cfg.Join, "join", nil, "gossip address of a member to join (repeatable; retried until it succeeds)")
	fl.IntVar(&f.cfg.BootstrapExpect, "bootstrap-expect", 0, "members to wait for before bootstrapping a new cluster, all of them voters (default 1 without --join)")
	fl.IntVar(&f.cfg.Voters, "voters", 0, "number of Raft voters the leader keeps (default 3, or --bootstrap-expect when larger)")
	fl.StringVar(&f.cfg.ServerMode, "server", d.ServerMode, "auto (the leader decides whether this node is a server or a client agent), always (a server whatever the count) or never (a client agent: no Raft log, a catalog replica streamed from a server)")
	fl.IntVar(&f.cfg.Servers, "servers", 0, "servers (voters plus spare non-voters) the leader keeps among auto nodes; every other node runs as a client agent (default 5, at least --voters)")
	fl.StringVar(&f.cfg.Region, "region", "", "region of this node (env OB_REGION)")
	fl.StringVar(&f.cfg.AZ, "availability-zone", "", "availability zone of this node (env OB_AVAILABILITY_ZONE)")
	fl.StringVar(&f.cfg.Timing, "timing", d.Timing, "gossip and Raft timings: lan, or local for clusters on one machine")
	fl.Uint64Var(&f.cfg.DiskReserve, "disk-reserve", node.DefaultDiskReserve, "free bytes the data dir's disk must keep: below it writes answer 507 disk_full (an alarm in `roster status`) until twice as much is free")
	fl.DurationVar(&f.cfg.StatusInterval, "status-interval", d.StatusInterval, "how often this node samples and gossips its CPU, memory, disk and GPU use (100ms-5m)")
	fl.DurationVar(&f.health.CheckInterval, "check-interval", hd.CheckInterval, "check interval of instances registered without a check (1s-1h)")
	fl.Float64Var(&f.health.SelfPreservation, "self-preservation", hd.SelfPreservation, "share of Unhealthy instances (at least 3) at which automatic deregistration pauses, in (0, 1]")
	fl.DurationVar(&f.health.HeartbeatRefresh, "heartbeat-refresh", hd.HeartbeatRefresh, "how often passing checks refresh lastHeartbeat in the catalog (1s-1h)")
	fl.StringVar(&f.encryptArgv, "encrypt", "", "refused: the key would show in ps")
	_ = fl.MarkHidden("encrypt")
	fl.StringVar(&f.encryptFile, "encrypt-file", "", "file holding the base64 gossip encryption key (16, 24 or 32 bytes); or env ROSTER_ENCRYPT, never the command line")
	fl.StringVar(&f.tlsCA, "tls-ca-file", "", "the cluster's CA certificate: with --tls-cert-file and --tls-key-file, Raft and every call between nodes run over mutual TLS and the HTTP API over https")
	fl.StringVar(&f.tlsCert, "tls-cert-file", "", "this node's certificate (`roster tls cert create --node-id ID`); it names the node ID")
	fl.StringVar(&f.tlsKey, "tls-key-file", "", "the key of --tls-cert-file (mode 600)")
	fl.BoolVar(&f.acl, "acl", false, "require a token on every request but the health probes and the proxy (default: on when other machines can reach the agent; `roster acl bootstrap` makes the first)")
	fl.BoolVar(&f.cfg.Insecure, "insecure", false, "let an agent that other machines can reach run without TLS and a gossip key (it warns at every start)")
	fl.StringArrayVar(&f.allowTargets, "allow-target", nil, "CIDR or address instances may point at although the target policy refuses it (loopback on a reachable agent, link-local); repeatable")
	fl.StringArrayVar(&f.http.AllowOrigins, "allow-origin", nil, "browser origin (https://ui.example.com) allowed to call the registry API besides the node's own; repeatable")
	fl.IntVar(&f.http.Quota.MaxInstances, "max-instances", api.DefaultMaxInstances, "instances the catalog may hold; registrations past it answer 507 quota_exceeded (0: no bound)")
	fl.Int64Var(&f.http.Quota.MaxBytes, "max-catalog-bytes", api.DefaultMaxBytes, "bytes of instances and definitions the catalog may hold (every replica keeps it in memory); writes past it answer 507 (0: no bound)")
	fl.IntVar(&f.http.MaxBlockingReads, "max-blocking-reads", 4096, "blocking reads (?index=) this node holds parked at once; more answer 429 with Retry-After")
	fl.IntVar(&f.http.MaxConnsPerClient, "http-max-conns-per-client", agent.DefaultMaxConnsPerClient, "connections one client address may hold open to the HTTP API; more are closed at once (-1: no cap)")
	fl.DurationVar(&f.http.WriteSpacing, "write-spacing", 10*time.Millisecond, "while this node is busy answering reads, the writes it forwards leave for the leader at most one batch (one Raft entry) per this interval (0-1s; 0: always at once)")
	fl.DurationVar(&f.http.WriteTimeout, "http-write-timeout", 30*time.Second, "how long an answer may take to write (a blocking read's time starts when its wait ends; proxied answers have none)")
	fl.DurationVar(&f.http.ProxyTimeout, "proxy-timeout", 30*time.Second, "how long the proxy waits for an instance's response headers")
	fl.BoolVar(&f.docker, "docker", false, "register this host's Docker containers from their DeMi labels (engine from DOCKER_HOST, default the local socket)")
	fl.StringVar(&f.demiNamespace, "demi-namespace", "demi", "label namespace the registrator follows: demi (every site) or demi.SITE (env DEMI_NAMESPACE)")
	fl.StringVar(&f.dockerToken, "docker-token", "", "the registrator's token when the cluster requires tokens; prefer env ROSTER_DOCKER_TOKEN (ps shows flags)")
	fl.BoolVar(&f.leaveOnTerminate, "leave-on-terminate", false, "leave the cluster for good on SIGINT/SIGTERM")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text, or json (one object a line) for log shippers")
	fl.BoolVar(&f.debug, "enable-debug", false, "serve Go's profiler at /debug/pprof/ on the HTTP API")
	fl.BoolVar(&f.dev, "dev", false, "throwaway single-node cluster: loopback only, data in a temporary directory removed on exit")
	return cmd
}

// seedEnv maps the seed's OB_* variables to flags; ROSTER_* wins over them.
var seedEnv = map[string]string{
	"node-id": "OB_NODE_ID", "self-url": "OB_SELF_URL", "region": "OB_REGION", "availability-zone": "OB_AVAILABILITY_ZONE",
	"demi-namespace": "DEMI_NAMESPACE",
}

// applyEnv sets every flag not given on the command line from ROSTER_<NAME>
// (then the seed's OB_* name), so env values are validated like flags.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		// ROSTER_ENCRYPT is the key itself, read by gossipKey; the hidden
		// --encrypt flag only refuses a key given on the command line.
		if err != nil || fl.Changed || fl.Name == "encrypt" {
			return
		}
		name := "ROSTER_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok && seedEnv[fl.Name] != "" {
			name = seedEnv[fl.Name]
			v, ok = os.LookupEnv(name)
		}
		if !ok || v == "" {
			return
		}
		values := []string{v}
		if fl.Value.Type() == "stringArray" {
			values = strings.Split(v, ",")
		}
		for _, one := range values {
			if serr := fs.Set(fl.Name, strings.TrimSpace(one)); serr != nil {
				err = usagef("%s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

func (f *agentFlags) run(cmd *cobra.Command) error {
	log, err := newLogger(f.logLevel, f.logFormat, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	cfg := f.cfg
	cfg.SelfURL, cfg.Logger, cfg.Version = f.selfURL, log, Version
	if f.dev {
		dir, err := devMode(cmd, &cfg)
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	if f.selfURL != "" && !cmd.Flags().Changed("http-addr") {
		// The seed sets only OB_SELF_URL: serve the port it advertises.
		port, err := urlPort(f.selfURL)
		if err != nil {
			return usagef("self URL %q (OB_SELF_URL): %v", f.selfURL, err)
		}
		cfg.HTTPAddr = net.JoinHostPort("127.0.0.1", port)
	}
	if cfg.DataDir == "" {
		if cfg.DataDir, err = defaultDataDir(); err != nil {
			return err
		}
	}
	if f.encryptArgv != "" {
		return usagef("--encrypt: a key on the command line is visible to every user of this machine (ps); " +
			"put it in a file (--encrypt-file, mode 600) or in ROSTER_ENCRYPT")
	}
	if cfg.EncryptKey, err = gossipKey(f.encryptFile, log); err != nil {
		return err
	}
	if f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" {
		if cfg.TLS, err = certs.LoadNode(f.tlsCA, f.tlsCert, f.tlsKey); err != nil {
			return usagef("TLS: %v", err)
		}
		if left := time.Until(cfg.TLS.Expires()); left < 30*24*time.Hour {
			log.Warn("this node's certificate expires soon: make a new one with `roster tls cert create` and restart",
				"expires", cfg.TLS.Expires().Format(time.RFC3339))
		}
	}
	if f.health.Targets.Allow, err = health.ParseAllow(f.allowTargets); err != nil {
		return usageError{err}
	}
	for i, o := range f.http.AllowOrigins {
		if f.http.AllowOrigins[i], err = parseOrigin(o); err != nil {
			return usagef("--allow-origin %q: %v", o, err)
		}
	}
	if f.http.Quota.MaxInstances < 0 || f.http.Quota.MaxBytes < 0 {
		return usagef("--max-instances %d, --max-catalog-bytes %d: want 0 (no bound) or more", f.http.Quota.MaxInstances, f.http.Quota.MaxBytes)
	}
	if f.http.MaxBlockingReads < 1 || f.http.MaxBlockingReads > 1_000_000 {
		return usagef("--max-blocking-reads %d: want 1-1000000", f.http.MaxBlockingReads)
	}
	if f.http.MaxConnsPerClient < -1 || f.http.MaxConnsPerClient == 0 {
		return usagef("--http-max-conns-per-client %d: want a positive number, or -1 for no cap", f.http.MaxConnsPerClient)
	}
	if f.http.WriteSpacing < 0 || f.http.WriteSpacing > time.Second {
		return usagef("--write-spacing %v: want 0-1s", f.http.WriteSpacing)
	}
	if f.http.WriteTimeout < time.Second || f.http.WriteTimeout > time.Hour {
		return usagef("--http-write-timeout %v: want 1s-1h", f.http.WriteTimeout)
	}
	if f.http.ProxyTimeout < time.Second || f.http.ProxyTimeout > time.Hour {
		return usagef("--proxy-timeout %v: want 1s-1h", f.http.ProxyTimeout)
	}
	opts := f.http
	opts.Debug = f.debug
	if opts.LibraryMetrics, err = httpapi.BridgeLibraryMetrics(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	acl := agent.ACLAuto
	if cmd.Flags().Changed("acl") {
		acl = agent.ACLOff
		if f.acl {
			acl = agent.ACLOn
		}
	}
	var dockerCfg *agent.DockerConfig
	if f.docker {
		if _, err := registrator.ParseNamespace(f.demiNamespace); err != nil {
			return usagef("--demi-namespace: %v", err)
		}
		dockerCfg = &agent.DockerConfig{Namespace: f.demiNamespace, Token: f.dockerToken}
	}
	a, err := agent.Start(agent.Config{Node: cfg, Health: f.health, HTTP: opts, ACL: acl, Docker: dockerCfg})
	if err != nil {
		return err
	}
	if f.dev {
		printDevBanner(cmd.OutOrStdout(), a.Node.SelfURL(), cfg.DataDir)
	}
	select {
	case <-cmd.Context().Done():
		if f.leaveOnTerminate {
			log.Info("leaving the cluster (--leave-on-terminate)")
			return a.Leave(15 * time.Second)
		}
		log.Info("shutting down; this node stays in the cluster configuration")
		return a.Close()
	case <-a.Done():
		log.Info("agent stopped")
		return nil
	}
}

func newLogger(level, format string, w interface{ Write([]byte) (int, error) }) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// devMode settles a --dev agent: a temporary data dir (returned, for the
// caller to remove), every listener on loopback, local timings, no peers.
func devMode(cmd *cobra.Command, cfg *node.Config) (string, error) {
	fl := cmd.Flags()
	for _, name := range []string{"data-dir", "join", "bootstrap-expect"} {
		if fl.Changed(name) {
			return "", usagef("--dev runs a throwaway single-node cluster in a temporary directory; drop --%s", name)
		}
	}
	dir, err := os.MkdirTemp("", "roster-dev-")
	if err != nil {
		return "", err
	}
	cfg.DataDir = dir
	if !fl.Changed("gossip-addr") {
		cfg.GossipAddr = "127.0.0.1:11338"
	}
	if !fl.Changed("raft-addr") {
		cfg.RaftAddr = "127.0.0.1:11339"
	}
	if !fl.Changed("timing") {
		cfg.Timing = "local"
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "dev"
	}
	return dir, nil
}

func printDevBanner(w io.Writer, url, dir string) {
	fmt.Fprintf(w, `Roster dev agent: a single-node cluster on %s.
Its data lives in %s and is removed when it stops (Ctrl-C).

Try, in another terminal:
  roster status
  roster instances register --url http://127.0.0.1:8080 --slug demo
  roster services ls
`, url, dir)
	if url != "http://127.0.0.1:11337" {
		fmt.Fprintf(w, "  (set ROSTER_ADDR=%s first)\n", url)
	}
}

// gossipKey reads the gossip encryption key from --encrypt-file or, without
// one, ROSTER_ENCRYPT; nil when neither is set. A key is never taken from
// the command line, where every user of the machine sees it in ps.
func gossipKey(file string, log *slog.Logger) ([]byte, error) {
	text, from := os.Getenv("ROSTER_ENCRYPT"), "ROSTER_ENCRYPT"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usagef("--encrypt-file: %v", err)
		}
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			log.Warn("the gossip key file is readable by other users; chmod 600 it", "file", file, "mode", st.Mode().Perm().String())
		}
		text, from = string(b), "--encrypt-file "+file
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return nil, usagef("%s: want the base64 of a 16, 24 or 32 byte key", from)
	}
	return key, nil
}

// urlPort is the port a URL names, or its scheme's default.
func urlPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", errors.New("want http(s)://host:port")
	}
	if p := u.Port(); p != "" {
		return p, nil
	}
	if u.Scheme == "https" {
		return "443", nil
	}
	return "80", nil
}

// defaultDataDir is the user's state directory (XDG), so a bare
// `roster agent` keeps its data across restarts.
func defaultDataDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "roster"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("no home directory to keep data in: set --data-dir")
	}
	return filepath.Join(home, ".local", "state", "roster"), nil
}

// parseOrigin reads a browser origin as a browser sends one in its Origin
// header (scheme://host[:port], no path), since only such an entry can
// ever match: "*", a bare host or a URL with a path would be kept and match
// nothing. A trailing "/" and the scheme's own port are dropped.
func parseOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return "", err
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("want an origin like https://ui.example.com (http or https, the host, a port if not the scheme's)")
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("want an origin like https://ui.example.com: the scheme, the host and a port only, no path")
	}
	host := u.Host
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p) // a browser leaves the scheme's own port out of Origin
	}
	return u.Scheme + "://" + host, nil
}
