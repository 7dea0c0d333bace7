// Package node is Roster's engine: it owns the data directory, Raft (with a
// raft-boltdb v2 log store and file snapshots), the gossip member, and the
// leader's reconciler that turns gossip membership into Raft voters and
// non-voters. It offers Apply and read methods to the HTTP layer and knows
// nothing of HTTP itself.
package node
