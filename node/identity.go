package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rosterhq/roster/fsm"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns prefix + "-" + 10 random base62 characters (about 59 bits),
// the shape of 1Backend's current IDs (inst-XXXXXXXXXX, node-XXXXXXXXXX).
func NewID(prefix string) string {
	out := make([]byte, 0, len(prefix)+11)
	out = append(append(out, prefix...), '-')
	// One read of random bytes per ID (it was ten crypto/rand.Int calls,
	// 0.8 µs and ten big.Ints on every registration the leader takes).
	// Bytes from 248 up are dropped so that each of the 62 characters is
	// equally likely (248 = 4 x 62).
	var buf [32]byte
	for len(out) < len(prefix)+11 {
		rand.Read(buf[:]) // never fails (crypto/rand.Read's contract since Go 1.24)
		for _, c := range buf {
			if c < 248 && len(out) < len(prefix)+11 {
				out = append(out, base62[c%62])
			}
		}
	}
	return string(out)
}

// loadNodeID settles this node's ID: the configured one, else the one
// persisted in the data dir, else a new one, which is then persisted. A
// configured ID that differs from the persisted one is refused, because the
// data dir's Raft log belongs to the old ID.
func loadNodeID(dataDir, configured string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		persisted := strings.TrimSpace(string(b))
		if configured != "" && configured != persisted {
			return "", fmt.Errorf("data dir %s belongs to node %q, not %q: start with --node-id %s or use another data dir",
				dataDir, persisted, configured, persisted)
		}
		if err := fsm.ValidateID("node-id", persisted); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return persisted, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	id := configured
	if id == "" {
		id = NewID("node")
	}
	if err := fsm.ValidateID("node-id", id); err != nil {
		return "", err
	}
	if err := writeFileSync(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("persist node id: %w", err)
	}
	return id, nil
}

// writeFileSync writes and fsyncs a small file via a temporary file and a
// rename, so a crash leaves either the old or the new content.
func writeFileSync(path string, data []byte) error { return writeFileMode(path, data, 0o644) }

// writeFileMode is writeFileSync with the file's permissions.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
