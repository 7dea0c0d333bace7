package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/node"
)

// Tokens (--acl). Every public route takes one permission (routes.go); the
// node that receives a request checks the bearer token against its own
// replica of the tokens table, with no round trip, and a write carries the
// token's accessor so that the leader's FSM checks it again when it applies
// it (fsm/acl.go). A request forwarded to the leader is checked there
// afresh from its Authorization header.

const tokenKey = "roster.token"

// require checks the request's token for perm (nothing when ACLs are off).
func (s *Server) require(perm string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.acl || perm == "" {
			return
		}
		tok, err := s.bearer(c)
		if err != nil {
			s.writeError(c, err)
			return
		}
		if !tok.Has(perm) {
			s.writeError(c, api.Denied(perm, "this token lacks %s", perm))
			return
		}
		c.Set(tokenKey, tok)
	}
}

// bearer resolves the request's Authorization: Bearer token.
func (s *Server) bearer(c *gin.Context) (*api.Token, error) {
	h := c.GetHeader("Authorization")
	if h == "" {
		hint := ""
		if !s.n.FSM().ACLBootstrapped() {
			hint = "; this cluster has no token yet: make the first with `roster acl bootstrap`"
		}
		return nil, api.Unauthorized("this cluster requires a token: send Authorization: Bearer SECRET (the CLI: --token or ROSTER_TOKEN)%s", hint)
	}
	// The scheme is case-insensitive (RFC 6750 by way of RFC 9110).
	scheme, secret, _ := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, api.Unauthorized("the Authorization header must be \"Bearer SECRET\"")
	}
	hash := api.HashSecret(secret)
	tok, err := s.n.FSM().TokenBySecret(hash)
	confirmed := true
	if err == nil && tok == nil && c.GetHeader(forward.Header) == "" {
		// A forwarded request is not confirmed again: its sender knew the
		// token, so the leader, which applied it first, does too.
		if confirmed = s.caughtUpForToken(c.Request.Context()); confirmed {
			tok, err = s.n.FSM().TokenBySecret(hash)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case tok == nil && confirmed:
		return nil, api.Unauthorized("the token is not known to this cluster (removed or mistyped)")
	case tok == nil:
		return nil, api.Unauthorized("the token is not known to this node and the leader could not be reached to look further (no leader, or this node is far behind)")
	case tok.Expired(time.Now()):
		return nil, api.Unauthorized("the token expired at %s", tok.ExpiresAt.Format(time.RFC3339))
	}
	return tok, nil
}

// tokenOf is the token the request was checked with; nil with ACLs off.
func tokenOf(c *gin.Context) *api.Token {
	if v, ok := c.Get(tokenKey); ok {
		return v.(*api.Token)
	}
	return nil
}

// authFor is what a write made by this request carries for the FSM's own
// check; nil with ACLs off.
func authFor(c *gin.Context, perm string) *fsm.Auth {
	tok := tokenOf(c)
	if tok == nil {
		return nil
	}
	return &fsm.Auth{Accessor: tok.AccessorID, Permission: perm, At: time.Now().UTC()}
}

// scopedSlug is the slug a request's token limits it to, "" for none.
func scopedSlug(c *gin.Context) string {
	if tok := tokenOf(c); tok != nil {
		return tok.Slug
	}
	return ""
}

// viewScope is the slug a list is limited to: a token bound to a slug sees
// only that slug's instances unless it may view them all.
func viewScope(c *gin.Context) string {
	if tok := tokenOf(c); tok != nil && !tok.Has(api.PermInstanceViewAll) {
		return tok.Slug
	}
	return ""
}

// newSecret is a token's secret: 256 random bits.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics if the OS is broken)
	return "rst_" + hex.EncodeToString(b)
}

// aclBootstrap is POST /registry-svc/acl/bootstrap: the first management
// token, once per cluster, without a token.
func (s *Server) aclBootstrap(c *gin.Context) {
	if err := s.idAndBody(c, "bootstrap", nil); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, nil, false, func(ctx context.Context) error {
		return s.makeToken(ctx, c, fsm.CmdACLBootstrap, api.CreateTokenRequest{
			Description: "management token (acl bootstrap)", Permissions: []string{api.PermAll},
		})
	})
}

// createToken is POST /registry-svc/tokens.
func (s *Server) createToken(c *gin.Context) {
	var req api.CreateTokenRequest
	if err := s.idAndBody(c, "tokens", &req); err != nil {
		s.writeError(c, err)
		return
	}
	if err := api.ValidateTokenRequest(&req); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, req, false, func(ctx context.Context) error {
		return s.makeToken(ctx, c, fsm.CmdCreateToken, req)
	})
}

// makeToken runs on the leader: the secret is made here and only its hash
// enters the log; the answer is the one time it is shown.
func (s *Server) makeToken(ctx context.Context, c *gin.Context, t fsm.CommandType, req api.CreateTokenRequest) error {
	now := time.Now().UTC()
	secret := newSecret()
	tok := api.Token{
		AccessorID: node.NewID("tok"), Description: req.Description, Permissions: req.Permissions,
		Slug: req.Slug, CreatedAt: now,
	}
	if req.TTL > 0 {
		exp := now.Add(time.Duration(req.TTL))
		tok.ExpiresAt = &exp
	}
	res, err := s.n.Apply(ctx, &fsm.Command{Type: t, Token: &fsm.TokenCommand{Token: tok, SecretHash: api.HashSecret(secret)}})
	if err != nil {
		return err
	}
	row := res.(*api.Token)
	setIndex(c, row.CreateIndex)
	c.JSON(http.StatusCreated, api.CreatedToken{Token: *row, SecretID: secret})
	return nil
}

// listTokens is GET /registry-svc/tokens.
func (s *Server) listTokens(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	list, index, err := s.n.FSM().Tokens()
	if err != nil {
		s.writeError(c, err)
		return
	}
	setIndex(c, index)
	c.JSON(http.StatusOK, gin.H{"tokens": list})
}

// deleteToken is DELETE /registry-svc/token/{accessorId}.
func (s *Server) deleteToken(c *gin.Context) {
	id := c.Param("id")
	if err := s.idAndBody(c, id, nil); err != nil {
		s.writeError(c, err)
		return
	}
	s.viaLeader(c, nil, false, func(ctx context.Context) error {
		if _, err := s.n.Apply(ctx, &fsm.Command{Type: fsm.CmdDeleteToken, ID: id}); err != nil {
			return err
		}
		setIndex(c, s.n.AppliedIndex())
		c.Status(http.StatusNoContent)
		return nil
	})
}

// tokenSelf is GET /registry-svc/token/self: the caller's own token.
func (s *Server) tokenSelf(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		s.writeError(c, err)
		return
	}
	if !s.acl {
		s.writeError(c, api.Invalid("token", "this node runs without ACLs (--acl): requests need no token"))
		return
	}
	tok, err := s.bearer(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"token": tok})
}
