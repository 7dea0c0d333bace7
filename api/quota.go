package api

import (
	"fmt"
	"time"
)

// Quota bounds the catalog, as etcd's --quota-backend-bytes bounds its
// store: the node that builds a write stamps its limits into the command
// and the state machine refuses, with 507 quota_exceeded, a write that
// would take the catalog past them. Removals and changes that do not grow
// it always pass, so a full catalog can be emptied.
type Quota struct {
	// MaxInstances bounds the instances (0: no bound).
	MaxInstances int `json:"maxInstances,omitempty"`
	// MaxBytes bounds the catalog's size: instances and definitions, as
	// CatalogUsage counts it (0: no bound).
	MaxBytes int64 `json:"maxBytes,omitempty"`
}

// Default quota: far above what one cluster of this design serves, and
// below what would exhaust a server's memory (every replica holds the
// whole catalog in memory).
const (
	DefaultMaxInstances = 1_000_000
	DefaultMaxBytes     = 2 << 30
)

// CatalogUsage is what the catalog holds, against its quota.
type CatalogUsage struct {
	Instances   int   `json:"instances"`
	Definitions int   `json:"definitions"`
	Tokens      int   `json:"tokens"`
	KV          int   `json:"kv"`
	Bytes       int64 `json:"bytes"`
	Quota       Quota `json:"quota"`
}

// DiskAlarm says a node refuses writes because its disk is (nearly) full.
type DiskAlarm struct {
	Since        time.Time `json:"since"`
	FreeBytes    uint64    `json:"freeBytes"`
	ReserveBytes uint64    `json:"reserveBytes"`
	Reason       string    `json:"reason"`
}

// CodeDiskFull: the leader's disk has less free space than its reserve;
// nothing was written (507).
const CodeDiskFull Code = "disk_full"

// CodeQuotaExceeded: the write would take the catalog past its quota (507).
const CodeQuotaExceeded Code = "quota_exceeded"

// QuotaExceeded refuses a write that would grow the catalog past its quota.
func QuotaExceeded(field, format string, args ...any) *Error {
	return &Error{Code: CodeQuotaExceeded, Field: field, Message: fmt.Sprintf(format, args...)}
}
