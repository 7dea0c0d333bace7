// Package health checks service instances and turns the evidence into
// status changes in the catalog.
//
// Every node runs one Checker. It checks the instances it owns: an
// instance belongs to the node named by its nodeUrl while that node is
// alive in gossip, else to the alive node that rendezvous hashing of the
// instance ID picks. Every node computes the same owner from its gossip
// view, so checks move to a survivor when a node dies without anyone
// coordinating it.
//
// Passing probes and heartbeats stay in the checker's memory. Only status
// transitions, a coarse refresh of lastHeartbeat and deregistrations go
// through Raft, batched and conditional on the state the checker saw, so
// a checker whose view is a moment old cannot undo newer news.
package health
