package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkRaftDB refuses a data dir whose node has run before (it holds
// node-id) but whose raft.db is gone or empty. raft.db holds the node's
// term and vote as well as its log: starting without them, a node could
// vote twice in one term and two leaders could be elected, so Raft's
// safety would no longer hold. It must be run before loadNodeID creates
// node-id for a new node.
func checkRaftDB(dir string) error {
	_, err := os.Stat(filepath.Join(dir, "node-id"))
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new node
	}
	db := filepath.Join(dir, "raft.db")
	st, err := os.Stat(db)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return damaged(dir, "%s is missing although this node has run before (node-id is there)", db)
	case err != nil:
		return damaged(dir, "%s cannot be read: %v", db, err)
	case st.Size() == 0:
		return damaged(dir, "%s is empty although this node has run before", db)
	}
	return nil
}

// damaged is the one error of a data dir that cannot be trusted, with the
// ways out.
func damaged(dir, format string, args ...any) error {
	return fmt.Errorf("data dir %s is damaged: %s. The node's Raft term, vote or log cannot be trusted, so it will "+
		"not start on it. Recover one of these ways: (1) if the cluster still has a quorum, remove this data dir "+
		"(keep a copy), make the node leave (`roster nodes rm NODE` on another node), and start it empty to rejoin; "+
		"(2) restore the data dir from a backup taken while the node was stopped; (3) if this was the last copy, "+
		"move the newest snapshot under snapshots/ aside first: it holds the catalog up to its index",
		dir, fmt.Sprintf(format, args...))
}

// guard runs an open step of Raft's storage and turns a panic of bolt or
// Raft on damaged files (an invalid freelist page, a log entry that is not
// there) into the data dir error, instead of a trace and a crash loop.
func guard(dir, what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(dir, "%s failed: %v", what, r)
		}
	}()
	return f()
}
