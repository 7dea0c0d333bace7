package api

import "time"

// StatusUpdate is one change a health checker (or a user) asks for. The
// conditions make a stale checker harmless: an update whose From or
// IfModifyIndex no longer matches is skipped, not applied on top of newer
// news.
type StatusUpdate struct {
	ID string `json:"id"`
	// Status is the new status; empty leaves it.
	Status Status `json:"status,omitempty"`
	// From applies the update only while the stored status is From.
	From Status `json:"from,omitempty"`
	// IfModifyIndex applies the update only while the row is unchanged.
	IfModifyIndex uint64 `json:"ifModifyIndex,omitempty"`
	// Reason is stored as statusReason with a status change.
	Reason string `json:"reason,omitempty"`
	// At is when the evidence was seen: statusChangedAt of a change.
	At time.Time `json:"at,omitzero"`
	// Heartbeat moves lastHeartbeat forward (never back).
	Heartbeat time.Time `json:"heartbeat,omitzero"`
	// Remove deregisters the instance.
	Remove bool `json:"remove,omitempty"`
}

// StatusResult says what became of each update, by instance ID.
type StatusResult struct {
	Applied []string `json:"applied"`
	Skipped []string `json:"skipped"`
	Missing []string `json:"missing"`
	// Rows are the instances as stored after the command, for applied
	// status changes and heartbeats (not removals).
	Rows []*Instance `json:"-"`
}
