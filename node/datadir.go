package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DataDirLock holds a data dir for one agent. Bolt locks raft.db too, but
// it waits for the lock without a timeout, so a second agent on the same
// dir hung forever and ignored SIGINT. This lock is taken first and fails
// at once, naming the agent that holds it.
type DataDirLock struct{ f *os.File }

// ErrDataDirInUse is what errors.Is finds when another process holds the
// data dir (the error itself is a *DataDirInUseError).
var ErrDataDirInUse = errors.New("data dir is in use")

// DataDirInUseError names the data dir and, when it can be read, the pid
// of the agent holding it.
type DataDirInUseError struct {
	Dir string
	PID int
}

func (e *DataDirInUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("data dir %s is in use by another roster agent (pid %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("data dir %s is in use by another roster agent", e.Dir)
}

func (e *DataDirInUseError) Is(target error) bool { return target == ErrDataDirInUse }

// LockDataDir takes the data dir's lock file (flock, released by the kernel
// when the process dies, so a crash leaves nothing to clean up) and writes
// this process's pid into it.
func LockDataDir(dir string) (*DataDirLock, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &DataDirInUseError{Dir: dir, PID: lockPID(path)}
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DataDirLock{f: f}, nil
}

// lockPID is the pid written in a lock file by its holder, or 0.
func lockPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release lets another agent use the data dir. Safe on nil and twice.
func (l *DataDirLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Close() // closing the descriptor drops the flock
	l.f = nil
}

// DataDirHolder returns the pid of the agent that holds dir's lock, and
// whether one does.
func DataDirHolder(dir string) (int, bool) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		return 0, false // nobody holds it
	}
	pid := lockPID(path)
	return pid, pid > 0
}
