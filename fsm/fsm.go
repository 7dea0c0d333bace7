package fsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// FSM is the catalog state machine. It implements raft.BatchingFSM.
type FSM struct {
	log *slog.Logger

	// mu guards the swap of st and abandon on Restore; the data itself is
	// versioned (go-memdb's MVCC, immutable instance tables).
	mu      sync.RWMutex
	st      *store
	abandon chan struct{}

	// applied is the Raft index of the last entry applied here, and
	// appliedCh is closed (and replaced) each time it moves: raft's own
	// AppliedIndex moves when a batch is handed to the FSM, before it is
	// applied, so read-your-writes waits on this instead.
	applied   atomic.Uint64
	appliedMu sync.Mutex
	appliedCh chan struct{}
	// pairMu keeps the state and applied moving together: a capture
	// (Capture) taken between a batch's commit and its index would hold the
	// batch under an older index, and a replica fed from it would apply
	// the batch twice.
	pairMu sync.Mutex

	// events is the change stream's history (events.go), swapped on
	// Restore under mu; history is its capacity.
	events  *eventLog
	history int
}

var _ raft.BatchingFSM = (*FSM)(nil)

// New returns an empty FSM.
func New(log *slog.Logger) *FSM {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FSM{log: log, st: newStore(), abandon: make(chan struct{}), appliedCh: make(chan struct{}),
		events: newEventLog(DefaultEventHistory, 0), history: DefaultEventHistory}
}

// SetEventHistory sets how many changes the change stream keeps; call it
// before the FSM applies anything.
func (f *FSM) SetEventHistory(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.history = n
	f.events = newEventLog(n, f.applied.Load())
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic(fmt.Sprintf("fsm: invalid schema: %v", err)) // a programming error
	}
	return db
}

func (f *FSM) state() *store {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st
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

// ApplyBatch applies committed entries in order, in one store
// transaction: one copy of each changed tree path and one wake-up of
// blocking readers per batch rather than per entry. A command that is
// refused (a typed *Error) is refused before it writes anything, so the
// others in the batch still apply. The result for an entry is the stored
// row, nil, or an error for its caller.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	st := f.state()
	txn := st.write()
	defer txn.Abort()
	out := make([]any, len(logs))
	for i, l := range logs {
		res, err := f.applyLog(txn, l)
		if err != nil && !isRefusal(err) {
			// An internal failure may have left part of a command in the
			// transaction: drop it and apply entry by entry instead.
			txn.Abort()
			return f.applyEach(st, logs)
		}
		out[i] = res
		if err != nil {
			out[i] = err
		}
	}
	f.pairMu.Lock()
	txn.Commit()
	if len(logs) > 0 {
		f.record(txn, logs[len(logs)-1].Index)
	}
	f.markApplied(logs)
	f.pairMu.Unlock()
	return out
}

// markApplied records the last index of an applied batch and wakes waiters.
func (f *FSM) markApplied(logs []*raft.Log) {
	if len(logs) > 0 {
		f.setApplied(logs[len(logs)-1].Index)
	}
}

func (f *FSM) setApplied(index uint64) {
	f.applied.Store(index)
	f.appliedMu.Lock()
	close(f.appliedCh)
	f.appliedCh = make(chan struct{})
	f.appliedMu.Unlock()
}

// AppliedIndex is the Raft index of the last entry this replica applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// AppliedCh is closed the next time AppliedIndex moves.
func (f *FSM) AppliedCh() <-chan struct{} {
	f.appliedMu.Lock()
	defer f.appliedMu.Unlock()
	return f.appliedCh
}

// applyEach applies every entry in its own transaction, so one failure
// cannot take the others with it.
func (f *FSM) applyEach(st *store, logs []*raft.Log) []any {
	f.pairMu.Lock()
	defer f.pairMu.Unlock()
	out := make([]any, len(logs))
	for i, l := range logs {
		cmd, err := f.decodeLog(l)
		switch {
		case err != nil:
			out[i] = err
			continue
		case cmd == nil:
			continue
		case cmd.Type == CmdBatch:
			out[i] = applyBatchEach(st, l.Index, cmd.Batch, f.record)
			continue
		}
		txn := st.write()
		res, err := applyOne(txn, l.Index, cmd)
		if err != nil {
			txn.Abort()
			out[i] = err
			continue
		}
		txn.Commit()
		f.record(txn, l.Index)
		out[i] = res
	}
	f.markApplied(logs)
	return out
}

