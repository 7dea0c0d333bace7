package fsm

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
)

var (
	schemePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*$`)
)

// NormalizeInstance completes a registration: it builds the URL from scheme,
// host or ip, port and path when no URL is given, or derives those fields from
// the URL when one is, and rejects fields that contradict the URL. It does not
// touch ID, status defaults or indexes.
func NormalizeInstance(in *Instance) error {
	if in.URL == "" {
		if err := buildURL(in); err != nil {
			return err
		}
	}
	if len(in.URL) > MaxURLLen {
		return Invalid("url", "is %d characters, the limit is %d", len(in.URL), MaxURLLen)
	}
	u, err := url.Parse(in.URL)
	if err != nil {
		return Invalid("url", "%q is not a URL: %v", in.URL, unwrapURLError(err))
	}
	if u.Scheme == "" || u.Host == "" {
		return Invalid("url", "%q must be absolute, like http://host:8080", in.URL)
	}
	if u.User != nil {
		return Invalid("url", "must not carry credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Invalid("url", "must not have a query or fragment")
	}
	scheme := strings.ToLower(u.Scheme)
	host := u.Hostname()
	port, err := urlPort(u, scheme)
	if err != nil {
		return err
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	if err := agree("scheme", in.Scheme, scheme); err != nil {
		return err
	}
	if err := agree("path", normalizePath(in.Path), path); err != nil {
		return err
	}
	if in.Port != 0 && in.Port != port {
		return Invalid("port", "%d contradicts the port %d of url %q", in.Port, port, in.URL)
	}
	if ip := net.ParseIP(host); ip != nil {
		if err := agree("ip", in.IP, ip.String()); err != nil {
			return err
		}
		if in.Host != "" && in.Host != host {
			return Invalid("host", "%q contradicts the address %q of url %q", in.Host, host, in.URL)
		}
		in.IP, in.Host = ip.String(), ""
	} else {
		if err := agree("host", strings.ToLower(in.Host), strings.ToLower(host)); err != nil {
			return err
		}
		if in.IP != "" && net.ParseIP(in.IP) == nil {
			return Invalid("ip", "%q is not an IP address", in.IP)
		}
		in.Host = host
	}
	in.Scheme, in.Port, in.Path = scheme, port, path
	return nil
}

// buildURL makes the URL from its parts, as the seed's
// `--scheme --host|--ip --port --path` registration does.
func buildURL(in *Instance) error {
	if in.Host == "" && in.IP == "" {
		return Invalid("url", "is required (or give host or ip, with scheme and port)")
	}
	scheme := in.Scheme
	if scheme == "" {
		scheme = "http"
	}
	if !schemePattern.MatchString(scheme) {
		return Invalid("scheme", "%q is not a URL scheme", scheme)
	}
	host := in.Host
	if host == "" {
		ip := net.ParseIP(in.IP)
		if ip == nil {
			return Invalid("ip", "%q is not an IP address", in.IP)
		}
		host = ip.String()
	}
	if strings.ContainsAny(host, "/?#@ ") {
		return Invalid("host", "%q is not a host name", host)
	}
	if in.Port < 0 || in.Port > 65535 {
		return Invalid("port", "%d is out of range 1-65535", in.Port)
	}
	hostport := host
	if in.Port != 0 {
		hostport = net.JoinHostPort(host, strconv.Itoa(in.Port))
	} else if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	in.URL = strings.ToLower(scheme) + "://" + hostport + normalizePath(in.Path)
	return nil
}

func urlPort(u *url.URL, scheme string) (int, error) {
	p := u.Port()
	if p == "" {
		switch scheme {
		case "http", "ws":
			return 80, nil
		case "https", "wss":
			return 443, nil
		}
		return 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, Invalid("port", "%q in url is out of range 1-65535", p)
	}
	return n, nil
}

// normalizePath gives a path one leading slash and no trailing one; the
// original server appended "/"+path and produced double slashes.
func normalizePath(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

func agree(field, given, fromURL string) error {
	if given != "" && !strings.EqualFold(given, fromURL) {
		return Invalid(field, "%q contradicts the url, which says %q", given, fromURL)
	}
	return nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// ValidateInstance checks a normalized instance before it is stored. Apply
// calls it too, so a replica never stores what a correct leader would refuse.
func ValidateInstance(in *Instance) error {
	if err := ValidateID("id", in.ID); err != nil {
		return err
	}
	if in.URL == "" {
		return Invalid("url", "is required")
	}
	if in.Slug != "" {
		if err := ValidateID("slug", in.Slug); err != nil {
			return err
		}
	}
	if in.DeploymentID != "" {
		if err := ValidateID("deploymentId", in.DeploymentID); err != nil {
			return err
		}
	}
	if in.Status != "" && !in.Status.Valid() {
		return Invalid("status", "%q is not one of %v", in.Status, Statuses)
	}
	if in.NodeURL != "" {
		if err := checkNodeURL(in.NodeURL); err != nil {
			return err
		}
	}
	if in.Check != nil {
		if err := ValidateCheck(in.Check); err != nil {
			return err
		}
	}
	if len(in.StatusReason) > MaxTextLen {
		return Invalid("statusReason", "is %d characters, the limit is %d", len(in.StatusReason), MaxTextLen)
	}
	if len(in.Details) > MaxTextLen {
		return Invalid("details", "is %d characters, the limit is %d", len(in.Details), MaxTextLen)
	}
	if err := ValidateMeta(in.Meta); err != nil {
		return err
	}
	if len(in.Tags) > MaxTags {
		return Invalid("tags", "has %d tags, the limit is %d", len(in.Tags), MaxTags)
	}
	for i, t := range in.Tags {
		if t == "" || len(t) > MaxTagLen {
			return Invalid("tags", "tag %d must be 1-%d characters", i, MaxTagLen)
		}
	}
	return nil
}

// ValidateDefinition checks a definition before it is stored.
func ValidateDefinition(d *Definition) error {
	if err := ValidateID("id", d.ID); err != nil {
		return err
	}
	switch {
	case d.Image == nil && d.Repository == nil:
		return Invalid("image", "a definition needs an image or a repository")
	case d.Image != nil && d.Repository != nil:
		return Invalid("repository", "a definition has an image or a repository, not both")
	case d.Image != nil:
		if strings.TrimSpace(d.Image.Name) == "" {
			return Invalid("image.name", "is required")
		}
		if err := validatePorts("image.internalPorts", d.Image.InternalPorts); err != nil {
			return err
		}
	default:
		if err := validateRepoURL(d.Repository.URL); err != nil {
			return err
		}
		if err := validatePorts("repository.internalPorts", d.Repository.InternalPorts); err != nil {
			return err
		}
	}
	if len(d.Ports)+len(d.Envars)+len(d.APISpecs)+len(d.Clients) > MaxListSize {
		return Invalid("definition", "has more than %d ports, envars, apiSpecs and clients", MaxListSize)
	}
	for i, p := range d.Ports {
		if p.Internal == 0 || p.Host == 0 {
			return Invalid("ports", "mapping %d needs internal and host ports in 1-65535", i)
		}
	}
	for i, e := range d.Envars {
		if strings.TrimSpace(e.Key) == "" {
			return Invalid("envars", "entry %d has no key", i)
		}
	}
	for i, c := range d.Clients {
		if c.Language == "" || c.URL == "" {
			return Invalid("clients", "entry %d needs language and url", i)
		}
	}
	return nil
}

func validatePorts(field string, ports []uint16) error {
	for _, p := range ports {
		if p == 0 {
			return Invalid(field, "port 0 is out of range 1-65535")
		}
	}
	return nil
}

// validateRepoURL accepts URLs and git's scp-like "git@host:org/repo.git".
func validateRepoURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return Invalid("repository.url", "is required")
	}
	if strings.ContainsAny(raw, " \t\n") || len(raw) > MaxURLLen {
		return Invalid("repository.url", "%q is not a repository URL", raw)
	}
	return nil
}

// lastNodeURL is the node URL that last passed checkNodeURL. Registrations
// carry the URL of the node that took them, a handful in a cluster, and
// every server checks every write's: parsing it each time was one of the
// five URL parses a write cost the cluster.
var lastNodeURL atomic.Pointer[string]

func checkNodeURL(raw string) error {
	if p := lastNodeURL.Load(); p != nil && *p == raw {
		return nil
	}
	if u, err := url.Parse(raw); err != nil || u.Scheme == "" || u.Host == "" {
		return Invalid("nodeUrl", "%q is not an absolute URL", raw)
	}
	lastNodeURL.Store(&raw)
	return nil
}
