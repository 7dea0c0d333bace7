package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
)

// fsyncRow measures the disk's ceiling for an unbatched write path: 4 KiB
// appended and fsynced, again and again, in the directory the cluster uses.
func (s *suite) fsyncRow(ctx context.Context) error {
	var rates []float64
	for range s.o.Runs {
		r, err := fsyncRate(ctx, s.dir, s.o.span(2*time.Second))
		if err != nil {
			return err
		}
		rates = append(rates, r)
	}
	s.fsync = median(rates)
	s.add("1", "disk fsync ceiling (4 KiB write + fsync)", fmt.Sprintf("%.0f/s", s.fsync), fmt.Sprintf("in %s", s.dir))
	return nil
}

func fsyncRate(ctx context.Context, dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), ctx.Err()
}

// snapshotRow times a Raft snapshot of a 100,000-instance catalog to a real
// file store (fsync on close) and its restore into a fresh state machine.
func (s *suite) snapshotRow(ctx context.Context) error {
	n := s.o.count(100000)
	f := fsm.New(nil)
	now := time.Now().UTC()
	batch := make([]*raft.Log, 0, 256)
	for i := range n {
		in := api.Instance{URL: fmt.Sprintf("http://10.%d.%d.%d:8080/svc", i>>16&255, i>>8&255, i&255), Slug: fmt.Sprintf("svc-%d", i/100),
			Check: &api.Check{Type: api.CheckNone}}
		if err := fsm.NormalizeInstance(&in); err != nil {
			return err
		}
		data, err := (&fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{
			Instance: in, NewID: fmt.Sprintf("inst-%d", i), Now: now}}).Encode()
		if err != nil {
			return err
		}
		batch = append(batch, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
		if len(batch) == cap(batch) || i == n-1 {
			f.ApplyBatch(batch)
			batch = batch[:0]
		}
	}
	store, err := raft.NewFileSnapshotStore(filepath.Join(s.dir, "snapshots"), 1, io.Discard)
	if err != nil {
		return err
	}
	start := time.Now()
	snap, err := f.Snapshot()
	if err != nil {
		return err
	}
	sink, err := store.Create(raft.SnapshotVersionMax, uint64(n), 1, raft.Configuration{}, 1, nil)
	if err != nil {
		return err
	}
	if err := snap.Persist(sink); err != nil {
		return err
	}
	took := time.Since(start)
	metas, err := store.List()
	if err != nil || len(metas) == 0 {
		return fmt.Errorf("snapshot not listed: %v", err)
	}
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		return err
	}
	start = time.Now()
	restored := fsm.New(nil)
	if err := restored.Restore(rc); err != nil {
		return err
	}
	back := time.Since(start)
	got, _, err := restored.Instances(nil, api.InstanceFilter{})
	if err != nil || len(got) != n {
		return fmt.Errorf("restored %d of %d instances (%v)", len(got), n, err)
	}
	s.add("7c", fmt.Sprintf("snapshot / restore of %d instances", n), fmt.Sprintf("%.0f ms / %.0f ms", ms(took), ms(back)),
		fmt.Sprintf("%.1f MB on disk, file store with fsync", float64(metas[0].Size)/(1<<20)))
	return ctx.Err()
}