// applyLog applies one entry inside txn.
func (f *FSM) applyLog(txn *tx, l *raft.Log) (any, error) {
	cmd, err := f.decodeLog(l)
	if cmd == nil || err != nil {
		return nil, err
	}
	if cmd.Type == CmdBatch {
		res, err := applyBatch(txn, l.Index, cmd.Batch)
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	return applyOne(txn, l.Index, cmd)
}

// decodeLog returns the command of an entry, or nil for entries that carry
// no catalog data (configuration changes, no-ops).
func (f *FSM) decodeLog(l *raft.Log) (*Command, error) {
	if l.Type != raft.LogCommand {
		return nil, nil
	}
	cmd, err := DecodeCommand(l.Data)
	if err != nil {
		// Every node sees the same bytes and skips them the same way.
		f.log.Error("skipping undecodable log entry", "index", l.Index, "err", err)
		return nil, Invalid("command", "%v", err)
	}
	return cmd, nil
}

// applyOne applies one (non-batch) command inside txn, once its token (if
// it was made with one) still allows it.
func applyOne(txn *tx, index uint64, cmd *Command) (any, error) {
	tok, err := authorize(txn.Txn, cmd.Auth)
	if err != nil {
		return nil, err
	}
	switch cmd.Type {
	case CmdRegisterInstance:
		return nilIfError(registerInstance(txn, index, cmd.Register, tok, cmd.Quota))
	case CmdDeregisterInstance:
		return nil, deregisterInstance(txn, index, cmd.ID, tok)
	case CmdSaveDefinition:
		return nilIfError(saveDefinition(txn, index, cmd.Definition, cmd.Quota))
	case CmdDeleteDefinition:
		return nil, deleteDefinition(txn, index, cmd.ID)
	case CmdSetStatuses:
		return nilIfError(setStatuses(txn, index, cmd.Statuses, tok))
	case CmdACLBootstrap, CmdCreateToken:
		return nilIfError(createToken(txn, index, cmd.Token, cmd.Type == CmdACLBootstrap))
	case CmdDeleteToken:
		return nil, deleteToken(txn, index, cmd.ID)
	case CmdTouch:
		return nil, touchTables(txn, index)
	case CmdKVSet:
		return nilIfError(kvSet(txn, index, cmd.KV, cmd.Quota))
	case CmdKVDelete:
		n, err := kvDelete(txn, index, cmd.KV)
		if err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, nil
}

// isRefusal reports a typed refusal: the command wrote nothing.
func isRefusal(err error) bool {
	var refused *Error
	return errors.As(err, &refused)
}

// nilIfError keeps a typed nil row out of an interface when there is an
// error, so callers can test the result with a type switch.
func nilIfError[T any](row *T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return row, nil
}

// Snapshot captures the state for Raft. Store snapshots are O(1), so Apply
// is blocked only for an instant; Persist streams while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	// Raft calls Snapshot between batches on the FSM goroutine, so applied
	// is exactly the index the snapshot is taken at.
	// A client agent's replica stream applies off that goroutine, so the
	// pair is taken under pairMu all the same.
	f.pairMu.Lock()
	defer f.pairMu.Unlock()
	return &snapshot{st: f.state().snapshot(), applied: f.applied.Load()}, nil
}

// Restore replaces the whole state with a snapshot's and keeps the higher
// of its index and the one reached (a client agent's replica stream: the
// server sends a catalog at least as new as the client's). Raft's installs
// take Reload.
func (f *FSM) Restore(rc io.ReadCloser) error { return f.restore(rc, false) }

// Reload replaces the whole state with a snapshot's and takes the
// snapshot's index as its own, even when that is lower than the index this
// replica had reached. Every snapshot Raft installs needs it: Raft applies
// the entries after the snapshot next, which must not be skipped as
// already applied, and the snapshot can be older than the catalog (a
// client agent promoted to server, whose catalog came from a replica
// stream; a leader that sends a follower a snapshot again after the
// follower moved past it; an operator's restore of an older backup).
func (f *FSM) Reload(rc io.ReadCloser) error { return f.restore(rc, true) }

func (f *FSM) restore(rc io.ReadCloser, exact bool) error {
	defer rc.Close()
	st := newStore()
	applied, err := readSnapshot(rc, st)
	if err != nil {
		return err
	}
	f.pairMu.Lock()
	defer f.pairMu.Unlock()
	// An operator's restore (roster snapshot restore) may bring an older
	// catalog, and so may a snapshot Raft installs (Reload): its indexes
	// must not take X-Registry-Index back.
	if err := keepIndexes(f.state().db, st.db); err != nil {
		return err
	}
	// A slug's index after a restore is at least the table's: never behind
	// one this node answered with before.
	st.setFloor(maxIndex(st.db.Txn(false), tableInstances))
	if !exact {
		applied = max(applied, f.applied.Load())
	}
	f.mu.Lock()
	old := f.abandon
	f.st, f.abandon = st, make(chan struct{})
	// The history does not span a restore: a reader from before lists again.
	oldEvents := f.events
	f.events = newEventLog(f.history, applied)
	f.mu.Unlock()
	oldEvents.mu.Lock()
	close(oldEvents.wake)
	oldEvents.wake = make(chan struct{})
	oldEvents.mu.Unlock()
	close(old)
	f.setApplied(applied)
	return nil
}
