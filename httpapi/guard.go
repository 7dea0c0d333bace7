package httpapi

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
)

// browserGate refuses on the registry API what a web page could send with a
// user's browser: a request from another origin (unless --allow-origin
// lists it) and a body that is not JSON (a text/plain POST needs no CORS
// preflight, so a page could send it to a Roster on the user's machine).
func (s *Server) browserGate(c *gin.Context) {
	if o := c.GetHeader("Origin"); o != "" && !s.originAllowed(o, c.Request) {
		s.writeError(c, api.Forbidden("a request from origin %s is refused: the registry API takes requests from its own "+
			"origin only (start the agent with --allow-origin %s to allow that one)", o, o))
		return
	}
	if hasBody(c.Request) {
		mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
		other := bodyTypes[c.FullPath()]
		if err != nil || (mt != "application/json" && other != mt) {
			want := "application/json"
			if other != "" {
				want += " or " + other // name what this route takes
			}
			s.writeError(c, api.Invalid("Content-Type", "%q: request bodies must be %s", c.GetHeader("Content-Type"), want))
		}
	}
}

// bodyTypes are the routes that take a body other than JSON, and its
// type; both need a CORS preflight, as JSON does.
var bodyTypes = map[string]string{
	"/registry-svc/snapshot": "application/x-ndjson",     // a backup: JSON lines
	"/registry-svc/kv/*key":  "application/octet-stream", // a KV value: any bytes
}

// originAllowed: the node's own origin (the host the request was sent to)
// or one the operator listed.
func (s *Server) originAllowed(origin string, r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if strings.EqualFold(origin, scheme+"://"+r.Host) && s.ownHost(r.Host) {
		return true
	}
	return slices.ContainsFunc(s.allowOrigins, func(o string) bool { return strings.EqualFold(o, origin) })
}

// ownHost: a page is the node's own only under a name the node answers to
// for sure — an IP address, localhost, or its self URL's host. A page on
// another name whose DNS now points here (DNS rebinding: evil.example
// resolving to 127.0.0.1) sends an Origin equal to its Host, and must not
// pass for the node's own.
func (s *Server) ownHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(host); err == nil || strings.EqualFold(host, "localhost") {
		return true
	}
	u, err := url.Parse(s.n.SelfURL())
	return err == nil && strings.EqualFold(u.Hostname(), host)
}

func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

// noControl refuses control characters in free text: it is printed in
// logs, tables and terminals, where a newline forges a row and an escape
// sequence rewrites the screen.
func noControl(field, s string) error {
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return api.Invalid(field, "contains the control character %q at byte %d", s[i], i)
	}
	return nil
}

// checkTarget refuses an instance the proxy and the checks must not
// connect to: a scheme they do not speak, a forbidden address (see
// health.Targets), or a node of this cluster (the proxy would call itself).
//
// in has been through fsm.NormalizeInstance: its URL is split into a lower
// case scheme, a port (defaulted) and either Host (a name, as the URL
// wrote it) or IP (an address, with Host empty). The checks read those
// instead of parsing the URL again.
func (s *Server) checkTarget(in *api.Instance) error {
	host := in.Host
	if host == "" {
		host = in.IP
	}
	if err := s.targets.CheckHost(in.Scheme, host); err != nil {
		return err
	}
	if reserved[in.Slug] {
		return api.Invalid("slug", "%q is reserved: /%s/ is one of Roster's own routes", in.Slug, in.Slug)
	}
	if id, ok := s.nodeAt(joinHostPort(host, strconv.Itoa(in.Port))); ok {
		return api.Invalid("url", "%s is node %s of this cluster: the proxy would send requests to itself", in.URL, id)
	}
	return nil
}

// hostPort is a URL's host and port, lower case, the port defaulted.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return joinHostPort(u.Hostname(), port)
}

// joinHostPort is a host and port as hostPort gives them: the host lower
// case without a trailing dot, localhost as 127.0.0.1, an IP address in
// its canonical form.
func joinHostPort(host, port string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String() // ::ffff:127.0.0.1 is 127.0.0.1
	}
	return net.JoinHostPort(host, port)
}

// escapesSlug reports a proxied path with a ".." segment, plain or
// percent-encoded (once or twice): forwarded raw, it would leave the
// slug's prefix on the instance.
func escapesSlug(u *url.URL) bool {
	p := u.EscapedPath()
	for range 3 {
		dec, err := url.PathUnescape(p)
		if err != nil || dec == p {
			break
		}
		p = dec
	}
	for _, seg := range strings.Split(strings.ReplaceAll(p, `\`, "/"), "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}
