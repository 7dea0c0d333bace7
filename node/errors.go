package node

import "errors"

// Errors of the engine. The HTTP layer maps each to one status code.
var (
	// ErrNotLeader: this node cannot apply writes; nothing was written, so
	// the request may be retried on the leader.
	ErrNotLeader = errors.New("this node is not the Raft leader")
	// ErrNoLeader: the cluster has no known leader right now.
	ErrNoLeader = errors.New("the cluster has no leader")
	// ErrLeadershipLost: leadership was lost after the write was sent to the
	// log; it may or may not have been committed (indeterminate).
	ErrLeadershipLost = errors.New("leadership lost while writing; the write may or may not have been applied")
	// ErrTimeout: the write could not be queued in time; nothing was written.
	ErrTimeout = errors.New("timed out queueing the write")
	// ErrCatchingUp: the node has not applied the log far enough to answer
	// the read: it restarted and has not caught up with what it may have
	// answered before, or it lags behind the leader's read index.
	ErrCatchingUp = errors.New("this node is still catching up with the cluster's log; try again or read from another node")
	// ErrShutdown: the node is shutting down.
	ErrShutdown = errors.New("the node is shutting down")
)
