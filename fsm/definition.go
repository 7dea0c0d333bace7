package fsm

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/rosterhq/roster/api"
)

// ValidateNewDefinition is what a definition must meet to be stored now: a
// definition is a template a deployer acts on (it pulls the image, clones
// the repository and checks out the version, builds from the context with
// the container file, sets the variables), so each of those must be what it
// says, and nothing a deployer would read as an option or a path outside
// the repository. The API and the CLI's file reader hold new definitions to
// it. ValidateDefinition, the looser rule a definition was stored under
// before, stays what the log's entries and backups are held to: a
// definition already in a log must apply the same way on every node, on
// every version.
func ValidateNewDefinition(d *Definition) error {
	if err := ValidateDefinition(d); err != nil {
		return err
	}
	if d.Image != nil {
		if _, err := reference.ParseNormalizedNamed(d.Image.Name); err != nil {
			return Invalid("image.name", "%q is not an image reference like nginx:alpine or registry.example.com/team/app:1.2 (%v)", d.Image.Name, err)
		}
	}
	if r := d.Repository; r != nil {
		if err := checkRepoURL(r.URL); err != nil {
			return err
		}
		if err := checkGitRef("repository.version", r.Version); err != nil {
			return err
		}
		if err := checkRepoPath("repository.buildContext", r.BuildContext); err != nil {
			return err
		}
		if err := checkRepoPath("repository.containerFile", r.ContainerFile); err != nil {
			return err
		}
	}
	hostPorts := map[uint16]int{}
	for i, p := range d.Ports {
		if j, ok := hostPorts[p.Host]; ok {
			return Invalid(fmt.Sprintf("ports[%d].host", i), "host port %d is mapped already by ports[%d]", p.Host, j)
		}
		hostPorts[p.Host] = i
	}
	keys := map[string]int{}
	for i, e := range d.Envars {
		field := fmt.Sprintf("envars[%d]", i)
		if !envKey.MatchString(e.Key) || len(e.Key) > maxEnvKeyLen {
			return Invalid(field+".key", "%q is not a variable name: letters, digits, '_', '.' and '-', not starting with a digit, at most %d characters", e.Key, maxEnvKeyLen)
		}
		if j, ok := keys[e.Key]; ok {
			return Invalid(field+".key", "%q is set already by envars[%d]", e.Key, j)
		}
		keys[e.Key] = i
		if strings.IndexByte(e.Value, 0) >= 0 {
			return Invalid(field+".value", "holds a NUL byte, which no process environment can carry")
		}
	}
	return nil
}

// envKey is a variable name as Kubernetes and Docker take one (a C
// identifier, or with '.' and '-'); '=' would end the name early.
var envKey = regexp.MustCompile(`^[A-Za-z_.-][A-Za-z0-9_.-]*$`)

const maxEnvKeyLen = 256

// checkRepoURL: an http(s), ssh or git URL with a host, or git's scp-like
// user@host:path. file:// and ext:: would have a deployer read its own disk
// or run a command; a leading '-' on the URL, its user or its host would
// reach git or ssh as an option (ssh://-oProxyCommand=..., CVE-2017-1000117).
func checkRepoURL(raw string) error {
	bad := func(why string) error {
		return Invalid("repository.url", "%q is not a repository URL: %s", raw, why)
	}
	if strings.HasPrefix(raw, "-") {
		return bad("it starts with '-', which git would read as an option")
	}
	if !api.IsPrintable(raw) {
		return bad("it holds a control character or an invisible one")
	}
	var user, host string
	if m := scpLike.FindStringSubmatch(raw); m != nil {
		user, host = m[1], m[2]
	} else {
		u, err := url.Parse(raw)
		if err != nil {
			return bad(err.Error())
		}
		switch u.Scheme {
		case "http", "https", "ssh", "git":
		default:
			return bad("use https://, ssh://, git:// or user@host:path")
		}
		if u.User != nil {
			user = u.User.Username()
		}
		host = u.Hostname()
	}
	switch {
	case strings.HasPrefix(user, "-"):
		return bad("its user starts with '-', which ssh would read as an option")
	case host == "":
		return bad("it names no host")
	case net.ParseIP(host) == nil && !api.IsHostName(host):
		return bad(fmt.Sprintf("%q is not a host name", host))
	}
	return nil
}

// scpLike is git's user@host:path form: no scheme, no '/' before the ':'
// (the path may start with one), a path that is not an option.
var scpLike = regexp.MustCompile(`^([^/:@]+)@([^/:@]+):([^-].*)$`)

// checkGitRef: a branch, tag or commit, never read as an option or a range.
func checkGitRef(field, ref string) error {
	switch {
	case ref == "":
		return nil
	case len(ref) > 255:
		return Invalid(field, "is %d characters, the limit is 255", len(ref))
	case strings.HasPrefix(ref, "-"):
		return Invalid(field, "%q starts with '-', which git would read as an option", ref)
	case !api.IsPrintable(ref) || strings.ContainsAny(ref, " ~^:?*[\\") || strings.Contains(ref, ".."):
		return Invalid(field, "%q is not a branch, tag or commit name", ref)
	}
	return nil
}

// checkRepoPath: a path inside the repository, written with '/'.
func checkRepoPath(field, p string) error {
	switch {
	case p == "":
		return nil
	case len(p) > MaxURLLen:
		return Invalid(field, "is %d characters, the limit is %d", len(p), MaxURLLen)
	case !api.IsPrintable(p) || strings.Contains(p, "\\"):
		return Invalid(field, "%q is not a path: it holds a control character, an invisible one or '\\'", p)
	case strings.HasPrefix(p, "/"):
		return Invalid(field, "%q is absolute; give a path inside the repository", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return Invalid(field, "%q leaves the repository (a \"..\" segment)", p)
		}
	}
	return nil
}
