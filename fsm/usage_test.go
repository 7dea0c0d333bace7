package fsm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
)

func (a *applier) registerQ(url string, q *api.Quota) error {
	a.t.Helper()
	in := Instance{URL: url, Slug: "s"}
	if err := NormalizeInstance(&in); err != nil {
		a.t.Fatal(err)
	}
	res := a.apply(&Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: fmt.Sprintf("i%d", a.index+1), Now: t0}, Quota: q})
	err, _ := res.(error)
	return err
}

// The catalog's usage follows every write, a quota refuses only what
// would grow the catalog past it, and a snapshot keeps (or rebuilds) it.
func TestQuotaRefusesGrowthOnly(t *testing.T) {
	a := newApplier(t)
	q := &api.Quota{MaxInstances: 3}
	for i := range 3 {
		if err := a.registerQ(fmt.Sprintf("http://10.0.0.%d:80", i+1), q); err != nil {
			t.Fatal(err)
		}
	}
	err := a.registerQ("http://10.0.0.9:80", q)
	if CodeOf(err) != api.CodeQuotaExceeded {
		t.Fatalf("fourth instance: %v, want quota_exceeded", err)
	}
	// A re-registration of a stored URL does not grow the catalog.
	if err := a.registerQ("http://10.0.0.1:80", q); err != nil {
		t.Fatalf("upsert at the quota: %v", err)
	}
	if u := a.f.Usage(); u.Instances != 3 || u.Bytes <= 0 {
		t.Fatalf("usage %+v", u)
	}
	if res := a.apply(&Command{Type: CmdDeregisterInstance, ID: "i1"}); res != nil {
		t.Fatalf("removal at the quota: %v", res)
	}
	if err := a.registerQ("http://10.0.0.9:80", q); err != nil {
		t.Fatalf("after a removal: %v", err)
	}
	// Bytes.
	small := &api.Quota{MaxBytes: a.f.Usage().Bytes + 10}
	if err := a.registerQ("http://10.0.0.10:80", small); CodeOf(err) != api.CodeQuotaExceeded {
		t.Fatalf("past the byte quota: %v", err)
	}
	want := a.f.Usage()
	b := snapshotBytes(t, a.f)
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if got := g.Usage(); got != want {
		t.Fatalf("usage after a snapshot %+v, want %+v", got, want)
	}
	// A snapshot without a usage row (an older build's) is recounted.
	var old bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if !bytes.Contains(line, []byte(`"usage"`)) {
			old.Write(line)
		}
	}
	h := New(nil)
	if err := h.Restore(io.NopCloser(&old)); err != nil {
		t.Fatal(err)
	}
	if got := h.Usage(); got != want {
		t.Fatalf("recounted usage %+v, want %+v", got, want)
	}
}

// A backup is outside input: a forged usage row or a row no write could
// have stored is refused before anything is restored.
func TestCheckSnapshotRefusesForgedBackups(t *testing.T) {
	a := newApplier(t)
	if err := a.registerQ("http://10.0.0.1:80", nil); err != nil {
		t.Fatal(err)
	}
	good := snapshotBytes(t, a.f)
	if _, err := CheckSnapshot(bytes.NewReader(good)); err != nil {
		t.Fatalf("a genuine snapshot: %v", err)
	}
	for name, edit := range map[string]func(string) string{
		"usage lifted": func(s string) string { return strings.Replace(s, `"instances":1`, `"instances":-100000`, 1) },
		"bad instance": func(s string) string {
			return strings.Replace(s, `"url":"http://10.0.0.1:80"`, `"url":"gopher://x"`, 1)
		},
		"slug with dots": func(s string) string { return strings.Replace(s, `"slug":"s"`, `"slug":"../s"`, 1) },
	} {
		forged := edit(string(good))
		if forged == string(good) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		if _, err := CheckSnapshot(strings.NewReader(forged)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
