package agent

import (
	"fmt"
	"log/slog"
	"net/url"

	docker "github.com/moby/moby/client"

	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/registrator"
)

// newRegistrator builds the Docker registrator of an agent: the engine
// from DOCKER_HOST (default the local socket), writes through the node's
// own HTTP API with the node's TLS settings.
func newRegistrator(n *node.Node, dc DockerConfig, log *slog.Logger) (*registrator.Registrator, error) {
	ns, err := registrator.ParseNamespace(dc.Namespace)
	if err != nil {
		return nil, err
	}
	engine, err := docker.New(docker.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker (DOCKER_HOST): %w", err)
	}
	self := n.SelfURL()
	api, err := client.New(self)
	if err != nil {
		return nil, err
	}
	api.UseTLS(n.PeerTLS(n.ID()))
	api.Token = dc.Token
	u, err := url.Parse(self)
	if err != nil {
		return nil, err
	}
	return registrator.New(registrator.Config{
		Namespace: ns, Docker: engine, API: api, NodeURL: self, Host: u.Hostname(),
		Logger: log.With("component", "registrator", "node", n.ID()),
	}), nil
}
