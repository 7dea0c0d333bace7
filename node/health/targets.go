package health

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/rosterhq/roster/api"
)

// Targets decides which addresses instances may point at. The health
// checks and the proxy connect to them on behalf of whoever registered the
// instance, so an outsider must not aim the agent at a cloud metadata
// endpoint (link-local), at services bound to its loopback, or at itself.
// Registration refuses an IP literal the policy forbids; every dial of a
// check or of the proxy checks the resolved address again (a name may
// resolve anywhere, and differently tomorrow).
type Targets struct {
	// Loopback allows loopback targets: the agent is loopback-only (a
	// cluster of one machine, as in development and tests).
	Loopback bool
	// Allow are CIDRs allowed whatever their kind (--allow-target).
	Allow []netip.Prefix
}

// TargetSchemes are the URL schemes an instance may have: what the checks
// and the proxy speak.
var TargetSchemes = map[string]bool{"http": true, "https": true, "tcp": true}

// CheckIP says why ip may not be a target, or nil.
func (t Targets) CheckIP(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, p := range t.Allow {
		if p.Contains(ip) {
			return nil
		}
	}
	switch {
	case ip.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address", ip)
	case ip.IsMulticast():
		return fmt.Errorf("%s is a multicast address", ip)
	case ip.IsLinkLocalUnicast():
		return fmt.Errorf("%s is link-local (where cloud metadata services answer)", ip)
	case ip.IsLoopback() && !t.Loopback:
		return fmt.Errorf("%s is loopback: allowed only on an agent that is itself loopback-only, or with --allow-target", ip)
	}
	return nil
}

// CheckURL checks an instance URL at registration: its scheme, and its
// host when that is an IP address or localhost.
func (t Targets) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return api.Invalid("url", "%q is not a URL", raw)
	}
	return t.CheckHost(u.Scheme, u.Hostname())
}

// CheckHost is CheckURL for a URL already split: its scheme and its host
// as url.URL.Hostname gives it (a name, or an IP address in any form).
func (t Targets) CheckHost(scheme, host string) error {
	if !TargetSchemes[strings.ToLower(scheme)] {
		return api.Invalid("url", "scheme %q: want http, https or tcp (what the checks and the proxy speak)", scheme)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		host = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := t.CheckIP(ip); err != nil {
			return api.Invalid("url", "%v", err)
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses a connection to a
// forbidden address after name resolution.
func (t Targets) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("target %s: %v", address, err)
	}
	if err := t.CheckIP(ip); err != nil {
		return fmt.Errorf("target refused: %w", err)
	}
	return nil
}

// ParseAllow parses --allow-target values (CIDRs or single addresses).
func ParseAllow(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--allow-target %q: want a CIDR (10.0.0.0/8) or an address", v)
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
