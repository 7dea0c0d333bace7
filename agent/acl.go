package agent

import (
	"fmt"
	"log/slog"

	"github.com/rosterhq/roster/httpapi"
)

// ACLMode says whether requests need tokens (httpapi Options.ACL).
type ACLMode string

// ACL modes. Auto, the default, turns tokens on whenever another machine
// can reach the agent: a loopback-only agent may run without, as Consul's
// and etcd's dev setups do.
const (
	ACLAuto ACLMode = ""
	ACLOn   ACLMode = "on"
	ACLOff  ACLMode = "off"
)

// resolve decides the mode for an agent. Turning tokens off on an agent
// other machines can reach takes insecure, as running it without TLS does.
func (m ACLMode) resolve(loopbackOnly, insecure, tls bool, log *slog.Logger) (bool, error) {
	var on bool
	switch m {
	case ACLAuto:
		on = !loopbackOnly
	case ACLOn:
		on = true
	case ACLOff:
		if !loopbackOnly && !insecure {
			return false, fmt.Errorf("--acl=false on an agent other machines can reach would let any of them rewrite " +
				"the catalog, make nodes leave and read every instance; keep tokens on, keep the agent on loopback, " +
				"or pass --insecure as well")
		}
	default:
		return false, fmt.Errorf("ACL mode %q: want on, off or auto", m)
	}
	if on && !tls && !loopbackOnly {
		log.Warn("TOKENS WITHOUT TLS: tokens travel in clear text and the routes between nodes take no certificate, " +
			"so a host that reaches this agent can bypass them; give the agent TLS (`roster tls`)")
	}
	return on, nil
}

// Routes lists the agent's public routes with the permission each takes.
func (a *Agent) Routes() []httpapi.Route { return a.api.Routes() }
