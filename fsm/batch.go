package fsm

import (
	"bytes"
	"fmt"
	"strconv"
)

// MaxBatch bounds the writes in one batch command.
const MaxBatch = 1024

// A batch command carries several independent instance writes in one Raft
// entry: a follower that forwards many clients' writes at once sends them
// to the leader together, and the leader logs them as one entry (one
// encoding, one bolt record, one decode on every replica). Each write has
// its own result: a refused write (a typed *Error) changes nothing and the
// others still apply, exactly as if each had been its own entry at the same
// index.

// batchable are the command types a batch may hold.
func batchable(t CommandType) bool {
	return t == CmdRegisterInstance || t == CmdDeregisterInstance
}

func checkBatch(cmds []Command) error {
	if len(cmds) == 0 {
		return fmt.Errorf("batch command has no writes")
	}
	if len(cmds) > MaxBatch {
		return fmt.Errorf("batch of %d writes exceeds %d", len(cmds), MaxBatch)
	}
	for i := range cmds {
		if !batchable(cmds[i].Type) {
			return fmt.Errorf("batch write %d: %s cannot be batched", i, cmds[i].Type)
		}
		if err := cmds[i].checkPayload(); err != nil {
			return fmt.Errorf("batch write %d: %w", i, err)
		}
	}
	return nil
}

// BatchResult is the outcome of one write of a batch: the stored row (nil
// for a deregistration), or the error its caller gets.
type BatchResult struct {
	Row any
	Err error
}

// applyBatch applies each write of a batch in txn. A typed refusal is that
// write's result; any other error fails the whole entry, so the caller can
// fall back to applyBatchEach.
func applyBatch(txn *tx, index uint64, cmds []Command) ([]BatchResult, error) {
	out := make([]BatchResult, len(cmds))
	for i := range cmds {
		row, err := applyOne(txn, index, &cmds[i])
		if err != nil && !isRefusal(err) {
			return nil, err
		}
		out[i] = BatchResult{Row: row, Err: err}
	}
	return out, nil
}

// applyBatchEach applies each write of a batch in its own transaction, for
// when one of them failed inside a shared one.
func applyBatchEach(st *store, index uint64, cmds []Command, record func(*tx, uint64)) []BatchResult {
	out := make([]BatchResult, len(cmds))
	for i := range cmds {
		txn := st.write()
		row, err := applyOne(txn, index, &cmds[i])
		if err != nil {
			txn.Abort()
		} else {
			txn.Commit()
			record(txn, index)
		}
		out[i] = BatchResult{Row: row, Err: err}
	}
	return out
}

// EncodeBatch is what (&Command{Type: CmdBatch, Batch: cmds}).EncodeAs(f)
// returns, built from each command's own encoding in f.Part(): the leader
// encodes every write of a follower's batch once to size it, and this
// spares encoding them all again for the Raft entry.
func EncodeBatch(encoded [][]byte, f Format) []byte {
	n := 32
	for _, e := range encoded {
		n += len(e)
	}
	if f == FormatS2 {
		// The plain batch is only compress's input: its buffer is reused.
		scratch := getScratch(n)
		plain := joinBinary((*scratch)[:0], encoded)
		out := compress(plain)
		if len(out) > 0 && &out[0] == &plain[0] {
			out = bytes.Clone(plain) // not smaller compressed: kept plain
		}
		*scratch = plain
		putScratch(scratch)
		return out
	}
	b := make([]byte, 0, n)
	if f == FormatBinary {
		return joinBinary(b, encoded)
	}
	b = append(b, byte(FormatJSON))
	b = append(b, `{"type":`...)
	b = strconv.AppendUint(b, uint64(CmdBatch), 10)
	b = append(b, `,"batch":[`...)
	for i, e := range encoded {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e[1:]...) // without its format byte
	}
	return append(b, "]}"...)
}

// joinBinary appends the format-2 batch of the format-2 commands encoded.
func joinBinary(b []byte, encoded [][]byte) []byte {
	b = appendBinaryBatchHeader(b, len(encoded))
	for _, e := range encoded {
		b = append(b, e[1:]...)
	}
	return appendBinaryBatchTrailer(b)
}

// Part is the format of the writes that EncodeBatch joins into a batch in
// f: format 3 compresses the whole batch, its writes are format 2.
func (f Format) Part() Format {
	if f == FormatS2 {
		return FormatBinary
	}
	return f
}
