package node

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// The start-up check compares what it can before Raft reads the data dir,
// as etcd's initial corruption check does: bolt's own page check of
// raft.db, every log entry readable, the newest snapshot's checksum, and
// no gap between the snapshot and the log. Damage found here is refused
// with the recovery steps (damaged); raft would otherwise restore an older
// snapshot in silence, or panic on a missing entry in the middle of a run.

// checkBolt reads every page of raft.db that holds data (every bucket,
// every key and value), read-only, before the store opens it (bolt locks
// the file: the check must be closed first). Bolt panics on a damaged page;
// the walk runs in this goroutine, so guard turns that into the damaged
// data dir error. (bolt's own Tx.Check runs in a goroutine of its own,
// where a damaged freelist's panic could not be caught.)
func checkBolt(dir string) error {
	path := filepath.Join(dir, "raft.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil // a new node
	}
	return guard(dir, "checking raft.db", func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
		if err != nil {
			return damaged(dir, "raft.db cannot be opened: %v", err)
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walkBucket(b) })
		})
	})
}

func walkBucket(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				return walkBucket(nested)
			}
		}
		return nil
	})
}

// checkLogAndSnapshot reads every log entry and the newest snapshot (its
// checksum is verified as it is read) and refuses a gap between them.
func checkLogAndSnapshot(dir string, store *raftboltdb.BoltStore, snaps *raft.FileSnapshotStore) error {
	return guard(dir, "checking the log and snapshots", func() error {
		first, err := store.FirstIndex()
		if err != nil {
			return damaged(dir, "raft.db's first log index cannot be read: %v", err)
		}
		last, err := store.LastIndex()
		if err != nil {
			return damaged(dir, "raft.db's last log index cannot be read: %v", err)
		}
		list, err := snaps.List()
		if err != nil {
			return damaged(dir, "the snapshots cannot be listed: %v", err)
		}
		// Entries a snapshot covers may be gone (an operator's restore
		// leaves a hole at its index); every later one must be there.
		var covered uint64
		if len(list) > 0 {
			covered = list[0].Index
		}
		var l raft.Log
		for i := max(first, covered+1); first > 0 && i <= last; i++ {
			if err := store.GetLog(i, &l); err != nil {
				return damaged(dir, "log entry %d of %d-%d cannot be read from raft.db: %v", i, first, last, err)
			}
		}
		if len(list) == 0 {
			if first > 1 {
				return damaged(dir, "the log starts at index %d but there is no snapshot of what came before", first)
			}
			return nil
		}
		newest := list[0]
		_, rc, err := snaps.Open(newest.ID)
		if err != nil {
			return damaged(dir, "snapshot %s cannot be read: %v", newest.ID, err)
		}
		// Open verified its checksum; the state must still decode to the
		// end, which Restore does later.
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return damaged(dir, "snapshot %s cannot be read: %v", newest.ID, err)
		}
		if first > 0 && first > newest.Index+1 {
			return damaged(dir, "the log starts at index %d but the newest snapshot (%s) ends at %d: the entries between are missing",
				first, newest.ID, newest.Index)
		}
		return nil
	})
}
