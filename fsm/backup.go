package fsm

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
)

// Backups (roster snapshot save|restore) carry the same stream as Raft's
// snapshots: a header line and one JSON line a row.

// Backup captures the catalog as it is now (a store snapshot, O(1)):
// the index it holds, and a function that writes it.
func (f *FSM) Backup() (uint64, func(io.Writer) error) {
	f.pairMu.Lock()
	s := &snapshot{st: f.state().snapshot(), applied: f.applied.Load()}
	f.pairMu.Unlock()
	return s.applied, s.write
}

// SnapshotSummary is what a snapshot stream holds.
type SnapshotSummary struct {
	Applied     uint64 `json:"index"`
	Instances   int    `json:"instances"`
	Definitions int    `json:"definitions"`
	Tokens      int    `json:"tokens"`
	KV          int    `json:"kv"`
}

// CheckSnapshot reads a whole snapshot stream into a scratch catalog, as
// Restore would, and says what it holds: a stream it refuses would make
// every replica's restore fail. A backup file is outside input, unlike the
// snapshots Raft writes: every row must pass the checks a write passes,
// and its usage row must be what its rows add up to (a forged one would
// lift or jam the quota).
func CheckSnapshot(r io.Reader) (SnapshotSummary, error) {
	st := newStore()
	applied, err := readSnapshot(r, st)
	if err != nil {
		return SnapshotSummary{}, err
	}
	txn := st.write()
	defer txn.Abort()
	stated, err := usageOf(txn.Txn)
	if err != nil {
		return SnapshotSummary{}, err
	}
	if err := checkRows(txn); err != nil {
		return SnapshotSummary{}, err
	}
	if err := recountUsage(txn); err != nil {
		return SnapshotSummary{}, err
	}
	u, err := usageOf(txn.Txn)
	if err != nil {
		return SnapshotSummary{}, err
	}
	if stated != u {
		return SnapshotSummary{}, Invalid("usage", "the snapshot says %+v but its rows add up to %+v", stated, u)
	}
	return SnapshotSummary{Applied: applied, Instances: u.Instances, Definitions: u.Definitions, Tokens: u.Tokens, KV: u.KV}, nil
}

// checkRows validates every instance, definition and token of a scratch
// catalog as a write would have.
func checkRows(txn *tx) error {
	var bad error
	txn.instances().each(func(in *Instance) bool {
		bad = ValidateInstance(in)
		return bad == nil
	})
	if bad != nil {
		return fmt.Errorf("%s row: %w", tableInstances, bad)
	}
	for _, t := range memdbRowTables {
		it, err := txn.Get(t, "id")
		if err != nil {
			return err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			switch row := raw.(type) {
			case *Definition:
				err = ValidateDefinition(row)
			case *TokenRow:
				err = validateTokenRow(row)
			case *KVEntry:
				err = validateKVEntry(row)
			}
			if err != nil {
				return fmt.Errorf("%s row: %w", t, err)
			}
		}
	}
	return nil
}

func validateTokenRow(t *TokenRow) error {
	if err := ValidateID("accessorId", t.AccessorID); err != nil {
		return err
	}
	if _, err := hex.DecodeString(t.SecretHash); err != nil || len(t.SecretHash) != 64 {
		return Invalid("secretHash", "of token %s is not a SHA-256", t.AccessorID)
	}
	return api.ValidateTokenRequest(&api.CreateTokenRequest{Description: t.Description, Permissions: t.Permissions, Slug: t.Slug})
}

// keepIndexes raises each table index of next to at least cur's.
func keepIndexes(cur, next *memdb.MemDB) error {
	old := cur.Txn(false)
	txn := next.Txn(true)
	defer txn.Abort()
	for _, t := range rowTables {
		if was := maxIndex(old, t); was > maxIndex(txn, t) {
			if err := setIndex(txn, t, was); err != nil {
				return err
			}
		}
	}
	txn.Commit()
	return nil
}

// touchTables marks every table changed at index.
func touchTables(txn *tx, index uint64) error {
	for _, t := range rowTables {
		if err := bumpIndex(txn, t, index); err != nil {
			return err
		}
	}
	return nil
}
