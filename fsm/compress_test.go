package fsm

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/rosterhq/roster/api"
)

// variedRegistrations are n registrations as a follower's batch might
// carry them from many different services: random addresses, ports,
// paths, slugs, tags, meta, deployment IDs and tokens.
func variedRegistrations(rng *rand.Rand, n int) []Command {
	words := []string{"billing", "search", "auth", "ledger", "thumbnails", "checkout", "inventory", "mailer", "gateway", "reports"}
	id := func(prefix string) string {
		const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		var b strings.Builder
		b.WriteString(prefix)
		for range 10 {
			b.WriteByte(digits[rng.IntN(len(digits))])
		}
		return b.String()
	}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	cmds := make([]Command, n)
	for i := range cmds {
		slug := words[rng.IntN(len(words))] + "-" + words[rng.IntN(len(words))]
		in := Instance{
			URL:          fmt.Sprintf("http://10.%d.%d.%d:%d/%s/v%d", rng.IntN(256), rng.IntN(256), rng.IntN(256), 1024+rng.IntN(60000), words[rng.IntN(len(words))], rng.IntN(9)),
			Slug:         slug,
			DeploymentID: id("depl_"),
			NodeURL:      fmt.Sprintf("http://192.168.1.%d:11337", 1+rng.IntN(3)),
			Tags:         []string{words[rng.IntN(len(words))], fmt.Sprintf("v%d.%d", rng.IntN(5), rng.IntN(20))},
			Meta:         map[string]string{"version": fmt.Sprintf("%d.%d.%d", rng.IntN(5), rng.IntN(20), rng.IntN(100)), "commit": id("")},
		}
		if err := NormalizeInstance(&in); err != nil {
			panic(err)
		}
		cmds[i] = Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: id("inst-"), Now: at.Add(time.Duration(rng.IntN(1e9)))},
			Auth: &Auth{Accessor: id("acc_"), Permission: api.PermInstanceEdit, At: at}, Quota: &api.Quota{MaxInstances: 10000}}
	}
	return cmds
}

// encodedBatch is a batch of cmds as the leader writes it in format f.
func encodedBatch(t testing.TB, cmds []Command, f Format) []byte {
	t.Helper()
	parts := make([][]byte, len(cmds))
	for i := range cmds {
		b, err := cmds[i].EncodeAs(f.Part())
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = b
	}
	return EncodeBatch(parts, f)
}

// A batch in format 3 is the format-2 batch compressed: it decodes to the
// same commands, and registrations unlike each other still shrink: 3x
// for the 22 of a follower's usual batch under load (the figure
// compress.go's comment gives), less for two.
func TestS2ShrinksVariedRegistrations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n, least := range map[int]float64{2: 1.3, 22: 2.5, 200: 2.5} {
		cmds := variedRegistrations(rng, n)
		plain, packed := encodedBatch(t, cmds, FormatBinary), encodedBatch(t, cmds, FormatS2)
		if packed[0] != byte(FormatS2) {
			t.Fatalf("%d writes (%d bytes): format byte %d, want 3", n, len(plain), packed[0])
		}
		ratio := float64(len(plain)) / float64(len(packed))
		t.Logf("%d varied registrations: %d bytes, compressed %d (%.1fx)", n, len(plain), len(packed), ratio)
		if ratio < least {
			t.Errorf("%d writes: compressed %d of %d bytes, %.1fx", n, len(packed), len(plain), ratio)
		}
		a, err := DecodeCommand(plain)
		if err != nil {
			t.Fatal(err)
		}
		b, err := DecodeCommand(packed)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%d writes: the compressed batch decodes to\n%+v\nthe plain one to\n%+v", n, b.Batch[0], a.Batch[0])
		}
	}
}

