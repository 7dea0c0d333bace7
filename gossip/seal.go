package gossip

import (
	"errors"
	"fmt"
)

// Auth signs this node's gossip messages and checks those of peers with the
// nodes' TLS keys, so that holding the gossip key is not enough to speak
// for a node: usage, inventory and leave messages are signed by the node
// they describe, forget requests by the node that asks. Nil without TLS:
// messages then travel unsigned.
type Auth interface {
	// Sign signs body with this node's key.
	Sign(body []byte) ([]byte, error)
	// Verify checks sig over body against node id's certificate. It returns
	// ErrKeyPending while that key is being fetched (the message is dropped
	// quietly; the next one will do).
	Verify(id string, body, sig []byte) error
}

// ErrKeyPending: the signer's key is not known here yet.
var ErrKeyPending = errors.New("the signer's key is being fetched")

// maxSig is the room a signature takes in a message: an ECDSA P-256
// signature as r||s (IEEE P1363) is 64 bytes. (ASN.1 would take up to 72,
// and eight GPUs with a 64-byte node ID would no longer fit one packet.)
const maxSig = 64

// A message on the wire is [type][signature length][signature][JSON body];
// the signature covers the body (which names the signer).

// seal signs an encoded message when this node signs.
func (g *Gossip) seal(b []byte) []byte {
	if g.auth == nil || len(b) < 2 {
		return b
	}
	sig, err := g.auth.Sign(b[2:])
	if err != nil || len(sig) > maxSig {
		g.log.Warn("gossip message not signed: peers will drop it", "err", err)
		return b
	}
	out := make([]byte, 0, len(b)+len(sig))
	out = append(out, b[0], byte(len(sig)))
	out = append(out, sig...)
	return append(out, b[2:]...)
}

// opened is a decoded message with what its signature covers.
type opened struct {
	t    msgType
	v    any
	body []byte
	sig  []byte
}

// open splits a message into its type, signature and body.
func open(b []byte) (t msgType, sig, body []byte, err error) {
	if len(b) < 3 {
		return 0, nil, nil, fmt.Errorf("message of %d bytes is too short", len(b))
	}
	n := int(b[1])
	if n > maxSig || len(b) < 2+n+1 {
		return 0, nil, nil, fmt.Errorf("message with a %d-byte signature in %d bytes", n, len(b))
	}
	return msgType(b[0]), b[2 : 2+n], b[2+n:], nil
}

// signer is the node whose key must have signed a message.
func signer(v any) string {
	switch m := v.(type) {
	case usageMsg:
		return m.ID
	case inventoryMsg:
		return m.ID
	case leaveMsg:
		return m.ID
	case forgetMsg:
		return m.By
	}
	return ""
}

// authentic checks a peer's message: always true without Auth. A message
// whose signature fails is counted as bad.
func (g *Gossip) authentic(o opened) bool {
	if g.auth == nil {
		return true
	}
	id := signer(o.v)
	if id == "" || len(o.sig) == 0 {
		g.badMsgs.Add(1)
		g.log.Debug("dropping an unsigned gossip message", "type", o.t)
		return false
	}
	err := g.auth.Verify(id, o.body, o.sig)
	if err != nil && !errors.Is(err, ErrKeyPending) {
		g.badMsgs.Add(1)
		g.log.Debug("dropping a gossip message whose signature does not verify", "signer", id, "err", err)
	}
	return err == nil
}
