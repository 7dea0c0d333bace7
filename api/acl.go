package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Permissions. The first eight are the seed's Registry Svc permissions;
// the rest are Roster's, for what the seed does not govern.
const (
	PermInstanceView     = "registry-svc:instance:view"
	PermInstanceEdit     = "registry-svc:instance:edit"
	PermInstanceDelete   = "registry-svc:instance:delete"
	PermDefinitionView   = "registry-svc:definition:view"
	PermDefinitionEdit   = "registry-svc:definition:edit"
	PermDefinitionDelete = "registry-svc:definition:delete"
	PermNodeView         = "registry-svc:node:view"
	PermNodeDelete       = "registry-svc:node:delete"

	// PermInstanceStatus sets an instance's status (one or many at once),
	// sends heartbeats, and registers with a status other than Unknown.
	PermInstanceStatus = "registry-svc:instance:status"
	// PermInstanceViewAll lets a token bound to a slug see every slug's
	// instances: what the seed grants deploy-svc and proxy-svc.
	PermInstanceViewAll = "registry-svc:instance:view-all"
	// PermOperator governs the cluster itself: agent leave, the gossip
	// keyring, tokens.
	PermOperator = "registry-svc:operator"
	// PermKVView reads the KV tree; PermKVEdit writes and deletes its keys.
	PermKVView = "registry-svc:kv:view"
	PermKVEdit = "registry-svc:kv:edit"
	// PermAll is every permission: the management token's.
	PermAll = "*"
)

// Permissions lists every permission a token may hold, in the order a
// person reads them, with what each allows.
var Permissions = []struct{ Name, Allows string }{
	{PermInstanceView, "list and view service instances and the per-slug summary"},
	{PermInstanceEdit, "register service instances"},
	{PermInstanceDelete, "remove service instances"},
	{PermInstanceStatus, "set instance statuses, send heartbeats, register with a status other than Unknown"},
	{PermInstanceViewAll, "see every slug's instances with a token bound to one slug"},
	{PermDefinitionView, "list and view service definitions"},
	{PermDefinitionEdit, "save service definitions"},
	{PermDefinitionDelete, "remove service definitions"},
	{PermNodeView, "list and view cluster nodes, cluster status and the keyring's key IDs"},
	{PermNodeDelete, "remove nodes from the cluster"},
	{PermKVView, "read keys of the KV tree"},
	{PermKVEdit, "write and delete keys of the KV tree"},
	{PermOperator, "make nodes leave, change the gossip keyring, create, list and remove tokens"},
	{PermAll, "everything (the management token)"},
}

// KnownPermission reports whether p is one of Permissions.
func KnownPermission(p string) bool {
	return slices.ContainsFunc(Permissions, func(k struct{ Name, Allows string }) bool { return k.Name == p })
}

// Token is an ACL token as the API shows it: never its secret.
type Token struct {
	// AccessorID names the token in `token ls` and `token rm`; it is not
	// a credential.
	AccessorID  string   `json:"accessorId"`
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions"`
	// Slug binds the token to one service: it registers, changes and sees
	// only that slug's instances (see PermInstanceViewAll).
	Slug        string     `json:"slug,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	CreateIndex uint64     `json:"createIndex"`
}

// Has reports whether the token holds permission p.
func (t *Token) Has(p string) bool {
	return slices.Contains(t.Permissions, PermAll) || slices.Contains(t.Permissions, p)
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// CreateTokenRequest is the body of POST /registry-svc/tokens.
type CreateTokenRequest struct {
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions"`
	Slug        string   `json:"slug,omitempty"`
	// TTL is how long the token lasts ("24h"); empty: until removed.
	TTL Duration `json:"ttl,omitempty"`
}

// CreatedToken is the answer to a token creation or the ACL bootstrap: the
// only time the secret is shown.
type CreatedToken struct {
	Token
	SecretID string `json:"secretId"`
}

// Limits of a token.
const (
	MaxPermissions = 32
	MaxTokenTTL    = 10 * 365 * 24 * time.Hour
	MinTokenTTL    = time.Minute
)

// ValidateTokenRequest checks a creation request; every refusal names the
// field.
func ValidateTokenRequest(r *CreateTokenRequest) error {
	if len(r.Permissions) == 0 {
		return Invalid("permissions", "a token needs at least one permission (one of %s)", permissionNames())
	}
	if len(r.Permissions) > MaxPermissions {
		return Invalid("permissions", "%d given, the limit is %d", len(r.Permissions), MaxPermissions)
	}
	for _, p := range r.Permissions {
		if !KnownPermission(p) {
			return Invalid("permissions", "%q is not a permission (one of %s)", p, permissionNames())
		}
	}
	if len(r.Description) > MaxTextLen {
		return Invalid("description", "is %d characters, the limit is %d", len(r.Description), MaxTextLen)
	}
	for _, c := range r.Description {
		if c < 0x20 || c == 0x7f {
			return Invalid("description", "holds a control character (%U)", c)
		}
	}
	if r.Slug != "" {
		if err := ValidateID("slug", r.Slug); err != nil {
			return err
		}
	}
	if ttl := time.Duration(r.TTL); ttl != 0 && (ttl < MinTokenTTL || ttl > MaxTokenTTL) {
		return Invalid("ttl", "%v is outside %v to %v", ttl, MinTokenTTL, MaxTokenTTL)
	}
	return nil
}

func permissionNames() string {
	names := make([]string, len(Permissions))
	for i, p := range Permissions {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// HashSecret is how a token's secret is stored: only its SHA-256. Secrets
// are 256 random bits, so a fast hash is as good as a slow one and keeps
// the per-request check cheap.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Unauthorized reports a request without a usable token (401).
func Unauthorized(format string, args ...any) *Error {
	return &Error{Code: CodeUnauthorized, Message: fmt.Sprintf(format, args...)}
}

// Denied reports a token that lacks a permission (403); field names the
// permission, or "slug" when the token is bound to another slug.
func Denied(field, format string, args ...any) *Error {
	return &Error{Code: CodeForbidden, Field: field, Message: fmt.Sprintf(format, args...)}
}
