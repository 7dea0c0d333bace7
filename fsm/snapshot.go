package fsm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hashicorp/raft"
)

// snapshotFormat is written first in every snapshot; Restore refuses formats
// it does not know rather than guessing.
const snapshotFormat = 1

type snapshotHeader struct {
	Format int `json:"format"`
	// Applied is the Raft index of the last entry the snapshot includes
	// (absent in snapshots of older builds).
	Applied uint64 `json:"applied,omitempty"`
}

// snapshotRecord is one row. Exactly one of the row fields is set.
type snapshotRecord struct {
	Instance   *Instance   `json:"instance,omitempty"`
	Definition *Definition `json:"definition,omitempty"`
	Index      *indexEntry `json:"index,omitempty"`
	Token      *TokenRow   `json:"token,omitempty"`
	Usage      *usageRow   `json:"usage,omitempty"`
	KV         *KVEntry    `json:"kv,omitempty"`
}

type snapshot struct {
	st      *store
	applied uint64
}

// Persist streams every table as JSON lines: a header, then one row a line.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Applied: s.applied}); err != nil {
		return err
	}
	r := s.st.read()
	var err error
	r.insts.each(func(in *Instance) bool {
		err = enc.Encode(&snapshotRecord{Instance: in})
		return err == nil
	})
	if err != nil {
		return err
	}
	txn := r.Txn
	for _, table := range append(slices.Clone(memdbRowTables), tableUsage, tableIndex) {
		it, err := txn.Get(table, "id")
		if err != nil {
			return err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			var rec snapshotRecord
			switch row := raw.(type) {
			case *Definition:
				rec.Definition = row
			case *indexEntry:
				rec.Index = row
			case *TokenRow:
				rec.Token = row
			case *usageRow:
				rec.Usage = row
			case *KVEntry:
				rec.KV = row
			}
			if err := enc.Encode(&rec); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// Release is a no-op: the store snapshot is garbage collected.
func (s *snapshot) Release() {}

// readSnapshot loads a snapshot written by Persist into an empty store and
// returns the Raft index it was taken at (for snapshots of older builds,
// the highest write index of its tables, which is no later).
func readSnapshot(r io.Reader, st *store) (uint64, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return 0, fmt.Errorf("read snapshot header: %w", err)
	}
	if h.Format != snapshotFormat {
		return 0, fmt.Errorf("snapshot format %d is not supported (this build reads %d)", h.Format, snapshotFormat)
	}
	applied := h.Applied
	sawUsage := false
	txn := st.write()
	defer txn.Abort()
	for n := 1; ; n++ {
		var rec snapshotRecord
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read snapshot record %d: %w", n, err)
		}
		var table string
		var row any
		switch {
		case rec.Instance != nil:
			if err := restoreInstance(txn, rec.Instance); err != nil {
				return 0, fmt.Errorf("restore snapshot record %d: %w", n, err)
			}
			continue
		case rec.Definition != nil:
			table, row = tableDefinitions, rec.Definition
		case rec.Token != nil:
			table, row = tableTokens, rec.Token
		case rec.KV != nil:
			table, row = tableKV, rec.KV
		case rec.Usage != nil:
			table, row, sawUsage = tableUsage, rec.Usage, true
		case rec.Index != nil:
			table, row = tableIndex, rec.Index
			if h.Applied == 0 {
				applied = max(applied, rec.Index.Index)
			}
		default:
			return 0, fmt.Errorf("snapshot record %d is empty", n)
		}
		if err := txn.Insert(table, row); err != nil {
			return 0, fmt.Errorf("restore snapshot record %d: %w", n, err)
		}
	}
	if !sawUsage {
		// A snapshot of a build that kept no usage row.
		if err := recountUsage(txn); err != nil {
			return 0, fmt.Errorf("count the restored catalog: %w", err)
		}
	}
	txn.Commit()
	return applied, nil
}

// restoreInstance adds a snapshot's instance row. Two rows with one ID or
// one URL are refused: no catalog holds them, and the URL index keeps one
// row a URL.
func restoreInstance(txn *tx, in *Instance) error {
	insts := txn.instances()
	if insts.get(in.ID) != nil {
		return fmt.Errorf("instance %s appears twice", in.ID)
	}
	if other := insts.getURL(in.URL); other != nil {
		return fmt.Errorf("instance %s has URL %s of instance %s", in.ID, in.URL, other.ID)
	}
	txn.inst.load(in)
	return nil
}
