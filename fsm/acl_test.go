package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

func (a *applier) token(accessor, secret, slug string, bootstrap bool, perms ...string) error {
	a.t.Helper()
	typ := CmdCreateToken
	if bootstrap {
		typ = CmdACLBootstrap
	}
	res := a.apply(&Command{Type: typ, Token: &TokenCommand{
		Token:      api.Token{AccessorID: accessor, Permissions: perms, Slug: slug, CreatedAt: t0},
		SecretHash: api.HashSecret(secret),
	}})
	err, _ := res.(error)
	return err
}

func (a *applier) registerAs(accessor, perm string, in Instance) any {
	a.t.Helper()
	if err := NormalizeInstance(&in); err != nil {
		a.t.Fatal(err)
	}
	return a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: "i-" + in.Slug, Now: t0},
		Auth: &Auth{Accessor: accessor, Permission: perm, At: t0}})
}

func TestBootstrapHappensOnce(t *testing.T) {
	a := newApplier(t)
	if err := a.token("mgmt", "s1", "", true, api.PermAll); err != nil {
		t.Fatal(err)
	}
	if !a.f.ACLBootstrapped() {
		t.Fatal("not bootstrapped after the bootstrap")
	}
	if err := a.token("again", "s2", "", true, api.PermAll); CodeOf(err) != CodeConflict {
		t.Fatalf("second bootstrap: %v, want conflict", err)
	}
	tok, err := a.f.TokenBySecret(api.HashSecret("s1"))
	if err != nil || tok == nil || tok.AccessorID != "mgmt" {
		t.Fatalf("lookup by secret: %v %v", tok, err)
	}
	if tok, _ := a.f.TokenBySecret(api.HashSecret("s2")); tok != nil {
		t.Fatal("the refused bootstrap's token was stored")
	}
	// Survives a snapshot.
	b := snapshotBytes(t, a.f)
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if !g.ACLBootstrapped() {
		t.Fatal("the bootstrap was lost in a snapshot")
	}
	if tok, _ := g.TokenBySecret(api.HashSecret("s1")); tok == nil {
		t.Fatal("the token was lost in a snapshot")
	}
}

// The FSM checks a write's token when it applies it: a removed or expired
// token, a missing permission and another slug's instance write nothing.
func TestWritesAreCheckedAgainWhenApplied(t *testing.T) {
	a := newApplier(t)
	if err := a.token("web", "sw", "web", false, api.PermInstanceEdit, api.PermInstanceDelete); err != nil {
		t.Fatal(err)
	}
	if err := a.token("other", "so", "db", false, api.PermInstanceEdit); err != nil {
		t.Fatal(err)
	}
	if res := a.registerAs("web", api.PermInstanceEdit, Instance{URL: "http://10.0.0.1:80", Slug: "web"}); CodeOf(asErr(res)) != "" {
		t.Fatalf("own slug: %v", res)
	}
	for name, c := range map[string]struct {
		accessor, perm string
		in             Instance
		want           error
	}{
		"another slug's token on its URL": {"other", api.PermInstanceEdit, Instance{URL: "http://10.0.0.1:80", Slug: "db"}, errConflictLike},
		"a slug other than the token's":   {"web", api.PermInstanceEdit, Instance{URL: "http://10.0.0.2:80", Slug: "db"}, api.ErrForbidden},
		"a permission it lacks":           {"other", api.PermInstanceStatus, Instance{URL: "http://10.0.0.3:80", Slug: "db"}, api.ErrForbidden},
		"a status without the permission": {"web", api.PermInstanceEdit, Instance{URL: "http://10.0.0.4:80", Slug: "web", Status: StatusHealthy}, api.ErrForbidden},
		"an unknown accessor":             {"nobody", api.PermInstanceEdit, Instance{URL: "http://10.0.0.5:80", Slug: "web"}, api.ErrUnauthorized},
	} {
		res := a.registerAs(c.accessor, c.perm, c.in)
		err := asErr(res)
		if c.want == errConflictLike {
			if CodeOf(err) != CodeConflict {
				t.Errorf("%s: %v, want conflict", name, res)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, res, c.want)
		}
	}
	// Another slug's token cannot remove or change web's instance: absent.
	del := a.apply(&Command{Type: CmdDeregisterInstance, ID: "i-web", Auth: &Auth{Accessor: "other", Permission: api.PermInstanceEdit, At: t0}})
	if CodeOf(asErr(del)) != CodeNotFound {
		t.Fatalf("deregister by another slug: %v", del)
	}
	set := a.apply(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: "i-web", Status: StatusStopping, At: t0}},
		Auth: &Auth{Accessor: "other", Permission: api.PermInstanceEdit, At: t0}})
	if r := set.(*StatusResult); len(r.Applied) != 0 || len(r.Missing) != 1 {
		t.Fatalf("status by another slug: %+v", r)
	}
	// Removed: a write still in flight with it is refused.
	if res := a.apply(&Command{Type: CmdDeleteToken, ID: "web"}); res != nil {
		t.Fatal(res)
	}
	del = a.apply(&Command{Type: CmdDeregisterInstance, ID: "i-web", Auth: &Auth{Accessor: "web", Permission: api.PermInstanceDelete, At: t0}})
	if !errors.Is(asErr(del), api.ErrUnauthorized) {
		t.Fatalf("deregister with a removed token: %v", del)
	}
	if rows, _, _ := a.f.Instances(nil, InstanceFilter{}); len(rows) != 1 {
		t.Fatalf("%d instances, want web's one", len(rows))
	}
}

func TestAnExpiredTokenWritesNothing(t *testing.T) {
	a := newApplier(t)
	exp := t0.Add(time.Hour)
	res := a.apply(&Command{Type: CmdCreateToken, Token: &TokenCommand{
		Token:      api.Token{AccessorID: "short", Permissions: []string{api.PermAll}, ExpiresAt: &exp, CreatedAt: t0},
		SecretHash: api.HashSecret("x"),
	}})
	if err, _ := res.(error); err != nil {
		t.Fatal(err)
	}
	in := Instance{URL: "http://10.0.0.9:80", Slug: "web"}
	NormalizeInstance(&in)
	late := a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: "i1", Now: exp},
		Auth: &Auth{Accessor: "short", Permission: api.PermInstanceEdit, At: exp}})
	if !errors.Is(asErr(late), api.ErrUnauthorized) {
		t.Fatalf("write at expiry: %v", late)
	}
}

var errConflictLike = errors.New("conflict")

func asErr(v any) error {
	err, _ := v.(error)
	return err
}
