package node

import "github.com/rosterhq/roster/api"

// Errors of the engine: the sentinels of package api, so that the HTTP layer
// maps each to its code and a client gets the same error back.
var (
	// ErrNotLeader: this node cannot apply writes; nothing was written, so
	// the request may be retried on the leader.
	ErrNotLeader = api.ErrNotLeader
	// ErrNoLeader: the cluster has no known leader right now.
	ErrNoLeader = api.ErrNoLeader
	// ErrLeadershipLost: leadership was lost after the write was sent to the
	// log; it may or may not have been committed (indeterminate).
	ErrLeadershipLost = api.ErrIndeterminate
	// ErrTimeout: the write could not be queued in time; nothing was written.
	ErrTimeout = api.ErrTimeout
	// ErrCatchingUp: the node has not applied the log far enough to answer
	// the read: it restarted and has not caught up with what it may have
	// answered before, or it lags behind the leader's read index.
	ErrCatchingUp = api.ErrCatchingUp
	// ErrShutdown: the node is shutting down.
	ErrShutdown = api.ErrShuttingDown
)
