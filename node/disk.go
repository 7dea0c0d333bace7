package node

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/rosterhq/roster/api"
)

// A full disk is a state, not a storm. Without a guard, the first write
// that met ENOSPC failed the leader's log append; hashicorp/raft then steps
// down, the same node wins the next election, its no-op fails again, and
// clients saw an election loop and no_leader. The guard refuses writes
// (507 disk_full) while the data dir's filesystem has less than the reserve
// free, before anything reaches Raft, and raises an alarm that cluster
// status and `roster status` show; it clears itself once twice the reserve
// is free again. A write that still meets ENOSPC raises it too.

// DefaultDiskReserve is the free space below which writes are refused:
// several of the largest Raft entries, and room for bolt to grow.
const DefaultDiskReserve = 16 << 20

// diskGuard watches the free space of the data dir's filesystem.
type diskGuard struct {
	dir     string
	reserve uint64
	mu      sync.Mutex
	checked time.Time
	alarm   *api.DiskAlarm
}

// freeBytes is what statfs says unprivileged users may still write.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// admit refuses a write with ErrDiskFull while the alarm holds, reading
// the free space at most every 100 ms.
func (d *diskGuard) admit() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.checked) >= 100*time.Millisecond {
		d.checked = time.Now()
		free, err := freeBytes(d.dir)
		if err == nil {
			d.update(free, "")
		}
	}
	if d.alarm != nil {
		return d.refusal()
	}
	return nil
}

// update raises or clears the alarm for a reading (locked).
func (d *diskGuard) update(free uint64, reason string) {
	switch {
	case d.alarm == nil && (free < d.reserve || reason != ""):
		if reason == "" {
			reason = fmt.Sprintf("%d bytes free, under the %d-byte reserve (--disk-reserve)", free, d.reserve)
		}
		d.alarm = &api.DiskAlarm{Since: time.Now().UTC(), FreeBytes: free, ReserveBytes: d.reserve, Reason: reason}
	case d.alarm != nil && free >= 2*d.reserve && reason == "":
		d.alarm = nil
	case d.alarm != nil:
		d.alarm.FreeBytes = free
	}
}

// failed reads a failed write's raw error: the disk's ENOSPC raises the
// alarm and refuses the write with disk_full, unless the write may have
// reached followers before this leader's own log write failed (mapped is
// ErrLeadershipLost, third_party/raft): then its outcome is unknown and
// says so. Any other error is mapped.
func (d *diskGuard) failed(raw, mapped error) error {
	if !errors.Is(raw, syscall.ENOSPC) {
		return mapped
	}
	free, _ := freeBytes(d.dir)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.update(free, "a write failed: "+raw.Error())
	d.checked = time.Now()
	if errors.Is(mapped, ErrLeadershipLost) {
		return mapped
	}
	return d.refusal()
}

func (d *diskGuard) refusal() error {
	return &api.Error{Code: api.CodeDiskFull, Message: fmt.Sprintf("this leader's disk is full (%s); writes are refused until space is freed in %s",
		d.alarm.Reason, d.dir)}
}

// state is the alarm now, nil when there is none.
func (d *diskGuard) state() *api.DiskAlarm {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.alarm == nil {
		return nil
	}
	a := *d.alarm
	return &a
}
