package registrator

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/api"
)

// Container is what the registrator needs of a container (from docker
// inspect).
type Container struct {
	ID, Name string
	Labels   map[string]string
	// Ports maps a container port ("8000/tcp") to its published host
	// ports.
	Ports map[string][]string
	// Paused, and Health is Docker's own health ("healthy", "unhealthy",
	// "starting", or "" without a healthcheck).
	Paused bool
	Health string
}

// Service is one service a container's labels describe, ready to register.
type Service struct {
	Site, Stack, Name string
	// Keys are the service's labels by KEY, with the derived url and
	// swagger_url (a label of that name wins).
	Keys map[string]string
	URL  string
	// HealthPath is the health label: an http check on that path.
	HealthPath string
}

// Slug is SITE.STACK.SERVICE: two sites never share one.
func (s Service) Slug() string { return s.Site + "." + s.Stack + "." + s.Name }

// KVPrefix is demi/SITE/STACK/SERVICE/.
func (s Service) KVPrefix() string { return "demi/" + s.Site + "/" + s.Stack + "/" + s.Name + "/" }

// InstanceID names the instance of this service in container id.
func (s Service) InstanceID(containerID string) string {
	return "demi-" + short(containerID) + "-" + s.Site + "-" + s.Stack + "-" + s.Name
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Namespace is the label prefix this node registers: "demi" (every site)
// or "demi.SITE" (one site: several sites on a host are kept apart).
type Namespace struct {
	prefix string
	site   string
}

// ParseNamespace checks a --demi-namespace value.
func ParseNamespace(ns string) (Namespace, error) {
	parts := strings.Split(ns, ".")
	switch {
	case parts[0] != "demi":
		return Namespace{}, fmt.Errorf("demi namespace %q: want demi or demi.SITE", ns)
	case len(parts) == 1:
		return Namespace{prefix: "demi."}, nil
	case len(parts) == 2 && validPart(parts[1]):
		return Namespace{prefix: ns + ".", site: parts[1]}, nil
	}
	return Namespace{}, fmt.Errorf("demi namespace %q: want demi or demi.SITE, SITE of letters, digits, '_' and '-'", ns)
}

func (n Namespace) String() string { return strings.TrimSuffix(n.prefix, ".") }

func validPart(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// protocols a service may be reached by.
var protocols = []string{"http", "https"}

// Services reads the services of a container's labels in the namespace.
// host is this node's advertised address, for services without a host
// label. A service whose labels are wrong is in errs (by slug), not in
// the list; the others are unaffected.
func (n Namespace) Services(c Container, host string) (out []Service, errs map[string]error) {
	bySlug := map[string]*Service{}
	var order []string
	errs = map[string]error{}
	for label, value := range c.Labels {
		rest, ok := strings.CutPrefix(label, n.prefix)
		if !ok {
			continue
		}
		site, fields := n.site, 3
		if site == "" {
			fields = 4
		}
		parts := strings.SplitN(rest, ".", fields)
		if len(parts) < fields {
			errs[label] = fmt.Errorf("label %s: want %s.STACK.SERVICE.KEY", label, n)
			continue
		}
		if n.site == "" {
			site, parts = parts[0], parts[1:]
		}
		stack, name, key := parts[0], parts[1], parts[2]
		s := Service{Site: site, Stack: stack, Name: name}
		if !validPart(site) || !validPart(stack) || !validPart(name) {
			errs[s.Slug()] = fmt.Errorf("label %s: site, stack and service take letters, digits, '_' and '-'", label)
			continue
		}
		if bySlug[s.Slug()] == nil {
			s.Keys = map[string]string{}
			bySlug[s.Slug()] = &s
			order = append(order, s.Slug())
		}
		bySlug[s.Slug()].Keys[key] = value
	}
	slices.Sort(order)
	for _, slug := range order {
		s := bySlug[slug]
		if _, bad := errs[slug]; bad {
			continue
		}
		if err := s.complete(c, host); err != nil {
			errs[slug] = err
			continue
		}
		out = append(out, *s)
	}
	return out, errs
}

// complete derives the URL (protocol://host:hostport/url_prefix), the
// Swagger URL and the health path, and checks what the labels say.
func (s *Service) complete(c Container, host string) error {
	for k, v := range s.Keys {
		if err := api.ValidateMeta(map[string]string{k: v}); err != nil {
			return fmt.Errorf("label %s.%s: %v", s.Slug(), k, err)
		}
	}
	proto := s.Keys["protocol"]
	if proto == "" {
		proto = "http"
	}
	if !slices.Contains(protocols, proto) {
		return fmt.Errorf("protocol %q: want one of %v", proto, protocols)
	}
	if p := s.Keys["health"]; p != "" {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		s.HealthPath = p
	}
	if explicit := s.Keys["url"]; explicit != "" {
		u, err := url.Parse(explicit)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("url label %q is not an absolute URL", explicit)
		}
		s.URL = explicit
	} else {
		hostPort, err := publishedPort(c, s.Keys["port"])
		if err != nil {
			return err
		}
		if h := s.Keys["host"]; h != "" {
			host = h
		}
		s.URL = proto + "://" + net.JoinHostPort(host, hostPort) + normalizePrefix(s.Keys["url_prefix"])
		if _, err := url.Parse(s.URL); err != nil {
			return fmt.Errorf("the URL %q built from the labels does not parse: %v", s.URL, err)
		}
		s.Keys["url"] = s.URL
	}
	if post := s.Keys["url_postfix"]; post != "" && s.Keys["swagger_url"] == "" {
		s.Keys["swagger_url"] = strings.TrimSuffix(s.URL, "/") + normalizePrefix(post)
	}
	return nil
}

// normalizePrefix makes "", "/api" and "api/" into "", "/api", "/api".
func normalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

// publishedPort is the host port of the container port the port label
// names, or of the container's only published port.
func publishedPort(c Container, label string) (string, error) {
	if label != "" {
		if _, err := strconv.ParseUint(label, 10, 16); err != nil {
			return "", fmt.Errorf("port label %q is not a port number", label)
		}
		for _, key := range []string{label + "/tcp", label} {
			if hp := c.Ports[key]; len(hp) > 0 {
				return hp[0], nil
			}
		}
		return "", fmt.Errorf("port %s is not published (published: %s)", label, published(c))
	}
	var ports []string
	for p, hp := range c.Ports {
		if len(hp) > 0 {
			ports = append(ports, p)
		}
	}
	switch len(ports) {
	case 0:
		return "", fmt.Errorf("no published port: publish one, or set the url label")
	case 1:
		return c.Ports[ports[0]][0], nil
	}
	return "", fmt.Errorf("several published ports (%s): set the port label to the service's", published(c))
}

func published(c Container) string {
	var out []string
	for p, hp := range c.Ports {
		if len(hp) > 0 {
			out = append(out, p+"->"+hp[0])
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
