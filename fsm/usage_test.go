package fsm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

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
		// A restore moves Raft's log past the snapshot's index only: a row
		// or table said to be written after it, or an index too large to
		// go on from, is refused.
		"index past every integer JSON holds": func(s string) string {
			return strings.Replace(s, `"applied":1}`, `"applied":9007199254740992}`, 1)
		},
		"row written after the snapshot": func(s string) string { return strings.Replace(s, `"modifyIndex":1}`, `"modifyIndex":7}`, 1) },
		"table written after the snapshot": func(s string) string {
			return strings.Replace(s, `"Table":"instances","Index":1}`, `"Table":"instances","Index":7}`, 1)
		},
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

// Within one applied batch of entries the usage row and the table indexes
// are kept by the transaction and written at its end: every entry still
// sees the ones before it (the quota counts them, a second ACL bootstrap
// is refused), and what is written is what the rows add up to.
func TestOneBatchCountsEveryEntryBeforeTheNext(t *testing.T) {
	f := New(nil)
	q := &api.Quota{MaxInstances: 3}
	var cmds []*Command
	for i := range 4 {
		in := Instance{URL: fmt.Sprintf("http://10.0.0.%d:80", i+1), Slug: "s"}
		if err := NormalizeInstance(&in); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, &Command{Type: CmdRegisterInstance, Quota: q,
			Register: &RegisterCommand{Instance: in, NewID: fmt.Sprintf("i%d", i+1), Now: t0}})
	}
	boot := func(accessor string) *Command {
		return &Command{Type: CmdACLBootstrap, Token: &TokenCommand{
			Token:      api.Token{AccessorID: accessor, Permissions: []string{api.PermAll}, CreatedAt: t0},
			SecretHash: api.HashSecret(accessor)}}
	}
	cmds = append(cmds,
		&Command{Type: CmdSaveDefinition, Definition: &Definition{ID: "d", Repository: &RepositorySpec{URL: "git@github.com:x/y.git"}}},
		&Command{Type: CmdKVSet, KV: &KVCommand{Key: "k", Value: []byte("v")}},
		boot("first"), boot("second"),
		&Command{Type: CmdDeregisterInstance, ID: "i2"})
	logs := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b}
	}
	res := f.ApplyBatch(logs)
	if CodeOf(res[3].(error)) != api.CodeQuotaExceeded {
		t.Fatalf("the fourth register of the batch: %v, want quota_exceeded", res[3])
	}
	if err, _ := res[7].(error); CodeOf(err) != CodeConflict {
		t.Fatalf("the second bootstrap of the batch: %v, want conflict", res[7])
	}
	if res[8] != nil {
		t.Fatalf("deregister: %v", res[8])
	}
	u := f.Usage()
	if u.Instances != 2 || u.Definitions != 1 || u.KV != 1 || u.Tokens != 1 {
		t.Fatalf("usage %+v", u)
	}
	txn := f.state().write()
	defer txn.Abort()
	stated, _ := usageOf(txn.Txn)
	if err := recountUsage(txn); err != nil {
		t.Fatal(err)
	}
	if counted, _ := usageOf(txn.Txn); counted != stated {
		t.Fatalf("stored usage %+v, the rows add up to %+v", stated, counted)
	}
	r := f.state().read()
	for table, want := range map[string]uint64{tableInstances: 9, tableDefinitions: 5, tableKV: 6, tableTokens: 7} {
		if got := maxIndex(r.Txn, table); got != want {
			t.Errorf("index of %s: %d, want %d", table, got, want)
		}
	}
}
