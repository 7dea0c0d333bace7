package monotonic

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent raises leave the largest value, and a smaller one never
// lowers it.
func TestRaiseKeepsTheLargest(t *testing.T) {
	var v atomic.Uint64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				Raise(&v, uint64(i*8+g))
			}
		}()
	}
	wg.Wait()
	if got := v.Load(); got != 999*8+7 {
		t.Fatalf("%d, want %d", got, 999*8+7)
	}
	Raise(&v, 5)
	if got := v.Load(); got != 999*8+7 {
		t.Fatalf("a smaller value lowered it to %d", got)
	}
}
