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
	if err := checkRows(txn, applied); err != nil {
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

// MaxRestoreIndex bounds the index of a catalog an operator restores: Raft's
// log goes on past it (node.RestoreSnapshot), and X-Registry-Index must stay
// an integer that every JSON reader holds exactly.
const MaxRestoreIndex = 1<<53 - 1

// checkRows validates every instance, definition and token of a scratch
// catalog as a write would have, and that no table or row says it was
// written after the index the catalog was taken at: a Roster backup never
// does, and the restore moves Raft's log past that index only.
func checkRows(txn *tx, applied uint64) error {
	if applied > MaxRestoreIndex {
		return Invalid("applied", "index %d is beyond %d", applied, uint64(MaxRestoreIndex))
	}
	for _, t := range rowTables {
		if i := maxIndex(txn.Txn, t); i > applied {
			return Invalid("index", "table %s was written at index %d, after the snapshot's index %d", t, i, applied)
		}
	}
	var bad error
	txn.instances().each(func(in *Instance) bool {
		bad = ValidateInstance(in)
		if bad == nil {
			bad = rowIndexes(applied, in.CreateIndex, in.ModifyIndex)
		}
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
				if err = ValidateDefinition(row); err == nil {
					err = rowIndexes(applied, row.CreateIndex, row.ModifyIndex)
				}
			case *TokenRow:
				if err = validateTokenRow(row); err == nil {
					err = rowIndexes(applied, row.CreateIndex, 0)
				}
			case *KVEntry:
				if err = validateKVEntry(row); err == nil {
					err = rowIndexes(applied, row.CreateIndex, row.ModifyIndex)
				}
			}
			if err != nil {
				return fmt.Errorf("%s row: %w", t, err)
			}
		}
	}
	return nil
}

// rowIndexes refuses a row written after the snapshot's index.
func rowIndexes(applied, create, modify uint64) error {
	if create > applied {
		return Invalid("createIndex", "%d is after the snapshot's index %d", create, applied)
	}
	if modify > applied {
		return Invalid("modifyIndex", "%d is after the snapshot's index %d", modify, applied)
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
