// Package registrator registers the services of a node's Docker containers
// from their DeMi labels, demi.{SITE}.{STACK}.{SERVICE}.{KEY}={VALUE}: one
// instance per service (slug SITE.STACK.SERVICE, the labels in its meta,
// its URL built from the labels and the container's published ports) and
// the same facts in the KV tree under demi/SITE/STACK/SERVICE/. It follows
// the engine's event stream with the official Docker client, resyncs
// after every reconnect and periodically, and removes what this node
// registered for containers that no longer run. It writes through the
// node's own HTTP API, as any client would.
package registrator
