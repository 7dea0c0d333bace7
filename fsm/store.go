package fsm

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
)

// store is one lineage of the catalog's state: go-memdb for the small
// tables (definitions, tokens, KV, usage, table indexes) and an instTable
// for the instances. A write transaction spans both; its commit publishes
// the new instances version before go-memdb's commit, and a reader takes
// go-memdb's snapshot before the instances version: a reader may see rows
// newer than the table index it reports, never the other way round (a
// blocking read at that index then wakes at once, it never misses a write).
type store struct {
	db    *memdb.MemDB
	insts atomic.Pointer[instTable]
	watch slugWatch
}

func newStore() *store {
	s := &store{db: newDB()}
	s.insts.Store(newInstTable())
	s.watch.seed = maphash.MakeSeed()
	return s
}

// view is a consistent read of the store.
type view struct {
	*memdb.Txn
	insts *instTable
}

func (s *store) read() view {
	txn := s.db.Txn(false) // first: see the type's comment
	return view{Txn: txn, insts: s.insts.Load()}
}

// setFloor sets the index of the slugs that have no mark (a store loaded
// from a snapshot, before it is read).
func (s *store) setFloor(index uint64) {
	t := s.insts.Load().clone()
	t.floor = index
	s.insts.Store(t)
}

// snapshot is an O(1) copy of the store as it is now, for a Raft snapshot
// or a backup: it is never written.
func (s *store) snapshot() *store {
	c := &store{db: s.db.Snapshot()}
	c.insts.Store(s.insts.Load())
	return c
}

// tx is a write transaction. One at a time: go-memdb's write transaction
// holds its writer lock, and the instances version is taken after it.
type tx struct {
	*memdb.Txn
	st   *store
	inst instTxn
	done bool
	// The usage row and the table indexes change at almost every write:
	// a batch of writes keeps them here and writes each once, at commit,
	// rather than a go-memdb row (and its tree path) per write.
	usage      usageRow
	usageDirty bool
	bumps      []indexEntry
}

func (s *store) write() *tx {
	txn := s.db.Txn(true)
	txn.TrackChanges()
	return &tx{Txn: txn, st: s, inst: instTxn{base: s.insts.Load()}}
}

// instances is the table as this transaction sees it.
func (t *tx) instances() *instTable { return t.inst.table() }

// usageNow is the usage row as this transaction has it.
func (t *tx) usageNow() (usageRow, error) {
	if t.usageDirty {
		return t.usage, nil
	}
	return usageOf(t.Txn)
}

func (t *tx) setUsage(u usageRow) { t.usage, t.usageDirty = u, true }

// bump sets a table's index at commit (the last bump of a table wins).
func (t *tx) bump(table string, index uint64) {
	for i := range t.bumps {
		if t.bumps[i].Table == table {
			t.bumps[i].Index = index
			return
		}
	}
	t.bumps = append(t.bumps, indexEntry{Table: table, Index: index})
}

// indexOf is a table's index as this transaction has it (0: never set).
func (t *tx) indexOf(table string) (uint64, error) {
	for _, b := range t.bumps {
		if b.Table == table {
			return b.Index, nil
		}
	}
	raw, err := t.First(tableIndex, "id", table)
	if err != nil || raw == nil {
		return 0, err
	}
	return raw.(*indexEntry).Index, nil
}

// flush writes the usage row and the table indexes the transaction holds.
func (t *tx) flush() error {
	if t.usageDirty {
		u := t.usage
		if err := t.Insert(tableUsage, &u); err != nil {
			return err
		}
		t.usageDirty = false
	}
	for _, b := range t.bumps {
		if err := setIndex(t.Txn, b.Table, b.Index); err != nil {
			return err
		}
	}
	t.bumps = nil
	return nil
}

// Commit publishes the transaction and wakes the readers of what changed.
func (t *tx) Commit() {
	if t.done {
		return
	}
	if err := t.flush(); err != nil {
		// Both tables are in the schema with the keys written here: only
		// a programming error gets here.
		panic(fmt.Sprintf("fsm: write the usage row and table indexes: %v", err))
	}
	t.done = true
	if t.inst.work != nil {
		t.inst.work.pruneMarks()
		t.st.insts.Store(t.inst.work)
	}
	t.Txn.Commit()
	if t.inst.work != nil {
		t.st.watch.fire(t.inst.slugs)
	}
}

// Abort drops the transaction; after Commit it does nothing.
func (t *tx) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.Txn.Abort()
	t.inst = instTxn{}
}

// changes are the transaction's net changes to every table, go-memdb's
// shape (instances after the other tables; events sort by index).
func (t *tx) changes() memdb.Changes {
	out := t.Txn.Changes()
	if t.inst.work == nil {
		return out
	}
	for _, c := range t.inst.netChanges() {
		ch := memdb.Change{Table: tableInstances}
		if c.before != nil {
			ch.Before = c.before
		}
		if c.after != nil {
			ch.After = c.after
		}
		out = append(out, ch)
	}
	return out
}

// slugWatch wakes blocking reads of instances: a reader takes the channel
// of its slug ("" for a read of the whole table) before it reads, and a
// commit closes the channels of the slugs it changed and of "". Slugs share
// watchShards channels by hash, so that reads of any number of made-up
// slugs hold no memory: a reader woken for another slug of its shard reads
// again, finds its slug's index unchanged and waits on.
type slugWatch struct {
	mu     sync.Mutex
	seed   maphash.Seed
	all    chan struct{}
	shards [watchShards]chan struct{}
}

const watchShards = 1024

func (w *slugWatch) shard(slug string) *chan struct{} {
	if slug == "" {
		return &w.all
	}
	return &w.shards[maphash.String(w.seed, slug)%watchShards]
}

// ch returns a channel closed at the next change to slug ("" any change).
func (w *slugWatch) ch(slug string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.shard(slug)
	if *c == nil {
		*c = make(chan struct{})
	}
	return *c
}

func (w *slugWatch) fire(slugs map[string]struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wake := func(c *chan struct{}) {
		if *c != nil {
			close(*c)
			*c = nil
		}
	}
	wake(&w.all)
	for s := range slugs {
		wake(w.shard(s))
	}
}
