package fsm

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
)

// Tokens live in the catalog so that every node checks them locally, with
// no round trip; only the SHA-256 of each secret is stored (api.HashSecret).
//
// A write made with a token carries the token's accessor (Command.Auth) and
// the FSM checks it again when it applies the write: a token removed or
// expired after the receiving node checked it writes nothing, and a token
// bound to a slug cannot touch another slug's instance even when the node
// that received the request had an older view of that instance. Writes the
// cluster makes itself (health checks) carry no Auth.

const (
	tableTokens = "tokens"
	// aclBootstrapKey is the index-table row that records the bootstrap:
	// it happens once per cluster.
	aclBootstrapKey = "acl-bootstrap"
)

// TokenRow is a stored token: the API's view and the hash of its secret.
type TokenRow struct {
	api.Token
	SecretHash string `json:"secretHash"`
}

// TokenCommand creates a token (CmdCreateToken, CmdACLBootstrap).
type TokenCommand struct {
	Token      api.Token `json:"token"`
	SecretHash string    `json:"secretHash"`
}

// Auth is who asked for a write: the token's accessor, the permission the
// route took, and when the receiving node checked it (the apply-time
// check's clock, so every replica decides the same).
type Auth struct {
	Accessor   string    `json:"accessor"`
	Permission string    `json:"permission"`
	At         time.Time `json:"at"`
}

// authorize checks a command's Auth against the tokens as they are now and
// returns the token (nil for a write without Auth: the cluster's own).
func authorize(txn *memdb.Txn, a *Auth) (*TokenRow, error) {
	if a == nil {
		return nil, nil
	}
	tok, err := tokenBy(txn, "id", a.Accessor)
	if err != nil {
		return nil, err
	}
	switch {
	case tok == nil:
		return nil, api.Unauthorized("the token was removed before the write was applied")
	case tok.Expired(a.At):
		return nil, api.Unauthorized("the token expired before the write was applied")
	case !tok.Has(a.Permission):
		return nil, api.Denied(a.Permission, "the token lacks %s", a.Permission)
	}
	return tok, nil
}

// inScope refuses an instance outside a slug-bound token's slug. Such an
// instance answers as absent: the token may not learn it exists.
func inScope(tok *TokenRow, row *Instance) bool {
	return tok == nil || tok.Slug == "" || (row != nil && row.Slug == tok.Slug)
}

func tokenBy(txn *memdb.Txn, index, value string) (*TokenRow, error) {
	raw, err := txn.First(tableTokens, index, value)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*TokenRow), nil
}

func createToken(txn *tx, index uint64, tc *TokenCommand, bootstrap bool) (*api.Token, error) {
	if bootstrap {
		done, err := txn.indexOf(aclBootstrapKey)
		if err != nil {
			return nil, err
		}
		if done != 0 {
			return nil, Conflict("acl", "the ACL system was bootstrapped at index %d; ask a holder of an operator token for one", done)
		}
	}
	if err := ValidateID("accessorId", tc.Token.AccessorID); err != nil {
		return nil, err
	}
	if len(tc.SecretHash) != 64 {
		return nil, Invalid("secretHash", "is not a SHA-256")
	}
	for _, idx := range []struct{ name, v string }{{"id", tc.Token.AccessorID}, {"secret", tc.SecretHash}} {
		old, err := tokenBy(txn.Txn, idx.name, idx.v)
		if err != nil {
			return nil, err
		}
		if old != nil {
			return nil, Conflict("accessorId", "a token with this %s exists", idx.name)
		}
	}
	row := &TokenRow{Token: tc.Token, SecretHash: tc.SecretHash}
	row.Permissions = append([]string(nil), tc.Token.Permissions...)
	row.CreateIndex = index
	if err := account(txn, nil, 0, 0, 1, 0); err != nil {
		return nil, err
	}
	if err := txn.Insert(tableTokens, row); err != nil {
		return nil, fmt.Errorf("insert token: %w", err)
	}
	if bootstrap {
		if err := bumpIndex(txn, aclBootstrapKey, index); err != nil {
			return nil, err
		}
	}
	out := row.Token
	return &out, bumpIndex(txn, tableTokens, index)
}

func deleteToken(txn *tx, index uint64, accessor string) error {
	row, err := tokenBy(txn.Txn, "id", accessor)
	if err != nil {
		return err
	}
	if row == nil {
		return NotFound("token %s not found", accessor)
	}
	if err := account(txn, nil, 0, 0, -1, 0); err != nil {
		return err
	}
	if err := txn.Delete(tableTokens, row); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return bumpIndex(txn, tableTokens, index)
}

// TokenBySecret returns the token whose secret hashes to hash, or nil.
func (f *FSM) TokenBySecret(hash string) (*api.Token, error) {
	row, err := tokenBy(f.state().db.Txn(false), "secret", hash)
	if row == nil || err != nil {
		return nil, err
	}
	t := row.Token
	return &t, nil
}

// Tokens lists every token (never a secret) and the tokens table's index.
func (f *FSM) Tokens() ([]api.Token, uint64, error) {
	txn := f.state().db.Txn(false)
	it, err := txn.Get(tableTokens, "id")
	if err != nil {
		return nil, 0, err
	}
	out := []api.Token{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*TokenRow).Token)
	}
	return out, maxIndex(txn, tableTokens), nil
}

// ACLBootstrapped reports whether the cluster's first management token was
// made.
func (f *FSM) ACLBootstrapped() bool {
	raw, err := f.state().db.Txn(false).First(tableIndex, "id", aclBootstrapKey)
	return err == nil && raw != nil
}
