package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rosterhq/roster/api"
)

// prober runs http and tcp checks. Connections are not kept alive between
// probes (as Consul's HTTP checks do): a probe must see what a new client
// would, and a thousand idle connections per node would cost descriptors.
type prober struct {
	client *http.Client
	dialer *net.Dialer
}

func newProber(t Targets) *prober {
	d := &net.Dialer{Control: t.Control}
	return &prober{
		dialer: d,
		client: &http.Client{
			Transport: &http.Transport{
				DialContext:       d.DialContext,
				DisableKeepAlives: true,
				// Certificates are verified; an instance with a self-signed
				// certificate needs a tcp check.
				TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: 10 * time.Second,
			},
			// A redirect is an answer: 3xx passes without following it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// probe runs one check of row and says whether it passed, and why.
func (p *prober) probe(ctx context.Context, row seen, c api.Check) (bool, string) {
	pctx, cancel := context.WithTimeout(ctx, c.Timeout.D())
	defer cancel()
	var pass bool
	var reason string
	switch c.Type {
	case api.CheckHTTP:
		pass, reason = p.httpProbe(pctx, row.URL+c.Path)
	case api.CheckTCP:
		pass, reason = p.tcpProbe(pctx, dialAddr(row))
	default:
		return false, fmt.Sprintf("%s checks are not probed", c.Type)
	}
	if !pass && ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		reason += fmt.Sprintf(" (no answer within the %s timeout)", c.Timeout.D())
	}
	return pass, reason
}

func (p *prober) httpProbe(ctx context.Context, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, fmt.Sprintf("GET %s: %v", url, err)
	}
	req.Header.Set("User-Agent", "roster-health-check")
	resp, err := p.client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("GET %s: %v", url, unwrap(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	pass := resp.StatusCode >= 200 && resp.StatusCode < 400
	return pass, fmt.Sprintf("GET %s: %s", url, resp.Status)
}

func (p *prober) tcpProbe(ctx context.Context, addr string) (bool, string) {
	conn, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, fmt.Sprintf("dial %s: %v", addr, unwrap(err))
	}
	conn.Close()
	return true, "dial " + addr + ": connected"
}

// dialAddr is host:port of an instance (its IP when the URL names one).
func dialAddr(row seen) string {
	host := row.Host
	if host == "" {
		host = row.IP
	}
	return net.JoinHostPort(host, strconv.Itoa(row.Port))
}

// unwrap drops the wrapping whose words the reason already has ("Get
// url:", "dial tcp addr:").
func unwrap(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	return err
}

func (p *prober) close() {
	p.client.CloseIdleConnections()
}
