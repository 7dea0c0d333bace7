package fsm

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The hand encoder writes the codec's bytes for every registration and
// deregistration (a meta map of several keys aside: the codec writes
// those in Go's map order, the hand encoder sorted, and both decode to
// the same command), and leaves every other command to the codec.
func TestFastEncodeWritesTheCodecsBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		c := randomWrite(r)
		if i%7 == 0 {
			c.ID = "also-" + c.ID // a top-level ID beside a registration
		}
		fast, ok := encodeFast(nil, &c)
		if !ok {
			t.Fatalf("write %d (%s) was left to the codec", i, c.Type)
		}
		slow, err := encodeWithCodec(nil, &c)
		if err != nil {
			t.Fatal(err)
		}
		slow = slow[1:] // the codec's path writes the format byte first
		if c.Register == nil || len(c.Register.Instance.Meta) <= 1 {
			if !bytes.Equal(fast, slow) {
				t.Fatalf("write %d (%s): hand %q\ncodec %q", i, c.Type, fast, slow)
			}
			continue
		}
		var a, b Command
		if err := decodeWithCodec(fast, &a); err != nil {
			t.Fatalf("write %d: the codec cannot read the hand encoding: %v", i, err)
		}
		if err := decodeWithCodec(slow, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("write %d: hand %+v\ncodec %+v", i, a, b)
		}
	}
	for _, c := range formatFixtureCommands() {
		if c.Type == CmdRegisterInstance || c.Type == CmdDeregisterInstance {
			continue
		}
		if _, ok := encodeFast(nil, &c); ok {
			t.Errorf("%s was encoded by hand", c.Type)
		}
	}
}
