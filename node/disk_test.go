package node

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/api"
)

// The alarm rises below the reserve or on ENOSPC, holds until twice the
// reserve is free, and turns ENOSPC into disk_full.
func TestDiskAlarmRisesAndClearsWithHysteresis(t *testing.T) {
	d := &diskGuard{dir: t.TempDir(), reserve: 100}
	d.update(150, "")
	if d.state() != nil {
		t.Fatal("alarm above the reserve")
	}
	d.update(99, "")
	if a := d.state(); a == nil || a.FreeBytes != 99 {
		t.Fatalf("no alarm under the reserve: %+v", a)
	}
	d.update(150, "")
	if d.state() == nil {
		t.Fatal("the alarm cleared under twice the reserve")
	}
	d.update(200, "")
	if d.state() != nil {
		t.Fatal("the alarm held at twice the reserve")
	}
	full := &os.PathError{Op: "write", Path: "raft.db", Err: syscall.ENOSPC}
	err := d.failed(full, full)
	if api.CodeOf(err) != api.CodeDiskFull || d.state() == nil {
		t.Fatalf("ENOSPC: %v, alarm %+v", err, d.state())
	}
	other := fmt.Errorf("something else")
	if got := d.failed(other, other); got != other {
		t.Fatalf("other errors pass through: %v", got)
	}
	// A leader's own log write failed after the followers may have the
	// entry: the alarm, but the write's outcome is unknown, not refused.
	d.update(200, "")
	sent := fmt.Errorf("%w: %w", raft.ErrLeadershipLost, full)
	if got := d.failed(sent, mapRaftErr(sent)); !errors.Is(got, ErrLeadershipLost) || d.state() == nil {
		t.Fatalf("ENOSPC after sending: %v, alarm %+v; want indeterminate and the alarm", got, d.state())
	}
}
