package httpapi

import "sync"

// listCache keeps encoded list answers for the current index of a table.
// Any write moves the index and empties it, so an entry is never stale:
// it only saves re-encoding the same list for every reader of a catalog
// that is read far more than written (a slug polled by many clients).
type listCache struct {
	mu sync.RWMutex
	// gen is the FSM state the answers were read from: a snapshot restore
	// replaces the state, and indexes from before it mean nothing after.
	gen   <-chan struct{}
	index uint64
	size  int
	byKey map[string][]byte
}

// maxCacheBytes bounds the encoded answers kept at one index.
const maxCacheBytes = 16 << 20

func newListCache() *listCache { return &listCache{byKey: map[string][]byte{}} }

// get returns the answer for key if it was encoded at index.
func (lc *listCache) get(gen <-chan struct{}, index uint64, key string) ([]byte, bool) {
	lc.mu.RLock()
	defer lc.mu.RUnlock()
	if lc.gen != gen || lc.index != index {
		return nil, false
	}
	b, ok := lc.byKey[key]
	return b, ok
}

// put keeps body as the answer for key at index, dropping answers of
// older indexes; an index older than the kept one is ignored.
func (lc *listCache) put(gen <-chan struct{}, index uint64, key string, body []byte) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	switch {
	case gen != lc.gen || index > lc.index:
		lc.gen, lc.index, lc.size, lc.byKey = gen, index, 0, map[string][]byte{}
	case index < lc.index:
		return
	}
	if _, ok := lc.byKey[key]; ok || lc.size+len(body) > maxCacheBytes {
		return
	}
	lc.byKey[key] = body
	lc.size += len(body)
}