// Commands too small to gain stay format 2, which a reader of format 3
// reads as well; EncodeAs(3) compresses a large one on its own.
func TestS2OnlyWhereItPays(t *testing.T) {
	small, err := (&Command{Type: CmdDeregisterInstance, ID: "inst-1"}).EncodeAs(FormatS2)
	if err != nil || small[0] != byte(FormatBinary) {
		t.Fatalf("a deregistration in format 3: %x %v", small, err)
	}
	def := &Command{Type: CmdSaveDefinition, Definition: &Definition{ID: "def_1", Image: &api.ImageSpec{Name: "nginx"},
		Envars: make([]api.EnvVar, 50)}}
	for i := range def.Definition.Envars {
		def.Definition.Envars[i] = api.EnvVar{Key: fmt.Sprintf("KEY_%d", i), Value: "some value"}
	}
	big, err := def.EncodeAs(FormatS2)
	if err != nil || big[0] != byte(FormatS2) {
		t.Fatalf("a definition of 50 variables in format 3: format %d, %v", big[0], err)
	}
	back, err := DecodeCommand(big)
	if err != nil || !reflect.DeepEqual(back.Definition, def.Definition) {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	// Random bytes do not shrink: the plain encoding is kept.
	noise := make([]byte, 2000)
	for i := range noise {
		noise[i] = byte(rand.IntN(256))
	}
	kv := &Command{Type: CmdKVSet, KV: &KVCommand{Key: "k", Value: noise}}
	b, err := kv.EncodeAs(FormatS2)
	if err != nil || b[0] != byte(FormatBinary) {
		t.Fatalf("random value: format %d, %v", b[0], err)
	}
}

// A block that says it unpacks past MaxCommandSize is refused before
// anything is allocated for it, and damaged blocks are refused, not
// misread.
func TestS2BlocksThatLieAreRefused(t *testing.T) {
	huge := s2.Encode(nil, make([]byte, MaxCommandSize+1))
	if _, err := DecodeCommand(append([]byte{byte(FormatS2)}, huge...)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("a block of MaxCommandSize+1 bytes: %v", err)
	}
	good := encodedBatch(t, variedRegistrations(rand.New(rand.NewPCG(3, 4)), 22), FormatS2)
	for name, b := range map[string][]byte{
		"cut short":         good[:len(good)/2],
		"a wrong length":    append([]byte{byte(FormatS2), 0x05}, good[2:]...),
		"only the byte":     {byte(FormatS2)},
		"a block of a JSON": append([]byte{byte(FormatS2)}, s2.Encode(nil, []byte(`{"type":1}`))...),
	} {
		if c, err := DecodeCommand(b); err == nil {
			t.Errorf("%s: decoded %+v", name, c)
		}
	}
}

// What a decoded command holds is its own: the buffer its block was
// unpacked into is reused for the next entry. Both decoders are checked:
// the codec (a kv value) and the hand-written one (a batch of
// registrations).
func TestS2DecodedValuesOutliveTheBuffer(t *testing.T) {
	value := []byte(strings.Repeat("value-", 200))
	kv, err := (&Command{Type: CmdKVSet, KV: &KVCommand{Key: "k", Value: value}}).EncodeAs(FormatS2)
	if err != nil || kv[0] != byte(FormatS2) {
		t.Fatalf("kv in format 3: %v", err)
	}
	cmds := variedRegistrations(rand.New(rand.NewPCG(5, 6)), 40)
	firstKV, err := DecodeCommand(kv)
	if err != nil {
		t.Fatal(err)
	}
	firstBatch, err := DecodeCommand(encodedBatch(t, cmds, FormatS2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		other := variedRegistrations(rand.New(rand.NewPCG(7, uint64(i))), 40)
		if _, err := DecodeCommand(encodedBatch(t, other, FormatS2)); err != nil {
			t.Fatal(err)
		}
		big, _ := (&Command{Type: CmdKVSet, KV: &KVCommand{Key: "k", Value: []byte(strings.Repeat("other-", 200))}}).EncodeAs(FormatS2)
		if _, err := DecodeCommand(big); err != nil {
			t.Fatal(err)
		}
	}
	if string(firstKV.KV.Value) != string(value) {
		t.Fatalf("the first value changed to %.60q", firstKV.KV.Value)
	}
	if !reflect.DeepEqual(firstBatch.Batch, cmds) {
		t.Fatalf("the first batch changed: %+v", firstBatch.Batch[0].Register.Instance)
	}
}
