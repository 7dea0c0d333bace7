// Package fsm is Roster's replicated state machine: the catalog's domain types
// (instances, definitions), the commands that change them, and the raft.FSM
// that applies those commands to its store (store.go).
//
// Everything here is pure: no network, no clock and no randomness inside
// Apply. IDs and timestamps are chosen by the node that accepts a request and
// travel inside the command, so every replica computes the same state.
package fsm
