package api

import (
	"encoding/base64"
	"fmt"
	"regexp"
)

// KeyringChange is the body of PUT /registry-svc/keyring: one step of a
// gossip key rotation, applied on every alive member. A new key travels
// only in the body of an install (over TLS); use and remove name a key by
// its ID, which does not reveal it.
type KeyringChange struct {
	// Op is install, use or remove.
	Op string `json:"op"`
	// Key is the base64 of the key to install (16, 24 or 32 bytes).
	Key string `json:"key,omitempty"`
	// KeyID names the key to use or remove (see `roster keyring ls`).
	KeyID string `json:"keyId,omitempty"`
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Validate checks the change and returns the decoded key of an install.
func (k KeyringChange) Validate() ([]byte, error) {
	switch k.Op {
	case "install":
		if k.KeyID != "" {
			return nil, Invalid("keyId", "install takes the key itself, not a key ID")
		}
		key, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
			return nil, Invalid("key", "want the base64 of a 16, 24 or 32 byte key")
		}
		return key, nil
	case "use", "remove":
		if k.Key != "" {
			return nil, Invalid("key", "%s names the key by keyId; the key itself is sent only to install it", k.Op)
		}
		if !keyIDPattern.MatchString(k.KeyID) {
			return nil, Invalid("keyId", "%q: want the 16 hex digits `roster keyring ls` shows", k.KeyID)
		}
		return nil, nil
	default:
		return nil, Invalid("op", "%q: want install, use or remove", k.Op)
	}
}

// NodeKeyring is one node's gossip keyring, by key ID.
type NodeKeyring struct {
	Node    string   `json:"node"`
	Primary string   `json:"primary,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	// Error is why the node's keyring could not be read or changed.
	Error string `json:"error,omitempty"`
}

// Keyring is the answer of GET and PUT /registry-svc/keyring: every alive
// member's keyring, and how many could not be reached or refused.
type Keyring struct {
	Nodes  []NodeKeyring `json:"nodes"`
	Failed int           `json:"failed"`
}

// Forbidden refuses a request for lack of the right credentials, saying
// which.
func Forbidden(format string, args ...any) *Error {
	return &Error{Code: CodeForbidden, Message: fmt.Sprintf(format, args...)}
}
