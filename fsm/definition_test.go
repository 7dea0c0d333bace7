package fsm

import (
	"strings"
	"testing"
)

// A new definition is what a deployer can act on as it says: an image
// reference, a repository URL a deployer clones without reading its own
// disk or an option, a version and paths that stay inside the repository,
// variables a process can carry. The seed's own examples pass.
func TestANewDefinitionIsWhatADeployerCanActOn(t *testing.T) {
	img := func(name string) Definition {
		return Definition{ID: "x", Image: &ImageSpec{Name: name, InternalPorts: []uint16{80}}}
	}
	repo := func(r RepositorySpec) Definition {
		r.InternalPorts = []uint16{3000}
		return Definition{ID: "x", Repository: &r}
	}
	withEnv := func(e ...EnvVar) Definition { d := img("nginx:alpine"); d.Envars = e; return d }
	good := []Definition{
		img("nginx:alpine"), img("mycompany/api-server:v1.2.0"), img("registry.example.com:5000/team/app@sha256:" + strings.Repeat("a", 64)),
		repo(RepositorySpec{URL: "https://github.com/mycompany/custom-service.git", Version: "v2.1.0", BuildContext: "backend", ContainerFile: "docker/Dockerfile.prod"}),
		repo(RepositorySpec{URL: "git@github.com:org/repo.git", Version: "0123abcd"}),
		repo(RepositorySpec{URL: "git@git.example.com:/srv/git/repo.git"}),
		repo(RepositorySpec{URL: "https://10.0.0.7:8443/org/repo.git"}),
		repo(RepositorySpec{URL: "ssh://git@host.example:2222/org/repo.git", Version: "release/1.x", BuildContext: "./svc"}),
		withEnv(EnvVar{Key: "NGINX_HOST", Value: "localhost"}, EnvVar{Key: "spring.profile-x", Value: "a=b c"}),
		{ID: "x", Image: &ImageSpec{Name: "nginx", InternalPorts: []uint16{80, 443}}, Ports: []PortMapping{{Internal: 80, Host: 8080}, {Internal: 443, Host: 8443}}},
	}
	for _, d := range good {
		if err := ValidateNewDefinition(&d); err != nil {
			t.Errorf("%+v %+v: %v", d.Image, d.Repository, err)
		}
	}
	bad := []struct {
		d            Definition
		field, names string
	}{
		{img("nginx; rm -rf /"), "image.name", "not an image reference"},
		{img("NGINX"), "image.name", "not an image reference"},
		{repo(RepositorySpec{URL: "file:///etc/passwd"}), "repository.url", "use https://"},
		{repo(RepositorySpec{URL: "ext::sh -c touch% /tmp/pwned"}), "repository.url", "not a repository URL"},
		{repo(RepositorySpec{URL: "--upload-pack=/tmp/x"}), "repository.url", "option"},
		{repo(RepositorySpec{URL: "/srv/repos/app.git"}), "repository.url", "use https://"},
		{repo(RepositorySpec{URL: "https:///path-only"}), "repository.url", "no host"},
		{repo(RepositorySpec{URL: "git@host:-oProxyCommand=x"}), "repository.url", "not a repository URL"},
		{repo(RepositorySpec{URL: "ssh://git@-oProxyCommand=x/repo"}), "repository.url", "not a host name"},
		{repo(RepositorySpec{URL: "ssh://-x/repo"}), "repository.url", "not a host name"},
		{repo(RepositorySpec{URL: "ssh://-oProxyCommand@host/repo"}), "repository.url", "its user starts with '-'"},
		{repo(RepositorySpec{URL: "git@-oProxyCommand:repo"}), "repository.url", "not a host name"},
		{repo(RepositorySpec{URL: "git@host:-upload"}), "repository.url", "not a repository URL"},
		{repo(RepositorySpec{URL: "https://h/r\u2028"}), "repository.url", "invisible"},
		{repo(RepositorySpec{URL: "https://h/r", Version: "--orphan"}), "repository.version", "option"},
		{repo(RepositorySpec{URL: "https://h/r", Version: "main..evil"}), "repository.version", "not a branch"},
		{repo(RepositorySpec{URL: "https://h/r", BuildContext: "../../.."}), "repository.buildContext", "leaves the repository"},
		{repo(RepositorySpec{URL: "https://h/r", BuildContext: "a/../../b"}), "repository.buildContext", "leaves the repository"},
		{repo(RepositorySpec{URL: "https://h/r", ContainerFile: "/etc/passwd"}), "repository.containerFile", "absolute"},
		{repo(RepositorySpec{URL: "https://h/r", ContainerFile: "a\nb"}), "repository.containerFile", "control character"},
		{withEnv(EnvVar{Key: "A=B", Value: "x"}), "envars[0].key", "not a variable name"},
		{withEnv(EnvVar{Key: "1ST", Value: "x"}), "envars[0].key", "not a variable name"},
		{withEnv(EnvVar{Key: "A", Value: "1"}, EnvVar{Key: "A", Value: "2"}), "envars[1].key", "set already by envars[0]"},
		{withEnv(EnvVar{Key: "A", Value: "x\x00y"}), "envars[0].value", "NUL"},
		{Definition{ID: "x", Image: &ImageSpec{Name: "nginx"}, Ports: []PortMapping{{Internal: 80, Host: 8080}, {Internal: 81, Host: 8080}}}, "ports[1].host", "mapped already by ports[0]"},
	}
	for _, c := range bad {
		e, _ := ValidateNewDefinition(&c.d).(*Error)
		if e == nil || e.Field != c.field || !strings.Contains(e.Message, c.names) {
			t.Errorf("%+v %+v %v %v: got %v, want %s: ...%s", c.d.Image, c.d.Repository, c.d.Envars, c.d.Ports, e, c.field, c.names)
		}
		// What the log may already hold still applies: the old rule takes
		// it (it refused whitespace in a URL already).
		if err := ValidateDefinition(&c.d); err != nil && !strings.HasPrefix(c.d.Repository.URL, "ext::") {
			t.Errorf("%s: the rule stored definitions are held to refuses it: %v", c.field, err)
		}
	}
}
