package rounds

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A caller that arrives while a round runs gets the next round's answer,
// never the one already under way.
func TestLateCallerJoinsNextRound(t *testing.T) {
	var calls atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	g := New(func() (int64, error) {
		n := calls.Add(1)
		if n == 1 {
			close(started)
			<-release
		}
		return n, nil
	})
	first := make(chan int64, 1)
	go func() {
		v, _ := g.Do(context.Background())
		first <- v
	}()
	<-started
	second := make(chan int64, 1)
	go func() {
		v, _ := g.Do(context.Background())
		second <- v
	}()
	// Let the second caller queue before the first round ends.
	for {
		g.mu.Lock()
		n := len(g.waiting)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if v := <-first; v != 1 {
		t.Fatalf("first caller got round %d, want 1", v)
	}
	if v := <-second; v != 2 {
		t.Fatalf("caller who arrived during round 1 got round %d, want 2", v)
	}
	g.Close(errClosed)
}

// Callers waiting together share one round.
func TestWaitingCallersShareARound(t *testing.T) {
	var calls atomic.Int64
	gate := make(chan struct{})
	g := New(func() (int64, error) {
		if calls.Add(1) == 1 {
			<-gate
		}
		return calls.Load(), nil
	})
	go g.Do(context.Background()) // round 1, held at the gate
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	got := make([]int64, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = g.Do(context.Background())
		}()
	}
	for {
		g.mu.Lock()
		n := len(g.waiting)
		g.mu.Unlock()
		if n == len(got) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, v := range got {
		if v != 2 {
			t.Fatalf("caller %d got round %d; all 50 should share round 2", i, v)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d rounds for 51 callers in two waves, want 2", n)
	}
	g.Close(errClosed)
}

func TestErrorsReachEveryoneAndContextEndsTheWait(t *testing.T) {
	boom := errors.New("boom")
	release := make(chan struct{})
	g := New(func() (int, error) {
		<-release
		return 0, boom
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Do(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := g.Do(context.Background())
		done <- err
	}()
	close(release)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("round error: %v", err)
	}
	g.Close(errClosed)
}

var errClosed = errors.New("closed")

// Calls that come while the group closes either get a round's answer or
// the closing error at once; no round starts after Close returns, and
// Close never races a round starting (run with -race).
func TestCloseWhileCallsArrive(t *testing.T) {
	var rounds atomic.Int64
	g := New(func() (int64, error) { return rounds.Add(1), nil })
	var closed atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !closed.Load() {
				if _, err := g.Do(context.Background()); err != nil {
					if !errors.Is(err, errClosed) {
						t.Errorf("Do while closing: %v, want the closing error", err)
					}
					return
				}
			}
		}()
	}
	for rounds.Load() < 100 {
		time.Sleep(time.Millisecond)
	}
	g.Close(errClosed)
	after := rounds.Load()
	closed.Store(true)
	wg.Wait()
	if _, err := g.Do(context.Background()); !errors.Is(err, errClosed) {
		t.Fatalf("Do after Close: %v, want the closing error", err)
	}
	if n := rounds.Load(); n != after {
		t.Fatalf("%d rounds ran after Close returned", n-after)
	}
}
