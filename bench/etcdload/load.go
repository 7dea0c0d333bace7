package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// result is bench.Result's JSON shape.
type result struct {
	Mode         string         `json:"mode"`
	Clients      int            `json:"clients"`
	Ops          int            `json:"ops"`
	Errors       int            `json:"errors"`
	Seconds      float64        `json:"seconds"`
	OpsPerSec    float64        `json:"opsPerSec"`
	Latency      latency        `json:"latency"`
	ErrorsByCode map[string]int `json:"errorsByCode"`
	FirstError   string         `json:"firstError,omitempty"`
	// Writes and WriteErrors are the paced puts of a mixed run.
	Writes      int `json:"writes,omitempty"`
	WriteErrors int `json:"writeErrors,omitempty"`
}

type latency struct {
	P50 time.Duration `json:"p50"`
	P95 time.Duration `json:"p95"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

// instanceJSON is what Roster stores for a registration of the suite's
// load (the same fields, the same size), so both stores hold the same
// bytes.
func instanceJSON(prefix string, n int) string {
	return fmt.Sprintf(`{"id":"inst_%016x","url":"http://10.255.0.1:8080/%s/%d","slug":"%s-%d","status":"Unknown","statusReason":"","check":{"type":"none"},"nodeId":"node1","createdAt":"2026-12-03T18:00:00.000000000Z","updatedAt":"2026-12-03T18:00:00.000000000Z","lastHeartbeat":"0001-01-01T00:00:00Z"}`,
		n*7919, prefix, n, prefix, n/100)
}

// worker runs op in clients goroutines until next says stop; it records
// each op's latency.
func workers(clients int, op func(ctx context.Context, w, n int) error, next func() (int, bool)) *result {
	ctx := context.Background()
	lat := make([][]time.Duration, clients)
	var errs atomic.Int64
	var first atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, ok := next()
				if !ok {
					return
				}
				t := time.Now()
				if err := op(ctx, w, n); err != nil {
					errs.Add(1)
					first.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	all := slices.Concat(lat...)
	r := &result{Clients: clients, Ops: len(all) + int(errs.Load()), Errors: int(errs.Load()), Seconds: secs,
		OpsPerSec: float64(len(all)) / secs, Latency: summarise(all), ErrorsByCode: map[string]int{}}
	if r.Errors > 0 {
		r.ErrorsByCode["etcd"] = r.Errors
		r.FirstError, _ = first.Load().(string)
	}
	return r
}

func summarise(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return latency{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ds[len(ds)-1]}
}

// counter hands out 0..total-1.
func counter(total int) func() (int, bool) {
	var n atomic.Int64
	return func() (int, bool) {
		i := int(n.Add(1)) - 1
		return i, i < total
	}
}

// until hands out numbers until d has passed.
func until(d time.Duration) func() (int, bool) {
	end := time.Now().Add(d)
	var n atomic.Int64
	return func() (int, bool) { return int(n.Add(1)), time.Now().Before(end) }
}

// clientsFor opens one etcd client per 16 workers: one gRPC connection
// multiplexes many streams, as an application would use it.
func clientsFor(o options) ([]*clientv3.Client, func(), error) {
	var cls []*clientv3.Client
	closeAll := func() {
		for _, c := range cls {
			c.Close()
		}
	}
	for range (o.clients + 15) / 16 {
		c, err := newClient(o.endpoints)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		cls = append(cls, c)
	}
	return cls, closeAll, nil
}

// putLoad makes total puts of distinct keys.
func putLoad(_ context.Context, o options) (*result, error) {
	cls, closeAll, err := clientsFor(o)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	r := workers(o.clients, func(ctx context.Context, w, n int) error {
		_, err := cls[w/16].Put(ctx, fmt.Sprintf("/%s/%d", o.prefix, n), instanceJSON(o.prefix, n))
		return err
	}, counter(o.total))
	r.Mode = "put"
	return r, nil
}

// seed writes count keys under prefix: the list the readers read.
func seed(ctx context.Context, o options) error {
	cl, err := newClient(o.endpoints)
	if err != nil {
		return err
	}
	defer cl.Close()
	for n := range o.count {
		if _, err := cl.Put(ctx, fmt.Sprintf("/%s/%d", o.prefix, n), instanceJSON(o.prefix, n)); err != nil {
			return err
		}
	}
	return nil
}

// getLoad reads every key under prefix (a range, as Roster lists a slug)
// for the duration.
func getLoad(o options) (*result, error) {
	cls, closeAll, err := clientsFor(o)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	mode := "get-linearizable"
	if o.serializable {
		opts = append(opts, clientv3.WithSerializable())
		mode = "get-serializable"
	}
	key := "/" + o.prefix + "/"
	r := workers(o.clients, func(ctx context.Context, w, _ int) error {
		resp, err := cls[w/16].Get(ctx, key, opts...)
		if err == nil && len(resp.Kvs) == 0 {
			return fmt.Errorf("no keys under %s", key)
		}
		return err
	}, until(o.duration))
	r.Mode = mode
	return r, nil
}

// mixedLoad reads as getLoad does while paced writers put writeRate keys/s
// under other keys and sameRate/s under the read prefix (rewriting its
// keys), and reports the writes that got through.
func mixedLoad(ctx context.Context, o options) (*result, error) {
	wcl, err := newClient(o.endpoints)
	if err != nil {
		return nil, err
	}
	defer wcl.Close()
	ctx, cancel := context.WithCancel(ctx)
	var writes, werrs atomic.Int64
	var wg sync.WaitGroup
	pace := func(rate int, key func(n int) (string, string)) {
		defer wg.Done()
		if rate <= 0 {
			return
		}
		// Up to 64 puts in flight (as many writers as the suite's paced
		// writer has on Roster), so a slow put does not lower the rate.
		sem := make(chan struct{}, 64)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				for range cap(sem) {
					sem <- struct{}{}
				}
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			k, v := key(n)
			go func() {
				defer func() { <-sem }()
				if _, err := wcl.Put(ctx, k, v); err != nil {
					if ctx.Err() == nil {
						werrs.Add(1)
					}
					return
				}
				writes.Add(1)
			}()
		}
	}
	wg.Add(2)
	go pace(o.writeRate, func(n int) (string, string) {
		p := o.prefix + "-other"
		return fmt.Sprintf("/%s/%d", p, n), instanceJSON(p, n)
	})
	go pace(o.sameRate, func(n int) (string, string) {
		return fmt.Sprintf("/%s/%d", o.prefix, n%100), instanceJSON(o.prefix, n%100)
	})
	r, err := getLoad(o)
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	r.Mode = "mixed-" + r.Mode
	r.Writes, r.WriteErrors = int(writes.Load()), int(werrs.Load())
	return r, nil
}
