package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// paced is what a steady write load did.
type paced struct {
	// lat holds the latency of each acknowledged write.
	lat []time.Duration
	// failed writes, and ticks missed because every writer was busy (the
	// rate was not held).
	failed, late int
	elapsed      time.Duration
}

// pacedWrites registers at rate writes/s through addr for span, 64 writers
// sharing ticks laid out from the start (a late tick does not push the
// later ones back). before, when set, is told each write's key and start.
// Write k goes to slug prefix-(k%100) with a new key.
func (s *suite) pacedWrites(ctx context.Context, addr, prefix string, rate int, span time.Duration, before func(key string, at time.Time)) paced {
	return s.pacedTo(ctx, addr, prefix, rate, span, before, func(k int) (string, string) {
		return fmt.Sprintf("%s-%d", prefix, k%100), strconv.Itoa(k)
	})
}

// pacedTo is pacedWrites with write k going to target(k) = (slug, key):
// an existing key rewrites that instance.
func (s *suite) pacedTo(ctx context.Context, addr, prefix string, rate int, span time.Duration, before func(key string, at time.Time), target func(k int) (slug, key string)) paced {
	ld := &loader{cfg: LoadConfig{Prefix: prefix}, hc: &rawClient{tls: s.tls}}
	defer ld.hc.closeIdle()
	ticks := make(chan int, 64)
	var mu sync.Mutex
	var out paced
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ticks {
				slug, key := target(k)
				began := time.Now()
				if before != nil {
					before(key, began)
				}
				code, err := ld.register(ctx, addr, slug, key)
				mu.Lock()
				if err != nil || code != http.StatusCreated {
					out.failed++
				} else {
					out.lat = append(out.lat, time.Since(began))
				}
				mu.Unlock()
			}
		}()
	}
	every := time.Second / time.Duration(rate)
	start := time.Now()
	for k := 0; time.Since(start) < span && ctx.Err() == nil; k++ {
		time.Sleep(time.Until(start.Add(time.Duration(k) * every)))
		select {
		case ticks <- k:
		default:
			out.late++ // every writer busy: the rate is not held
		}
	}
	close(ticks)
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}
