// Package api holds Roster's wire and domain types: instances, definitions,
// checks, statuses, filters, the cluster status, and every error with its
// code. It imports nothing of the project, so the Go client (httpapi/client)
// builds without the engine (raft, go-memdb, memberlist); fsm, node and the
// HTTP layer use the same types.
package api
