package httpapi

import "sync"

// listCache keeps encoded list answers, each for the index it was read at:
// the index of what the list depends on (a slug's rows, or a whole table).
// A write moves that index, so an entry is never served stale; it only
// saves re-encoding the same list for every reader of a catalog that is
// read far more than written (a slug polled by many clients), and a write
// to one slug leaves the other slugs' lists in place.
type listCache struct {
	mu sync.RWMutex
	// gen is the FSM state the answers were read from: a snapshot restore
	// replaces the state, and indexes from before it mean nothing after.
	gen   <-chan struct{}
	size  int
	byKey map[string]cachedList
	// flights are encodings under way: readers of the same list at the
	// same index wait for the one encoding and share its bytes.
	flights map[flightKey]*flight
}

type flightKey struct {
	gen   <-chan struct{}
	index uint64
	key   string
}

type cachedList struct {
	index uint64
	body  []byte
}

type flight struct {
	done chan struct{}
	body []byte
	err  error
}

// maxCacheBytes bounds the encoded answers kept; past it the cache starts
// again empty.
const maxCacheBytes = 16 << 20

func newListCache() *listCache {
	return &listCache{byKey: map[string]cachedList{}, flights: map[flightKey]*flight{}}
}

// encode returns the answer for key at index: the cached one, or the one
// another reader is encoding now, or f's, which is then cached. Hundreds of
// watchers woken by one write thus hold one encoded list between them
// instead of one each (a 4.5 MB list and 500 watchers took a node to
// 5.5 GB).
func (lc *listCache) encode(gen <-chan struct{}, index uint64, key string, f func() ([]byte, error)) ([]byte, error) {
	if b, ok := lc.get(gen, index, key); ok {
		return b, nil
	}
	fk := flightKey{gen, index, key}
	lc.mu.Lock()
	if fl, ok := lc.flights[fk]; ok {
		lc.mu.Unlock()
		<-fl.done
		return fl.body, fl.err
	}
	fl := &flight{done: make(chan struct{})}
	lc.flights[fk] = fl
	lc.mu.Unlock()
	fl.body, fl.err = f()
	if fl.err == nil {
		lc.put(gen, index, key, fl.body)
	}
	lc.mu.Lock()
	delete(lc.flights, fk)
	lc.mu.Unlock()
	close(fl.done)
	return fl.body, fl.err
}

// get returns the answer for key if it was encoded at index.
func (lc *listCache) get(gen <-chan struct{}, index uint64, key string) ([]byte, bool) {
	lc.mu.RLock()
	defer lc.mu.RUnlock()
	if lc.gen != gen {
		return nil, false
	}
	e, ok := lc.byKey[key]
	return e.body, ok && e.index == index
}

// put keeps body as the answer for key at index in place of an older one;
// an index older than the kept one is ignored.
func (lc *listCache) put(gen <-chan struct{}, index uint64, key string, body []byte) {
	if len(body) > maxCacheBytes {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if gen != lc.gen {
		lc.gen, lc.size, lc.byKey = gen, 0, map[string]cachedList{}
	}
	old, ok := lc.byKey[key]
	if ok && old.index >= index {
		return
	}
	lc.size += len(body) - len(old.body)
	if lc.size > maxCacheBytes {
		lc.size, lc.byKey = len(body), map[string]cachedList{}
	}
	lc.byKey[key] = cachedList{index: index, body: body}
}
