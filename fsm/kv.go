package fsm

import (
	"fmt"

	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
)

// The KV tree: slash-separated keys with byte values, replicated like the
// rest of the catalog. Writes may be conditional on a key's modify index
// (CAS: 0 means "only if absent").

const tableKV = "kv"

// KVEntry is one key.
type KVEntry = api.KVEntry

// KVCommand sets or deletes a key, or with Recurse every key under a
// prefix.
type KVCommand struct {
	Key     string  `json:"key"`
	Value   []byte  `json:"value,omitempty"`
	CAS     *uint64 `json:"cas,omitempty"`
	Recurse bool    `json:"recurse,omitempty"`
}

// ValidateKV checks a KV command as a write would be checked.
func ValidateKV(c *KVCommand, set bool) error {
	if err := api.ValidateKVKey(c.Key, !set && c.Recurse); err != nil {
		return err
	}
	if len(c.Value) > api.MaxKVValueLen {
		return Invalid("value", "is %d bytes, the limit is %d", len(c.Value), api.MaxKVValueLen)
	}
	if c.Recurse && c.CAS != nil {
		return Invalid("cas", "does not apply to a recursive delete")
	}
	return nil
}

func validateKVEntry(e *KVEntry) error {
	return ValidateKV(&KVCommand{Key: e.Key, Value: e.Value}, true)
}

// kvSize is what a key counts for against the byte quota.
func kvSize(e *KVEntry) int64 {
	if e == nil {
		return 0
	}
	return int64(64 + len(e.Key) + len(e.Value))
}

func kvGet(txn *memdb.Txn, key string) (*KVEntry, error) {
	raw, err := txn.First(tableKV, "id", key)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*KVEntry), nil
}

// casHolds says whether a conditional write may go ahead.
func casHolds(cas *uint64, cur *KVEntry, key string) error {
	if cas == nil {
		return nil
	}
	switch {
	case *cas == 0 && cur != nil:
		return Conflict("cas", "key %s exists (modify index %d); cas=0 only creates", key, cur.ModifyIndex)
	case *cas != 0 && cur == nil:
		return Conflict("cas", "key %s does not exist; cas=%d expected modify index %d", key, *cas, *cas)
	case *cas != 0 && cur.ModifyIndex != *cas:
		return Conflict("cas", "key %s is at modify index %d, not %d", key, cur.ModifyIndex, *cas)
	}
	return nil
}

func kvSet(txn *tx, index uint64, c *KVCommand, q *api.Quota) (*KVEntry, error) {
	if err := ValidateKV(c, true); err != nil {
		return nil, err
	}
	cur, err := kvGet(txn.Txn, c.Key)
	if err != nil {
		return nil, err
	}
	if err := casHolds(c.CAS, cur, c.Key); err != nil {
		return nil, err
	}
	row := &KVEntry{Key: c.Key, Value: c.Value, CreateIndex: index, ModifyIndex: index}
	added := 1
	if cur != nil {
		row.CreateIndex, added = cur.CreateIndex, 0
	}
	if err := accountKV(txn, q, added, kvSize(row)-kvSize(cur)); err != nil {
		return nil, err
	}
	if err := txn.Insert(tableKV, row); err != nil {
		return nil, fmt.Errorf("insert key: %w", err)
	}
	return row, bumpIndex(txn, tableKV, index)
}

// kvDelete removes a key (404 when absent), or every key under a prefix
// (none is no error). It returns how many it removed.
func kvDelete(txn *tx, index uint64, c *KVCommand) (int, error) {
	if err := ValidateKV(c, false); err != nil {
		return 0, err
	}
	var rows []*KVEntry
	if c.Recurse {
		it, err := txn.Get(tableKV, "id_prefix", c.Key)
		if err != nil {
			return 0, err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			rows = append(rows, raw.(*KVEntry))
		}
	} else {
		cur, err := kvGet(txn.Txn, c.Key)
		if err != nil {
			return 0, err
		}
		if err := casHolds(c.CAS, cur, c.Key); err != nil {
			return 0, err
		}
		if cur == nil {
			return 0, NotFound("key %s not found", c.Key)
		}
		rows = append(rows, cur)
	}
	for _, row := range rows {
		if err := accountKV(txn, nil, -1, -kvSize(row)); err != nil {
			return 0, err
		}
		if err := txn.Delete(tableKV, row); err != nil {
			return 0, fmt.Errorf("delete key: %w", err)
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	return len(rows), bumpIndex(txn, tableKV, index)
}

// KV reads one key; nil when absent. Its index is the key's modify index
// (a blocking read of it wakes for its own changes), or the tree's when
// the key is absent.
func (f *FSM) KV(ws memdb.WatchSet, key string) (*KVEntry, uint64, error) {
	txn := f.state().db.Txn(false)
	ch, raw, err := txn.FirstWatch(tableKV, "id", key)
	if err != nil {
		return nil, 0, err
	}
	if ws != nil {
		ws.Add(ch)
	}
	if raw == nil {
		return nil, maxIndex(txn, tableKV), nil
	}
	e := *raw.(*KVEntry)
	return &e, e.ModifyIndex, nil
}

// KVList reads every key under prefix, in key order.
func (f *FSM) KVList(ws memdb.WatchSet, prefix string) ([]*KVEntry, uint64, error) {
	txn := f.state().db.Txn(false)
	it, err := txn.Get(tableKV, "id_prefix", prefix)
	if err != nil {
		return nil, 0, err
	}
	if ws != nil {
		ws.Add(it.WatchCh())
	}
	out := []*KVEntry{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		e := *raw.(*KVEntry)
		out = append(out, &e)
	}
	// The tree's index: a removal under the prefix moves it too.
	return out, maxIndex(txn, tableKV), nil
}
