package fsm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// randomWrite is a registration or deregistration with every field the
// fast decoder reads, drawn from r: long and short strings, integers of
// every width and sign, times that need each timestamp form.
func randomWrite(r *rand.Rand) Command {
	str := func() string {
		n := []int{0, 1, 5, 31, 32, 200, 300, 70000}[r.IntN(8)]
		return strings.Repeat(string(rune('a'+r.IntN(26))), n/2) + "é" + strings.Repeat("z", n-n/2)
	}
	num := func() int64 {
		return []int64{0, 1, 127, 128, 255, 256, -1, -32, -33, -129, 40000, -40000, 1 << 33, -(1 << 40), math.MaxInt64, math.MinInt64}[r.IntN(16)]
	}
	when := func() time.Time {
		switch r.IntN(4) {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(int64(r.Uint32()), 0).UTC() // 4 bytes
		case 2:
			return time.Unix(int64(r.Uint32()), int64(r.IntN(1e9))).UTC() // 8 bytes
		}
		return time.Unix(-int64(r.Uint32())-1, int64(r.IntN(1e9))).UTC() // 12 bytes
	}
	if r.IntN(5) == 0 {
		return Command{Type: CmdDeregisterInstance, ID: str()}
	}
	in := Instance{ID: str(), URL: str(), DeploymentID: str(), NodeURL: str(), LastHeartbeat: when(), Path: str(), Scheme: str(),
		Host: str(), IP: str(), Port: int(num()), Status: Status(str()), Details: str(), Slug: str(), StatusChangedAt: when(),
		StatusReason: str(), CreateIndex: uint64(r.Int64()), ModifyIndex: uint64(r.IntN(1000))}
	// Up to 19 tags and meta pairs: past 15, arrays and maps take their
	// 16-bit length form.
	for range []int{0, 1, 2, 0, 1, 2, 0, 19}[r.IntN(8)] {
		in.Tags = append(in.Tags, str())
	}
	for range []int{0, 1, 2, 0, 1, 2, 0, 19}[r.IntN(8)] {
		if in.Meta == nil {
			in.Meta = map[string]string{}
		}
		in.Meta[str()] = str()
	}
	check := func() *Check {
		return &Check{Type: api.CheckType(str()), Path: str(), Interval: api.Duration(num()), Timeout: api.Duration(num()), TTL: api.Duration(num()),
			FailuresBeforeUnhealthy: int(num()), SuccessesBeforeHealthy: int(num()), DeregisterAfter: api.Duration(num())}
	}
	c := Command{Type: CmdRegisterInstance, Register: &RegisterCommand{Instance: in, NewID: str(), Now: when()}}
	if r.IntN(2) == 0 {
		c.Register.Instance.Check = check()
	}
	if r.IntN(2) == 0 {
		c.Register.DefaultCheck = check()
	}
	if r.IntN(2) == 0 {
		c.Auth = &Auth{Accessor: str(), Permission: str(), At: when()}
	}
	if r.IntN(2) == 0 {
		c.Quota = &api.Quota{MaxInstances: int(num()), MaxBytes: num()}
	}
	return c
}

// The writes a busy cluster logs most decode on the fast path, to what
// the codec reads from the same bytes.
func TestFastDecodeTakesWritesAndAgreesWithTheCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		c := randomWrite(r)
		if i%3 == 0 { // batches as a busy follower sends them: past 15, a 16-bit length
			c = Command{Type: CmdBatch, Batch: []Command{c}}
			for range []int{1, 2, 16}[r.IntN(3)] {
				c.Batch = append(c.Batch, randomWrite(r))
			}
		}
		b, err := c.EncodeAs(FormatBinary)
		if err != nil {
			t.Fatal(err)
		}
		var fast, slow Command
		if !decodeFast(b[1:], &fast) {
			t.Fatalf("write %d (%s, %d bytes) fell back to the codec", i, c.Type, len(b))
		}
		if err := decodeWithCodec(b[1:], &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("write %d: fast %+v\ncodec %+v", i, fast, slow)
		}
	}
	// Every command decodes as before, on whichever path takes it.
	for _, c := range formatFixtureCommands() {
		b, err := c.EncodeAs(FormatBinary)
		if err != nil {
			t.Fatal(err)
		}
		var fast Command
		took := decodeFast(b[1:], &fast)
		got, err := DecodeCommand(b)
		var want Command
		if err2 := decodeWithCodec(b[1:], &want); err != nil || err2 != nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("%s: %v %v\n%+v\n%+v", c.Type, err, err2, got, want)
		}
		if !took && (c.Type == CmdRegisterInstance || c.Type == CmdDeregisterInstance || c.Type == CmdBatch) {
			t.Errorf("%s fell back to the codec", c.Type)
		}
	}
}

// Whatever bytes the fast path takes, the codec reads the same command
// from them.
func FuzzFastDecodeAgreesWithTheCodec(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		c := randomWrite(r)
		b, err := c.EncodeAs(FormatBinary)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[1:])
	}
	for _, c := range formatFixtureCommands() {
		b, _ := c.EncodeAs(FormatBinary)
		f.Add(b[1:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow Command
		if !decodeFast(b, &fast) {
			if !reflect.DeepEqual(fast, Command{}) {
				t.Fatalf("a refused input left %+v", fast)
			}
			return
		}
		if err := decodeWithCodec(b, &slow); err != nil {
			t.Fatalf("the fast path took what the codec refuses (%v): %+v", err, fast)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %s\ncodec %s", fmt.Sprintf("%+v", fast), fmt.Sprintf("%+v", slow))
		}
	})
}
