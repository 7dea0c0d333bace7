package fsm

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// FSM is the catalog state machine. It implements raft.BatchingFSM.
type FSM struct {
	log *slog.Logger

	// mu guards the swap of db and abandon on Restore; the data itself is
	// protected by go-memdb's MVCC.
	mu      sync.RWMutex
	db      *memdb.MemDB
	abandon chan struct{}
}

var _ raft.BatchingFSM = (*FSM)(nil)

// New returns an empty FSM.
func New(log *slog.Logger) *FSM {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FSM{log: log, db: newDB(), abandon: make(chan struct{})}
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic(fmt.Sprintf("fsm: invalid schema: %v", err)) // a programming error
	}
	return db
}

func (f *FSM) state() *memdb.MemDB {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db
}

// AbandonCh is closed when a Restore replaces the whole state: blocking
// readers watching the old state must wake up and read again.
func (f *FSM) AbandonCh() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.abandon
}

// Apply applies one committed log entry.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in order. Each command runs in its own
// go-memdb transaction, so a rejected command leaves no partial change. The
// result for an entry is the stored row, nil, or an error for its caller.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	db := f.state()
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue // configuration changes and no-ops carry no catalog data
		}
		cmd, err := DecodeCommand(l.Data)
		if err != nil {
			// Every node sees the same bytes and skips them the same way.
			f.log.Error("skipping undecodable log entry", "index", l.Index, "err", err)
			out[i] = Invalid("command", "%v", err)
			continue
		}
		out[i] = f.applyOne(db, l.Index, cmd)
	}
	return out
}

func (f *FSM) applyOne(db *memdb.MemDB, index uint64, cmd *Command) any {
	txn := db.Txn(true)
	defer txn.Abort()
	var (
		res any
		err error
	)
	switch cmd.Type {
	case CmdRegisterInstance:
		res, err = registerInstance(txn, index, cmd.Register)
	case CmdDeregisterInstance:
		err = deregisterInstance(txn, index, cmd.ID)
	case CmdSaveDefinition:
		res, err = saveDefinition(txn, index, cmd.Definition)
	case CmdDeleteDefinition:
		err = deleteDefinition(txn, index, cmd.ID)
	case CmdSetStatuses:
		res, err = setStatuses(txn, index, cmd.Statuses)
	}
	if err != nil {
		return err
	}
	txn.Commit()
	return res
}

// Snapshot captures the state for Raft. go-memdb snapshots are O(1), so Apply
// is blocked only for an instant; Persist streams while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{db: f.state().Snapshot()}, nil
}

// Restore replaces the whole state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	db := newDB()
	if err := readSnapshot(rc, db); err != nil {
		return err
	}
	f.mu.Lock()
	old := f.abandon
	f.db, f.abandon = db, make(chan struct{})
	f.mu.Unlock()
	close(old)
	return nil
}
