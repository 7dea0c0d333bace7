package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// streamRows open 1,000 change streams on one follower and register at a
// steady 1,000 writes/s through another node, and report how long a
// change takes from the start of its write to a reader, and the
// follower's RSS with the streams open. Two shapes: every stream follows
// one of 100 slugs (a service watching itself: each write reaches 10
// readers), and every stream follows everything at a tenth of the rate
// (each write reaches all 1,000; the readers here share the machine's two
// cores with the cluster, so 1,000,000 deliveries a second are not
// measurable on it).
func (s *suite) streamRows(ctx context.Context) error {
	for _, shape := range []struct {
		id, name string
		rate     int
		perSlug  bool
	}{
		{"7e", "change stream: 1,000 streams (10 per slug) on a follower, 1,000 writes/s", 1000, true},
		{"7f", "change stream: 1,000 unfiltered streams on a follower, 100 writes/s", 100, false},
	} {
		if err := s.streamRow(ctx, shape.id, shape.name, shape.rate, shape.perSlug); err != nil {
			return err
		}
	}
	return nil
}

var urlKey = []byte(`"url":"`)

func (s *suite) streamRow(ctx context.Context, id, name string, rate int, perSlug bool) error {
	f, err := s.follower(ctx)
	if err != nil {
		return err
	}
	l, err := s.pc.WaitLeader(ctx)
	if err != nil {
		return err
	}
	url := s.pc.URL(f)
	prefix := "stream" + id
	n := max(50, s.o.count(watchers))
	before, _, err := rssMB(s.pc.PID(f))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var sent sync.Map // URL key → time its write started
	var mu sync.Mutex
	var lat []time.Duration
	var opened, failed, lines atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	clients := make([]*http.Client, 8) // one loopback address holds 200 connections at most
	for i := range clients {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(20+i))}}
		clients[i] = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: s.tls}}
	}
	for w := range n {
		q := "kind=instance"
		if perSlug {
			q += fmt.Sprintf("&slug=%s-%d", prefix, w%100)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(sctx, http.MethodGet, url+"/registry-svc/events?"+q, nil)
			req.Header.Set("Accept", "application/x-ndjson")
			resp, err := clients[w%len(clients)].Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
				if resp != nil {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
					resp.Body.Close()
				}
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer resp.Body.Close()
			opened.Add(1)
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				lines.Add(1)
				// The first "url" of an instance event is the instance's:
				// found without decoding, the readers share the cores with
				// the cluster.
				line := sc.Bytes()
				i := bytes.Index(line, urlKey)
				if i < 0 {
					continue
				}
				rest := line[i+len(urlKey):]
				end := bytes.IndexByte(rest, '"')
				if end < 0 {
					continue
				}
				if at, ok := sent.Load(string(rest[:end])); ok {
					mine = append(mine, time.Since(at.(time.Time)))
				}
			}
		}()
	}
	for wait := time.Now(); opened.Load()+failed.Load() < int64(n) && time.Since(wait) < time.Minute; {
		time.Sleep(100 * time.Millisecond) // every stream open (TLS handshakes take a while)
	}
	if opened.Load() == 0 {
		return fmt.Errorf("no change stream opened (%d failed: %v)", failed.Load(), firstErr.Load())
	}
	during, _, err := rssMB(s.pc.PID(f))
	if err != nil {
		return err
	}

	// Writes at a steady rate through the leader (not the follower that
	// serves the streams), with the ticks shared by 64 writers.
	pr := s.pacedWrites(sctx, s.pc.URL(l), prefix, rate, s.o.span(10*time.Second), func(key string, at time.Time) {
		sent.Store(fmt.Sprintf("http://10.255.0.1:8080/%s/%s", prefix, key), at)
	})
	wrote := len(pr.lat)
	s.registered += wrote
	time.Sleep(2 * time.Second) // the last changes reach the readers
	peak, _, err := rssMB(s.pc.PID(f))
	if err != nil {
		return err
	}
	cancel()
	wg.Wait()
	got := summarise(lat)
	deliveries := len(lat)
	if deliveries == 0 {
		return fmt.Errorf("%d streams open (%d failed: %v), %d writes (%d failed), %d lines read, and no change reached a reader",
			opened.Load(), failed.Load(), firstErr.Load(), wrote, pr.failed, lines.Load())
	}
	s.add(id, name,
		fmt.Sprintf("p99 %s", got.P99.Round(time.Millisecond)),
		fmt.Sprintf("from the start of the write (whose own answer took p50 %s, p99 %s) to a reader: p50 %s, max %s, %d deliveries; %d streams open (%d failed); %.0f writes/s held (%d failed, %d ticks missed); RSS %.0f MB before, %.0f with the streams open, %.0f at the end",
			summarise(pr.lat).P50.Round(time.Millisecond), summarise(pr.lat).P99.Round(time.Millisecond),
			got.P50.Round(time.Millisecond), got.Max.Round(time.Millisecond), deliveries, opened.Load(), failed.Load(),
			float64(wrote)/pr.elapsed.Seconds(), pr.failed, pr.late, before, during, peak))
	return nil
}
