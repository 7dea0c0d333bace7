package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// A leader that freezes (SIGSTOP here; a paused VM or a black-holed host in
// production) keeps its connections open, unlike one killed with -9. These
// rows time what clients of a follower see across such a pause.

// pauseRows runs both pause rows, each with its own pauses.
func (s *suite) pauseRows(ctx context.Context) error {
	if err := s.pausedSequentialRow(ctx); err != nil {
		return err
	}
	return s.pausedManyRow(ctx)
}

// pausedSequentialRow: one client writes through a follower, one write after
// another; the leader is paused while a write is on its way. The row is the
// time from the pause to the first write acknowledged after it.
func (s *suite) pausedSequentialRow(ctx context.Context) error {
	var took []float64
	inFlight := 0
	for k := range s.o.Kills {
		l, err := s.pc.WaitLeader(ctx)
		if err != nil {
			return err
		}
		f := (l + 1) % 3
		ld := &loader{cfg: LoadConfig{Prefix: fmt.Sprintf("pause1-%d", k)}, hc: &rawClient{tls: s.tls}}
		defer ld.hc.closeIdle()
		var paused time.Time
		for i := 0; ; i++ {
			if i == 5 {
				go func() {
					time.Sleep(time.Millisecond) // write 5 is on its way
					s.pc.Pause(l)
				}()
				paused = time.Now().Add(time.Millisecond)
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			code, err := ld.register(wctx, s.pc.URL(f), "pause", fmt.Sprint(i))
			cancel()
			if i == 5 && code == http.StatusServiceUnavailable {
				inFlight++ // answered indeterminate: it was in flight at the pause
			}
			if i > 5 && err == nil && code == http.StatusCreated {
				took = append(took, ms(time.Since(paused)))
				break
			}
			if i >= 5 && time.Since(paused) > 60*time.Second {
				s.pc.Resume(l)
				return fmt.Errorf("no write acknowledged in the minute after pausing the leader (last: %d %v)", code, err)
			}
			if ctx.Err() != nil {
				s.pc.Resume(l)
				return ctx.Err()
			}
		}
		s.registered += 6
		if err := s.resume(ctx, l); err != nil {
			return err
		}
	}
	s.add("4b", "leader SIGSTOP -> first write, sequential client with a write in flight", fmt.Sprintf("%.0f ms", median(took)),
		fmt.Sprintf("%s; the write in flight answered indeterminate in %d of %d", runsText(took), inFlight, len(took)))
	return nil
}

// pausedManyRow: 64 clients write through a follower and the leader is
// paused under them; the row is the longest any write waited for its
// answer (success, indeterminate or refused).
func (s *suite) pausedManyRow(ctx context.Context) error {
	var longest []float64
	errs := 0
	for k := range s.o.Kills {
		l, err := s.pc.WaitLeader(ctx)
		if err != nil {
			return err
		}
		f := (l + 1) % 3
		// Long enough that a write held for the whole 7 s hold is counted
		// rather than cut off by the end of the run.
		span := max(s.o.span(12*time.Second), 10*time.Second)
		timer := time.AfterFunc(span/6, func() { s.pc.Pause(l) })
		r, err := s.load(ctx, LoadConfig{Addrs: []string{s.pc.URL(f)}, Mode: ModeRegister, Clients: 64, Duration: span,
			Prefix: "pause64", Keys: pauseKeys})
		timer.Stop()
		if err != nil {
			s.pc.Resume(l)
			return err
		}
		longest = append(longest, ms(r.Latency.Max))
		errs += r.Errors
		if k == 0 {
			s.registered += pauseKeys // every run upserts the same URLs
		}
		if err := s.resume(ctx, l); err != nil {
			return err
		}
	}
	s.add("4c", "leader SIGSTOP under 64 clients via a follower -> longest write wait", fmt.Sprintf("%.0f ms", median(longest)),
		fmt.Sprintf("%s; answers other than 201 in all runs: %d", runsText(longest), errs))
	return nil
}

// pauseKeys is how many URLs the 64 clients of the pause row upsert.
const pauseKeys = 1000

// resume lets a paused node run again and waits until the cluster is whole.
func (s *suite) resume(ctx context.Context, i int) error { return s.bringBack(ctx, s.pc.Resume(i)) }
