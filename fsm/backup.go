package fsm

import (
	"io"

	"github.com/hashicorp/go-memdb"
)

// Backups (roster snapshot save|restore) carry the same stream as Raft's
// snapshots: a header line and one JSON line a row.

// Backup captures the catalog as it is now (a go-memdb snapshot, O(1)):
// the index it holds, and a function that writes it.
func (f *FSM) Backup() (uint64, func(io.Writer) error) {
	s := &snapshot{db: f.state().Snapshot(), applied: f.applied.Load()}
	return s.applied, s.write
}

// SnapshotSummary is what a snapshot stream holds.
type SnapshotSummary struct {
	Applied     uint64 `json:"index"`
	Instances   int    `json:"instances"`
	Definitions int    `json:"definitions"`
	Tokens      int    `json:"tokens"`
}

// CheckSnapshot reads a whole snapshot stream into a scratch catalog, as
// Restore would, and says what it holds: a stream it refuses would make
// every replica's restore fail.
func CheckSnapshot(r io.Reader) (SnapshotSummary, error) {
	db := newDB()
	applied, err := readSnapshot(r, db)
	if err != nil {
		return SnapshotSummary{}, err
	}
	u, err := usageOf(db.Txn(false))
	if err != nil {
		return SnapshotSummary{}, err
	}
	return SnapshotSummary{Applied: applied, Instances: u.Instances, Definitions: u.Definitions, Tokens: u.Tokens}, nil
}

// keepIndexes raises each table index of next to at least cur's.
func keepIndexes(cur, next *memdb.MemDB) error {
	old := cur.Txn(false)
	txn := next.Txn(true)
	defer txn.Abort()
	for _, t := range []string{tableInstances, tableDefinitions, tableTokens} {
		if was := maxIndex(old, t); was > maxIndex(txn, t) {
			if err := bumpIndex(txn, t, was); err != nil {
				return err
			}
		}
	}
	txn.Commit()
	return nil
}

// touchTables marks every table changed at index.
func touchTables(txn *memdb.Txn, index uint64) error {
	for _, t := range []string{tableInstances, tableDefinitions, tableTokens} {
		if err := bumpIndex(txn, t, index); err != nil {
			return err
		}
	}
	return nil
}
