package node

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// keyringFile holds the gossip keyring in the data dir (mode 600), so that
// keys installed during a rotation survive a restart: a node restarted
// with only its original --encrypt-file key could not rejoin a pool that
// has moved on.
const keyringFile = "gossip-keyring.json"

type keyringOnDisk struct {
	// Keys are base64, the primary first.
	Keys []string `json:"keys"`
}

// keyringMu serialises changes and their saving.
var keyringMu sync.Mutex

// loadKeyring settles the keys gossip starts with: the saved keyring when
// there is one (it takes precedence, as Consul's does), else the configured
// key, which is then saved.
func loadKeyring(dir string, key []byte, log *slog.Logger) ([][]byte, error) {
	path := filepath.Join(dir, keyringFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if len(key) == 0 {
			return nil, nil
		}
		keys := [][]byte{key}
		return keys, saveKeyring(dir, keys)
	}
	if err != nil {
		return nil, err
	}
	var disk keyringOnDisk
	if err := json.Unmarshal(raw, &disk); err != nil || len(disk.Keys) == 0 {
		return nil, fmt.Errorf("%s: want {\"keys\": [base64 keys, the primary first]}: %v (remove the file to start "+
			"from --encrypt-file's key)", path, err)
	}
	keys := make([][]byte, len(disk.Keys))
	for i, k := range disk.Keys {
		keys[i], err = base64.StdEncoding.DecodeString(k)
		if err != nil || (len(keys[i]) != 16 && len(keys[i]) != 24 && len(keys[i]) != 32) {
			return nil, fmt.Errorf("%s: key %d is not the base64 of a 16, 24 or 32 byte key", path, i+1)
		}
	}
	if len(key) > 0 && !slices.ContainsFunc(keys, func(k []byte) bool { return string(k) == string(key) }) {
		log.Warn("the gossip keyring saved in the data dir is used; the key given with --encrypt-file or ROSTER_ENCRYPT "+
			"is not in it (a rotation moved on since); manage keys with `roster keyring`", "file", path)
	}
	return keys, nil
}

func saveKeyring(dir string, keys [][]byte) error {
	disk := keyringOnDisk{Keys: make([]string, len(keys))}
	for i, k := range keys {
		disk.Keys[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, err := json.Marshal(disk)
	if err != nil {
		return err
	}
	return writeFileMode(filepath.Join(dir, keyringFile), b, 0o600)
}

// Keyring is this node's gossip keyring, by key ID.
func (n *Node) Keyring() api.NodeKeyring {
	keys := n.gossip.Keys()
	out := api.NodeKeyring{Node: n.id}
	for i, k := range keys {
		if i == 0 {
			out.Primary = gossip.KeyID(k)
		}
		out.Keys = append(out.Keys, gossip.KeyID(k))
	}
	slices.Sort(out.Keys)
	return out
}

// ChangeKeyring applies one rotation step to this node's gossip keyring and
// saves it.
func (n *Node) ChangeKeyring(ch api.KeyringChange) error {
	key, err := ch.Validate()
	if err != nil {
		return err
	}
	keyringMu.Lock()
	defer keyringMu.Unlock()
	if ch.Op != "install" {
		if key = n.keyByID(ch.KeyID); key == nil {
			return api.NotFound("no installed gossip key has ID %s on node %s", ch.KeyID, n.id)
		}
	}
	switch ch.Op {
	case "install":
		err = n.gossip.InstallKey(key)
	case "use":
		err = n.gossip.UseKey(key)
	case "remove":
		err = n.gossip.RemoveKey(key)
	}
	if errors.Is(err, gossip.ErrNoEncryption) {
		return api.Conflict("op", "%v", err)
	}
	if err != nil {
		// memberlist refuses removing the primary key.
		return api.Conflict("keyId", "%v", err)
	}
	if err := saveKeyring(n.cfg.DataDir, n.gossip.Keys()); err != nil {
		return fmt.Errorf("save the gossip keyring: %w", err)
	}
	n.log.Info("gossip keyring changed", "op", ch.Op, "key_id", gossip.KeyID(key))
	return nil
}

func (n *Node) keyByID(id string) []byte {
	for _, k := range n.gossip.Keys() {
		if gossip.KeyID(k) == id {
			return k
		}
	}
	return nil
}
