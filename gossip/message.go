package gossip

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rosterhq/roster/api"
)

// msgType is the first byte of every user message this package gossips.
type msgType byte

const (
	// msgLeave announces that a node is leaving on purpose, so that peers
	// record "left" rather than "dead" when memberlist reports it gone
	// (memberlist itself does not tell the two apart to its delegate).
	msgLeave msgType = 1
	// msgUsage carries one resource sample (or part of one).
	msgUsage msgType = 2
	// msgInventory carries a node's GPU inventory (or part of it).
	msgInventory msgType = 3
	// msgForget asks every node to drop a dead or departed member.
	msgForget msgType = 4
	// msgState is push/pull state: every node's newest status, over TCP.
	msgState msgType = 5
)

// maxMsgSize bounds a message sent in a gossip packet: memberlist's
// 1400-byte UDP buffer less the compound header (2), the entry overhead (2),
// the user-message byte (1) and the worst encryption overhead (45).
const maxMsgSize = 1400 - 2 - 2 - 1 - 45

// maxStateSize bounds push/pull state, which travels over TCP: ample for
// thousands of nodes, small enough that a hostile peer cannot exhaust memory.
const maxStateSize = 32 << 20

type leaveMsg struct {
	ID string `json:"id"`
}

type forgetMsg struct {
	ID string `json:"id"`
	// By is the node that asks (it signs the request).
	By string `json:"by,omitempty"`
}

// encodeMsg encodes an unsigned message (see seal for signing).
func encodeMsg(t msgType, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{byte(t), 0}, b...), nil
}

// decodeMsg parses a peer's gossip message; anything malformed is an error,
// never a panic.
func decodeMsg(b []byte) (msgType, any, error) {
	o, err := openMsg(b)
	return o.t, o.v, err
}

// openMsg parses a message and keeps its signature and signed body.
func openMsg(b []byte) (opened, error) {
	t, sig, body, err := open(b)
	if err != nil {
		return opened{}, err
	}
	limit := maxMsgSize
	if t == msgState {
		limit = maxStateSize
	}
	if len(b) > limit {
		return opened{}, fmt.Errorf("message of %d bytes exceeds %d", len(b), limit)
	}
	t, v, err := decodeBody(t, body)
	return opened{t: t, v: v, body: body, sig: sig}, err
}

func decodeBody(t msgType, body []byte) (msgType, any, error) {
	switch t {
	case msgLeave:
		var m leaveMsg
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, nil, fmt.Errorf("bad leave message: %v", err)
		}
		return t, m, checkID(m.ID)
	case msgForget:
		var m forgetMsg
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, nil, fmt.Errorf("bad forget message: %v", err)
		}
		if m.By != "" {
			if err := checkID(m.By); err != nil {
				return 0, nil, err
			}
		}
		return t, m, checkID(m.ID)
	case msgUsage:
		var m usageMsg
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, nil, fmt.Errorf("bad usage message: %v", err)
		}
		return t, m, m.validate()
	case msgInventory:
		var m inventoryMsg
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, nil, fmt.Errorf("bad inventory message: %v", err)
		}
		return t, m, m.validate()
	case msgState:
		var m stateMsg
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, nil, fmt.Errorf("bad state message: %v", err)
		}
		return t, m, m.validate()
	default:
		return 0, nil, fmt.Errorf("unknown message type %d", t)
	}
}

// checkID holds a node ID from a peer to the rule of --node-id (letters,
// digits, '_', '.', ':' and '-'): it is printed in logs and tables, and a
// newline in it once forged a log record on every node.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("node id of %d bytes: want 1-%d", len(id), maxIDLen)
	}
	return api.ValidateID("node id", id)
}

var errNotState = errors.New("not a state message")
