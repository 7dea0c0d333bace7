package gossip

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// ErrNoEncryption refuses keyring changes on a pool started without a key:
// memberlist cannot turn encryption on in a running pool.
var ErrNoEncryption = errors.New("gossip encryption is off on this node (it was started without a key); " +
	"restart it with --encrypt-file or ROSTER_ENCRYPT to use a keyring")

// KeyID names a key without revealing it: the first 8 bytes of its SHA-256,
// in hex. Operators pick keys by it to use or remove them.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// Keys returns the installed keys, the primary first; nil without
// encryption.
func (g *Gossip) Keys() [][]byte {
	kr := g.keyring
	if kr == nil {
		return nil
	}
	return kr.GetKeys()
}

// InstallKey adds a key that decrypts; the primary still encrypts. During a
// rotation every member installs the new key before any uses it.
func (g *Gossip) InstallKey(key []byte) error {
	kr := g.keyring
	if kr == nil {
		return ErrNoEncryption
	}
	return kr.AddKey(key)
}

// UseKey makes an installed key the primary.
func (g *Gossip) UseKey(key []byte) error {
	kr := g.keyring
	if kr == nil {
		return ErrNoEncryption
	}
	return kr.UseKey(key)
}

// RemoveKey drops an installed key other than the primary.
func (g *Gossip) RemoveKey(key []byte) error {
	kr := g.keyring
	if kr == nil {
		return ErrNoEncryption
	}
	return kr.RemoveKey(key)
}
