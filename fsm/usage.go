package fsm

import (
	"encoding/json"

	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
)

// The catalog's usage is kept as one row, written in the same transaction
// as the change it counts: an aborted transaction leaves it right, and a
// snapshot carries it.

const (
	tableUsage = "usage"
	usageKey   = "catalog"
)

// usageRow is the catalog's usage.
type usageRow struct {
	ID          string `json:"id"`
	Instances   int    `json:"instances"`
	Definitions int    `json:"definitions"`
	Tokens      int    `json:"tokens"`
	KV          int    `json:"kv,omitempty"`
	Bytes       int64  `json:"bytes"`
}

func usageOf(txn *memdb.Txn) (usageRow, error) {
	raw, err := txn.First(tableUsage, "id", usageKey)
	if err != nil || raw == nil {
		return usageRow{ID: usageKey}, err
	}
	return *raw.(*usageRow), nil
}

// account adds a change to the usage row, refusing it (before anything is
// written) when q is set and it grows the catalog past q.
func account(txn *tx, q *api.Quota, instances, definitions, tokens int, bytes int64) error {
	return accountDelta(txn, q, usageRow{Instances: instances, Definitions: definitions, Tokens: tokens, Bytes: bytes})
}

// accountKV is account for keys of the KV tree.
func accountKV(txn *tx, q *api.Quota, keys int, bytes int64) error {
	return accountDelta(txn, q, usageRow{KV: keys, Bytes: bytes})
}

func accountDelta(txn *tx, q *api.Quota, d usageRow) error {
	instances, bytes := d.Instances, d.Bytes
	u, err := txn.usageNow()
	if err != nil {
		return err
	}
	if q != nil {
		if q.MaxInstances > 0 && instances > 0 && u.Instances+instances > q.MaxInstances {
			return api.QuotaExceeded("instances", "the catalog holds %d instances, its quota (--max-instances) is %d", u.Instances, q.MaxInstances)
		}
		if q.MaxBytes > 0 && bytes > 0 && u.Bytes+bytes > q.MaxBytes {
			return api.QuotaExceeded("bytes", "the catalog holds %d bytes; %d more would pass its quota of %d (--max-catalog-bytes)", u.Bytes, bytes, q.MaxBytes)
		}
	}
	u.Instances += d.Instances
	u.Definitions += d.Definitions
	u.Tokens += d.Tokens
	u.KV += d.KV
	u.Bytes += d.Bytes
	txn.setUsage(u)
	return nil
}

// instanceSize is what an instance counts for against the byte quota: its
// text and a fixed share for the rest, near its encoded size.
func instanceSize(in *Instance) int64 {
	if in == nil {
		return 0
	}
	n := 256 + len(in.ID) + len(in.URL) + len(in.DeploymentID) + len(in.NodeURL) + len(in.Path) + len(in.Scheme) +
		len(in.Host) + len(in.IP) + len(in.Details) + len(in.Slug) + len(in.StatusReason)
	for _, t := range in.Tags {
		n += len(t) + 3
	}
	for k, v := range in.Meta {
		n += len(k) + len(v) + 6
	}
	return int64(n)
}

// definitionSize is what a definition counts for against the byte quota.
func definitionSize(d *Definition) int64 {
	if d == nil {
		return 0
	}
	b, err := jsonSize(d)
	if err != nil {
		return 1024
	}
	return b
}

func jsonSize(v any) (int64, error) {
	b, err := json.Marshal(v)
	return int64(len(b)), err
}

// Usage is the catalog's usage now, without its quota (a node's own).
func (f *FSM) Usage() api.CatalogUsage {
	u, _ := usageOf(f.state().db.Txn(false))
	return api.CatalogUsage{Instances: u.Instances, Definitions: u.Definitions, Tokens: u.Tokens, KV: u.KV, Bytes: u.Bytes}
}

// recountUsage rebuilds the usage row from the tables, for a snapshot of a
// build that did not keep one.
func recountUsage(txn *tx) error {
	u := usageRow{ID: usageKey}
	txn.instances().each(func(in *Instance) bool {
		u.Instances++
		u.Bytes += instanceSize(in)
		return true
	})
	for _, t := range memdbRowTables {
		it, err := txn.Get(t, "id")
		if err != nil {
			return err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			switch row := raw.(type) {
			case *Definition:
				u.Definitions++
				u.Bytes += definitionSize(row)
			case *TokenRow:
				u.Tokens++
			case *KVEntry:
				u.KV++
				u.Bytes += kvSize(row)
			}
		}
	}
	return txn.Insert(tableUsage, &u)
}
