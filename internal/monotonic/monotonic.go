// Package monotonic holds an index that only moves forward, shared by
// goroutines without a lock.
package monotonic

import "sync/atomic"

// Raise sets v to x unless v already holds x or more.
func Raise(v *atomic.Uint64, x uint64) {
	for cur := v.Load(); x > cur; cur = v.Load() {
		if v.CompareAndSwap(cur, x) {
			return
		}
	}
}
