package fsm

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/s2"

	"github.com/rosterhq/roster/api"
)

var updateFormatFixture = flag.Bool("update-format-fixture", false, "rewrite testdata/log-format1.jsonl from formatFixtureCommands")

// formatFixtureCommands are one of every command, with every kind of field,
// as the cluster wrote them before format 2.
func formatFixtureCommands() []Command {
	at := time.Date(2026, 12, 3, 18, 0, 0, 123456789, time.UTC)
	cas := uint64(0)
	check := &api.Check{Type: api.CheckHTTP, Path: "/health", Interval: api.Duration(5 * time.Second), Timeout: api.Duration(time.Second),
		DeregisterAfter: api.Duration(time.Hour), FailuresBeforeUnhealthy: 3, SuccessesBeforeHealthy: 2}
	web := Instance{URL: "http://10.0.0.1:8080/api", Slug: "web", Tags: []string{"blue", "v2"}, Meta: map[string]string{"version": "1.2.3"},
		DeploymentID: "depl_1", Details: "first", Check: check}
	db := Instance{URL: "http://10.0.0.2:5432", Slug: "db"}
	for _, in := range []*Instance{&web, &db} {
		if err := NormalizeInstance(in); err != nil {
			panic(err)
		}
	}
	expires := at.Add(24 * time.Hour)
	tok := api.Token{AccessorID: "acc_1", Description: "ops", Permissions: []string{"*"}, CreatedAt: at}
	return []Command{
		{Type: CmdACLBootstrap, Token: &TokenCommand{Token: tok, SecretHash: api.HashSecret("rst_fixture")}},
		{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: web, NewID: "inst_web", Now: at}},
		{Type: CmdBatch, Batch: []Command{
			{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: db, NewID: "inst_db", Now: at, DefaultCheck: DefaultCheck(db.URL, 0)},
				Auth: &Auth{Accessor: "acc_1", Permission: api.PermInstanceEdit, At: at}, Quota: &api.Quota{MaxInstances: 100}},
			{Type: CmdDeregisterInstance, ID: "inst_nope"},
		}},
		{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: "inst_web", Status: api.StatusHealthy, Reason: "probe ok", At: at.Add(time.Second)}}},
		{Type: CmdSaveDefinition, Definition: &Definition{ID: "def_1", Image: &api.ImageSpec{Name: "nginx", InternalPorts: []uint16{80, 443}},
			APISpecs: []api.APISpec{{URL: "http://x/openapi.yaml", Metadata: map[string]string{"a": "b"}}}, Envars: []api.EnvVar{{Key: "K", Value: "V"}}}},
		{Type: CmdKVSet, KV: &KVCommand{Key: "config/a", Value: []byte{0, 1, 2, 255}, CAS: &cas}},
		{Type: CmdKVSet, KV: &KVCommand{Key: "config/b", Value: []byte("text")}},
		{Type: CmdKVDelete, KV: &KVCommand{Key: "config/b"}},
		{Type: CmdCreateToken, Token: &TokenCommand{Token: api.Token{AccessorID: "acc_2", Slug: "web", Permissions: []string{api.PermInstanceView},
			CreatedAt: at, ExpiresAt: &expires}, SecretHash: api.HashSecret("rst_two")}},
		{Type: CmdDeleteDefinition, ID: "def_1"},
		{Type: CmdTouch},
	}
}

