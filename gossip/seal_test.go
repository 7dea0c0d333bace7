package gossip

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// macAuth stands in for the nodes' certificates in this package's tests:
// each node has a secret, and a signature is an HMAC (the agent signs with
// ECDSA; see node/gossipauth.go). Keys of unknown nodes are "pending".
type macAuth struct {
	self    string
	secrets map[string][]byte
}

func (a macAuth) Sign(body []byte) ([]byte, error) { return mac(a.secrets[a.self], body), nil }

func (a macAuth) Verify(id string, body, sig []byte) error {
	k, ok := a.secrets[id]
	if !ok {
		return ErrKeyPending
	}
	if !hmac.Equal(mac(k, body), sig) {
		return errors.New("bad signature")
	}
	return nil
}

func mac(k, body []byte) []byte {
	h := hmac.New(sha256.New, k)
	h.Write(body)
	return append(h.Sum(nil), h.Sum(nil)...) // 64 bytes, like r||s
}

func TestStatusOfANodeIsTakenOnlyWithItsSignature(t *testing.T) {
	secrets := map[string][]byte{"a": []byte("secret of a"), "rogue": []byte("secret of rogue"), "me": []byte("mine")}
	sender := bare("a")
	sender.auth = macAuth{self: "a", secrets: secrets}
	forger := bare("rogue")
	forger.auth = macAuth{self: "rogue", secrets: secrets}
	me := bare("me")
	me.auth = macAuth{self: "me", secrets: secrets}
	me.members["a"] = &Member{Name: "a", State: StateAlive}
	me.members["b"] = &Member{Name: "b", State: StateAlive}

	u, inv := splitSample("a", time.Now().UnixNano(), sampleWithGPUs(2, 0))
	u.Seq, u.Iv, inv.Ver = 1, 5000, 1
	part := func(g *Gossip, parts func() ([]part, error)) []byte {
		ps, err := parts()
		if err != nil || len(ps) != 1 {
			t.Fatal(ps, err)
		}
		return g.seal(ps[0].b)
	}
	d := &delegate{g: me}
	// The rogue holds the gossip key and signs with its own key: refused.
	d.NotifyMsg(part(forger, inv.parts))
	d.NotifyMsg(part(forger, u.parts))
	// Unsigned: refused.
	raw, _ := u.parts()
	d.NotifyMsg(raw[0].b)
	if n, _ := me.Node("a"); len(n.GPUs) != 0 {
		t.Fatalf("forged status taken: %d GPUs", len(n.GPUs))
	}
	if me.BadMessageCount() != 3 {
		t.Fatalf("bad messages %d, want 3", me.BadMessageCount())
	}
	// Signed by a itself: taken, and kept signed for push/pull.
	d.NotifyMsg(part(sender, inv.parts))
	d.NotifyMsg(part(sender, u.parts))
	if n, _ := me.Node("a"); len(n.GPUs) != 2 {
		t.Fatalf("a's own status: %d GPUs, want 2", len(n.GPUs))
	}
	other := bare("c")
	other.auth = macAuth{self: "c", secrets: secrets}
	other.members["a"] = &Member{Name: "a", State: StateAlive}
	other.mergeState(me.localState())
	if n, _ := other.Node("a"); len(n.GPUs) != 2 || other.BadMessageCount() != 0 {
		t.Fatalf("push/pull passed a's status on as %d GPUs, %d bad", len(n.GPUs), other.BadMessageCount())
	}
	// A node's own status never comes from a peer, signed or not.
	secrets["b"] = []byte("b")
	forMe := bare("b")
	forMe.auth = macAuth{self: "b", secrets: secrets}
	mine, _ := splitSample("me", time.Now().UnixNano(), sampleWithGPUs(8, 0))
	mine.Seq, mine.Iv = 99, 5000
	d.NotifyMsg(part(forMe, mine.parts))
	if n, ok := me.Node("me"); ok && len(n.GPUs) != 0 {
		t.Fatalf("took %d GPUs for itself from a peer", len(n.GPUs))
	}
	// Leave and forget are signed too: a forged leave of a is ignored.
	b, _ := encodeMsg(msgLeave, leaveMsg{ID: "a"})
	d.NotifyMsg(forger.seal(b))
	if me.leaving["a"] {
		t.Fatal("a forged leave was recorded")
	}
	d.NotifyMsg(sender.seal(b))
	if !me.leaving["a"] {
		t.Fatal("a's own leave was not recorded")
	}
	if !bytes.Equal(sender.seal(b)[2:66], mac(secrets["a"], b[2:])) {
		t.Fatal("the signature is not in the envelope")
	}
}
