package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/rosterhq/roster/api"
)

// Tokens (a cluster started with --acl).
type (
	Token              = api.Token
	CreateTokenRequest = api.CreateTokenRequest
	CreatedToken       = api.CreatedToken
)

// ACLBootstrap makes the cluster's first management token; it works once.
func (c *Client) ACLBootstrap(ctx context.Context) (*CreatedToken, error) {
	var t CreatedToken
	if _, err := c.Do(ctx, http.MethodPost, "/registry-svc/acl/bootstrap", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateToken makes a token; its secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (*CreatedToken, error) {
	var t CreatedToken
	if _, err := c.Do(ctx, http.MethodPost, "/registry-svc/tokens", req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Tokens lists every token (never a secret).
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	if _, err := c.Do(ctx, http.MethodGet, "/registry-svc/tokens", nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// DeleteToken removes a token by its accessor ID.
func (c *Client) DeleteToken(ctx context.Context, accessor string) error {
	_, err := c.Do(ctx, http.MethodDelete, "/registry-svc/token/"+url.PathEscape(accessor), nil, nil)
	return err
}

// TokenSelf is the token this client sends, as the node knows it.
func (c *Client) TokenSelf(ctx context.Context) (*Token, error) {
	var out struct {
		Token Token `json:"token"`
	}
	if _, err := c.Do(ctx, http.MethodGet, "/registry-svc/token/self", nil, &out); err != nil {
		return nil, err
	}
	return &out.Token, nil
}
