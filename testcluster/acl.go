package testcluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
)

// aclState is a cluster's management token, once bootstrapped: every
// client the cluster hands out sends it.
type aclState struct {
	mu    sync.Mutex
	token string
}

func (a *aclState) get() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

// bootstrapACL makes the management token through node 0, through
// elections, and gives it to the clients made so far (clients made later
// take it when made). Call it before the clients are in use.
func bootstrapACL(ctx context.Context, a *aclState, c0 *client.Client, clients *sync.Map) (string, error) {
	var secret string
	for {
		t, err := c0.ACLBootstrap(ctx)
		if err == nil {
			secret = t.SecretID
			break
		}
		var ae *client.APIError
		if errors.As(err, &ae) && !api.NothingWritten(err) {
			return "", fmt.Errorf("acl bootstrap: %w", err) // a conflict: made before
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("acl bootstrap: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	a.use(secret, clients)
	return secret, nil
}

// use makes secret the token of the cluster's clients.
func (a *aclState) use(secret string, clients *sync.Map) {
	a.mu.Lock()
	a.token = secret
	a.mu.Unlock()
	clients.Range(func(_, v any) bool {
		v.(*client.Client).Token = secret
		return true
	})
}

// UseToken makes secret the token the cluster's clients send (a cluster
// bootstrapped in an earlier run). Call it before the clients are in use.
func (c *ProcCluster) UseToken(secret string) { c.acl.use(secret, &c.clients) }

// BootstrapACL makes the management token of a cluster started with ACL and
// returns its secret; the cluster's clients send it from then on.
func (c *ProcCluster) BootstrapACL(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return bootstrapACL(ctx, &c.acl, c.Client(0), &c.clients)
}

// BootstrapACL makes the management token of a cluster started with ACL and
// returns its secret; the cluster's clients send it from then on.
func (c *Cluster) BootstrapACL(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return bootstrapACL(ctx, &c.acl, c.Client(0), &c.clients)
}

// UseToken makes secret the token the cluster's clients send (one made
// without BootstrapACL). Call it before the clients are in use.
func (c *Cluster) UseToken(secret string) { c.acl.use(secret, &c.clients) }

// Token is the management token the cluster's clients send; "" before
// BootstrapACL or UseToken.
func (c *ProcCluster) Token() string { return c.acl.get() }
