// Package gossip wraps hashicorp/memberlist: it announces this node's
// identity in memberlist's node meta, keeps a table of every member with its
// liveness (alive, suspect, dead, left), and tells subscribers when the table
// changes. It knows nothing of Raft or the catalog.
package gossip
