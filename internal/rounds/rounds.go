// Package rounds shares one call among everyone who asks while it runs.
//
// A caller joins the first round that starts after it asked, never one
// already under way: the answer then reflects the world at or after the
// call. That is what a read index needs (an index fetched before a read
// began could miss a write acknowledged in between), and it still turns a
// crowd of concurrent readers into one quorum check per round trip.
package rounds

import (
	"context"
	"sync"
	"sync/atomic"
)

type result[T any] struct {
	v   T
	err error
}

// Group runs fn in rounds for the callers of Do.
type Group[T any] struct {
	fn      func() (T, error)
	mu      sync.Mutex
	waiting []chan result[T]
	running bool
	// closed is what Do answers once Close has been called: no round
	// starts after it, so Close's wait cannot race a new round's start.
	closed error
	wg     sync.WaitGroup
	// callers is how many calls of Do have not returned.
	callers atomic.Int64
}

// Callers is how many calls of Do are waiting for an answer now.
func (g *Group[T]) Callers() int { return int(g.callers.Load()) }

// New returns a Group whose rounds call fn.
func New[T any](fn func() (T, error)) *Group[T] { return &Group[T]{fn: fn} }

// Do joins the next round and returns its answer, or ctx's error when ctx
// ends first (the round goes on for the others).
func (g *Group[T]) Do(ctx context.Context) (T, error) {
	g.callers.Add(1)
	defer g.callers.Add(-1)
	ch := make(chan result[T], 1)
	g.mu.Lock()
	if g.closed != nil {
		g.mu.Unlock()
		var zero T
		return zero, g.closed
	}
	g.waiting = append(g.waiting, ch)
	if !g.running {
		g.running = true
		g.wg.Add(1)
		go g.loop()
	}
	g.mu.Unlock()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Close makes later calls of Do answer err at once and returns when no
// round runs: for shutdown, after whatever makes fn return has happened.
// Those already waiting get the answer of the round they joined.
func (g *Group[T]) Close(err error) {
	g.mu.Lock()
	g.closed = err
	g.mu.Unlock()
	g.wg.Wait()
}

// loop runs one round for everyone waiting, until no one is. Those who
// arrive during a round wait for the next one.
func (g *Group[T]) loop() {
	defer g.wg.Done()
	for {
		g.mu.Lock()
		batch := g.waiting
		g.waiting = nil
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		v, err := g.fn()
		for _, ch := range batch {
			ch <- result[T]{v, err}
		}
	}
}
