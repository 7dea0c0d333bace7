// Command etcdload is the etcd side of `make bench`: it runs the suite's
// workloads against an etcd cluster with etcd's own Go client, so that each
// row can show Roster and etcd measured in the same run on the same
// machine. It is a module of its own so that the roster binary does not
// link etcd; the suite runs it once per measurement and reads the JSON it
// prints (the shape of bench.Result).
//
//	etcdload leader --endpoints A,B,C          index of the leader's endpoint
//	etcdload put    --endpoints F --clients 64 --total 20000 --prefix p
//	etcdload seed   --endpoints F --prefix p-read --count 100
//	etcdload get    --endpoints F --clients 64 --duration 8s --prefix p-read [--serializable]
//	etcdload mixed  ... get, with --write-rate/--same-rate paced puts beside it
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: etcdload leader|put|seed|get|mixed [flags]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "etcdload:", err)
		os.Exit(1)
	}
}

// options are every command's flags; each command reads those it needs.
type options struct {
	endpoints    string
	clients      int
	total, count int
	duration     time.Duration
	prefix       string
	serializable bool
	writeRate    int
	sameRate     int
}

func run(cmd string, args []string) error {
	var o options
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.StringVar(&o.endpoints, "endpoints", "", "client URLs, comma-separated")
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients")
	fs.IntVar(&o.total, "total", 0, "puts to make (put)")
	fs.IntVar(&o.count, "count", 100, "keys to write under the prefix (seed)")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "how long to read (get, mixed)")
	fs.StringVar(&o.prefix, "prefix", "bench", "key prefix of this run")
	fs.BoolVar(&o.serializable, "serializable", false, "serializable reads (the member's own state, like Roster's local reads)")
	fs.IntVar(&o.writeRate, "write-rate", 500, "puts/s under other prefixes while reading (mixed)")
	fs.IntVar(&o.sameRate, "same-rate", 50, "puts/s under the read prefix while reading (mixed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.endpoints == "" {
		return errors.New("--endpoints: required")
	}
	if o.clients < 1 || o.clients > 4096 {
		return fmt.Errorf("--clients %d: want 1-4096", o.clients)
	}
	ctx := context.Background()
	switch cmd {
	case "leader":
		return printLeader(ctx, strings.Split(o.endpoints, ","))
	case "put":
		if o.total < 1 {
			return fmt.Errorf("--total %d: want at least 1", o.total)
		}
		return emit(putLoad(ctx, o))
	case "seed":
		return seed(ctx, o)
	case "get":
		return emit(getLoad(o))
	case "mixed":
		return emit(mixedLoad(ctx, o))
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func newClient(endpoints string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: strings.Split(endpoints, ","), DialTimeout: 5 * time.Second})
}

// printLeader prints the index in endpoints of the member that leads.
func printLeader(ctx context.Context, endpoints []string) error {
	cl, err := newClient(strings.Join(endpoints, ","))
	if err != nil {
		return err
	}
	defer cl.Close()
	for i, ep := range endpoints {
		st, err := cl.Status(ctx, ep)
		if err != nil {
			return fmt.Errorf("status of %s: %w", ep, err)
		}
		if st.Leader == st.Header.MemberId {
			fmt.Println(i)
			return nil
		}
	}
	return errors.New("no member leads")
}

func emit(r *result, err error) error {
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
