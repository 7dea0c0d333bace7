package gossip

import (
	"encoding/json"
	"fmt"
)

// msgType is the first byte of every user message this package gossips.
type msgType byte

const (
	// msgLeave announces that a node is leaving on purpose, so that peers
	// record "left" rather than "dead" when memberlist reports it gone
	// (memberlist itself does not tell the two apart to its delegate).
	msgLeave msgType = 1
)

// maxMsgSize bounds a user message; memberlist packs broadcasts into UDP
// packets of 1400 bytes, so anything larger is malformed.
const maxMsgSize = 1400

type leaveMsg struct {
	ID string `json:"id"`
}

func encodeMsg(t msgType, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{byte(t)}, b...), nil
}

// decodeMsg parses a peer's message; anything malformed is an error, never
// a panic.
func decodeMsg(b []byte) (msgType, any, error) {
	if len(b) < 2 {
		return 0, nil, fmt.Errorf("message of %d bytes is too short", len(b))
	}
	if len(b) > maxMsgSize {
		return 0, nil, fmt.Errorf("message of %d bytes exceeds %d", len(b), maxMsgSize)
	}
	switch t := msgType(b[0]); t {
	case msgLeave:
		var m leaveMsg
		if err := json.Unmarshal(b[1:], &m); err != nil || m.ID == "" {
			return 0, nil, fmt.Errorf("bad leave message: %v", err)
		}
		return t, m, nil
	default:
		return 0, nil, fmt.Errorf("unknown message type %d", t)
	}
}