// A log written before format 2 (JSON, testdata/log-format1.jsonl, kept
// as that code wrote it) replays on this build to the same catalog as the
// same commands written in format 2 or 3, and as a log that mixes them,
// the way a cluster's log does after rolling upgrades.
func TestALogWrittenInTheJSONFormatStillReplays(t *testing.T) {
	const fixture = "testdata/log-format1.jsonl"
	if *updateFormatFixture {
		var buf bytes.Buffer
		for _, c := range formatFixtureCommands() {
			b, err := c.EncodeAs(FormatJSON)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b[1:])
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(fixture, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var old [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		old = append(old, append([]byte{byte(FormatJSON)}, sc.Bytes()...))
	}
	if len(old) != len(formatFixtureCommands()) {
		t.Fatalf("the fixture holds %d entries", len(old))
	}
	replay := func(pick func(i int, entry []byte) []byte) (*FSM, string) {
		t.Helper()
		m := New(nil)
		for i, e := range old {
			if res := m.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: pick(i, e)}); res != nil {
				if err, ok := res.(error); ok {
					t.Fatalf("entry %d: %v", i+1, err)
				}
			}
		}
		_, write := m.Backup()
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		return m, b.String()
	}
	binary := func(i int, e []byte) []byte {
		c, err := DecodeCommand(e)
		if err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
		b, err := c.EncodeAs(FormatBinary)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != byte(FormatBinary) {
			t.Fatalf("entry %d re-encoded with format byte %d", i+1, b[0])
		}
		return b
	}
	// Format 3 compresses only what shrinks; here every entry, so that
	// each kind of command is read through it.
	packed := func(i int, e []byte) []byte {
		return append([]byte{byte(FormatS2)}, s2.Encode(nil, binary(i, e)[1:])...)
	}
	fromJSON, want := replay(func(_ int, e []byte) []byte { return e })
	if _, got := replay(binary); got != want {
		t.Errorf("the catalog from format 2:\n%s\nfrom the JSON log:\n%s", got, want)
	}
	if _, got := replay(packed); got != want {
		t.Errorf("the catalog from format 3:\n%s\nfrom the JSON log:\n%s", got, want)
	}
	if _, got := replay(func(i int, e []byte) []byte {
		switch i % 3 {
		case 1:
			return binary(i, e)
		case 2:
			return packed(i, e)
		}
		return e
	}); got != want {
		t.Errorf("the catalog from a mixed log differs:\n%s", got)
	}
	// And the replay is the catalog those commands make, not an empty one.
	rows, _, err := fromJSON.Instances(nil, InstanceFilter{})
	if err != nil || len(rows) != 2 {
		t.Fatalf("instances: %v %d", err, len(rows))
	}
	for _, r := range rows {
		if r.ID == "inst_web" && (r.Status != api.StatusHealthy || r.Check == nil || r.Check.SuccessesBeforeHealthy != 2 || r.Meta["version"] != "1.2.3") {
			t.Errorf("web after replay: %+v", r)
		}
	}
	kv, _, err := fromJSON.KV(nil, "config/a")
	if err != nil || kv == nil || !bytes.Equal(kv.Value, []byte{0, 1, 2, 255}) {
		t.Errorf("config/a after replay: %+v %v", kv, err)
	}
	if tok, _ := fromJSON.TokenBySecret(api.HashSecret("rst_two")); tok == nil || !strings.EqualFold(tok.Slug, "web") {
		t.Errorf("token after replay: %+v", tok)
	}
}

// An entry in a format this build does not know is refused, not misread.
func TestAnUnknownFormatIsRefused(t *testing.T) {
	b, _ := (&Command{Type: CmdTouch}).Encode()
	b[0] = byte(NewestFormat) + 1
	if _, err := DecodeCommand(b); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("format %d: %v", b[0], err)
	}
}

// Hostile format-2 entries (lengths past the input, nesting past any
// command, wrong types) are refused with an error and a bounded
// allocation, as JSON ones are.
func TestHostileBinaryEntriesAreRefused(t *testing.T) {
	deep := []byte{byte(FormatBinary)}
	for range 5000 {
		deep = append(deep, 0x81, 0xa5, 'b', 'a', 't', 'c', 'h', 0x91) // {"batch": [ ...
	}
	deep = append(deep, 0x80)
	for name, b := range map[string][]byte{
		"an array of 4 billion writes": {byte(FormatBinary), 0x81, 0xa5, 'b', 'a', 't', 'c', 'h', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x80},
		"a string of 4 GB":             {byte(FormatBinary), 0x81, 0xa2, 'i', 'd', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
		"a map of 4 billion pairs":     {byte(FormatBinary), 0xdf, 0xff, 0xff, 0xff, 0xff},
		"5,000 nested batches":         deep,
		"cut short":                    {byte(FormatBinary), 0x82, 0xa4, 't'},
		"a string for the command":     {byte(FormatBinary), 0xa3, 'a', 'b', 'c'},
		"text for the type":            {byte(FormatBinary), 0x81, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'x'},
		"an empty command":             {byte(FormatBinary), 0x80},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := DecodeCommand(b)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: decoded %+v", name, c)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("%s: allocated %d bytes", name, grew)
		}
	}
}
