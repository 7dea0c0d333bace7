package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// watchers is how many blocking reads the watcher row parks on one node,
// from eight loopback addresses, since one address may hold at most 200
// connections.
const watchers = 1000

// watchRow parks 1,000 blocking reads of a 100-instance slug on a follower,
// then wakes them with one write, and reports the follower's RSS per parked
// watcher and its growth on the wake-up (all of them share one encoded
// answer).
func (s *suite) watchRow(ctx context.Context) error {
	f, err := s.follower(ctx)
	if err != nil {
		return err
	}
	url := s.pc.URL(f)
	ld := &loader{cfg: LoadConfig{Prefix: "watch"}, hc: &rawClient{tls: s.tls}}
	defer ld.hc.closeIdle()
	for k := range 100 {
		if code, err := ld.register(ctx, url, "watch", strconv.Itoa(k)); err != nil || code != http.StatusCreated {
			return fmt.Errorf("register a watched instance: %d %v", code, err)
		}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.tls}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url + "/registry-svc/instances?slug=watch")
	if err != nil {
		return err
	}
	resp.Body.Close()
	index, _ := strconv.ParseUint(resp.Header.Get("X-Registry-Index"), 10, 64)
	before, _, err := rssMB(s.pc.PID(f))
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var answered, failed atomic.Int64
	var wg sync.WaitGroup
	n := max(50, s.o.count(watchers))
	clients := make([]*http.Client, 8)
	for i := range clients {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i))}}
		clients[i] = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: s.tls,
			MaxIdleConnsPerHost: watchers, MaxConnsPerHost: 0}}
	}
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(wctx, http.MethodGet,
				fmt.Sprintf("%s/registry-svc/instances?slug=watch&index=%d&wait=90s", url, index), nil)
			resp, err := clients[w%len(clients)].Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
				if resp != nil {
					resp.Body.Close()
				}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answered.Add(1)
		}()
	}
	time.Sleep(3 * time.Second) // every watcher connected and parked
	during, _, err := rssMB(s.pc.PID(f))
	if err != nil {
		return err
	}
	if code, err := ld.register(ctx, url, "watch", "wake"); err != nil || code != http.StatusCreated {
		return fmt.Errorf("the waking write: %d %v", code, err)
	}
	wg.Wait()
	after, _, err := rssMB(s.pc.PID(f))
	if err != nil {
		return err
	}
	s.add("7d", fmt.Sprintf("RSS of %d parked watchers of a 100-instance slug, then one write", n),
		fmt.Sprintf("%.0f KB per watcher", (during-before)*1024/float64(n)),
		fmt.Sprintf("%.0f MB before, %.0f parked, %.0f after the wake-up; %d answered, %d failed",
			before, during, after, answered.Load(), failed.Load()))
	return nil
}
