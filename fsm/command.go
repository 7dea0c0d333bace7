package fsm

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rosterhq/roster/api"
)

// CommandType names what a command does. Values are stored in the Raft log:
// never renumber them.
type CommandType uint8

// Command types.
const (
	CmdRegisterInstance   CommandType = 1
	CmdDeregisterInstance CommandType = 2
	CmdSaveDefinition     CommandType = 3
	CmdDeleteDefinition   CommandType = 4
	CmdSetStatuses        CommandType = 5
	CmdBatch              CommandType = 6
	CmdACLBootstrap       CommandType = 7
	CmdCreateToken        CommandType = 8
	CmdDeleteToken        CommandType = 9
	// CmdTouch marks every table changed at its index: it follows an
	// operator's restore, so that blocking readers wake and indexes move.
	CmdTouch CommandType = 10
	// CmdKVSet and CmdKVDelete write the KV tree (kv.go).
	CmdKVSet    CommandType = 11
	CmdKVDelete CommandType = 12
)

func (t CommandType) String() string {
	switch t {
	case CmdRegisterInstance:
		return "register-instance"
	case CmdDeregisterInstance:
		return "deregister-instance"
	case CmdSaveDefinition:
		return "save-definition"
	case CmdDeleteDefinition:
		return "delete-definition"
	case CmdSetStatuses:
		return "set-statuses"
	case CmdBatch:
		return "batch"
	case CmdACLBootstrap:
		return "acl-bootstrap"
	case CmdCreateToken:
		return "create-token"
	case CmdDeleteToken:
		return "delete-token"
	case CmdTouch:
		return "touch"
	case CmdKVSet:
		return "kv-set"
	case CmdKVDelete:
		return "kv-delete"
	}
	return fmt.Sprintf("command-%d", uint8(t))
}

// Format is the first byte of every encoded command: how the rest is
// encoded. A replica that meets a format it does not know refuses the
// entry instead of misreading it, so a leader writes a newer format only
// once every member says it reads it (node.LogFormat); this build reads
// all three.
type Format byte

const (
	// FormatJSON is the command as JSON: every log written before format 2,
	// and what a leader writes while some member reads only that.
	FormatJSON Format = 1
	// FormatBinary is the same command as MessagePack, fields named by their
	// JSON names: about a third of JSON's decoding CPU, no more to encode.
	FormatBinary Format = 2
	// FormatS2 is format 2 compressed with S2, for commands where that
	// shrinks them (compress.go); smaller ones stay format 2.
	FormatS2 Format = 3
	// NewestFormat is the newest format this build reads and writes.
	NewestFormat = FormatS2
)

// MaxCommandSize bounds one encoded command, well under what Raft and the
// HTTP body limit allow.
const MaxCommandSize = 1 << 20

// Command is the envelope written to the Raft log. Exactly one payload field
// is set, matching Type.
type Command struct {
	Type       CommandType      `json:"type"`
	Register   *RegisterCommand `json:"register,omitempty"`
	Definition *Definition      `json:"definition,omitempty"`
	ID         string           `json:"id,omitempty"`
	Statuses   []StatusUpdate   `json:"statuses,omitempty"`
	// Batch holds the writes of a batch command (see batch.go).
	Batch []Command `json:"batch,omitempty"`
	// Token is the token a create-token or acl-bootstrap command makes.
	Token *TokenCommand `json:"token,omitempty"`
	// Auth is the token the write was made with, checked again when it is
	// applied (acl.go); nil for the cluster's own writes.
	Auth *Auth `json:"auth,omitempty"`
	// Quota is the catalog's quota as the node that built a growing write
	// (a registration, a definition) had it configured (usage.go).
	Quota *api.Quota `json:"quota,omitempty"`
	// KV is a kv-set or kv-delete command's key (and value).
	KV *KVCommand `json:"kv,omitempty"`
}

// RegisterCommand upserts an instance by URL. NewID and Now are chosen by the
// node that accepted the request so that Apply stays deterministic.
type RegisterCommand struct {
	Instance Instance  `json:"instance"`
	NewID    string    `json:"newId"`
	Now      time.Time `json:"now"`
	// DefaultCheck is stored when a new instance names no check.
	DefaultCheck *Check `json:"defaultCheck,omitempty"`
}

// Encode serialises a command for the Raft log in the newest format.
func (c *Command) Encode() ([]byte, error) { return c.EncodeAs(NewestFormat) }

// EncodeAs serialises a command for the Raft log in format f.
func (c *Command) EncodeAs(f Format) ([]byte, error) {
	var b []byte
	var err error
	switch f {
	case FormatBinary:
		b, err = c.AppendEncoded(make([]byte, 0, 512), f)
	case FormatS2:
		if b, err = c.AppendEncoded(make([]byte, 0, 512), FormatBinary); err == nil {
			b = compress(b)
		}
	default:
		b, err = c.AppendEncoded(nil, f)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendEncoded appends EncodeAs(f) to b: the leader packs the writes of a
// batch into one buffer (EncodeBatch joins them) instead of one each.
func (c *Command) AppendEncoded(b []byte, f Format) ([]byte, error) {
	start := len(b)
	var err error
	switch f {
	case FormatJSON:
		var j []byte
		j, err = json.Marshal(c)
		b = append(append(b, byte(FormatJSON)), j...)
	case FormatBinary:
		b, err = appendBinary(b, c)
	case FormatS2:
		var one []byte
		one, err = c.EncodeAs(FormatS2)
		b = append(b, one...)
	default:
		return nil, fmt.Errorf("encode %s: unknown format %d", c.Type, f)
	}
	if err != nil {
		return b[:start], fmt.Errorf("encode %s: %w", c.Type, err)
	}
	return b, nil
}

// DecodeCommand parses a log entry written by Encode, in any format this
// build reads.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	if len(b) > MaxCommandSize+1 {
		return nil, fmt.Errorf("command of %d bytes exceeds %d", len(b), MaxCommandSize)
	}
	var c Command
	switch Format(b[0]) {
	case FormatJSON:
		if err := json.Unmarshal(b[1:], &c); err != nil {
			return nil, fmt.Errorf("decode command: %w", err)
		}
	case FormatBinary:
		if err := decodeBinary(b[1:], &c); err != nil {
			return nil, fmt.Errorf("decode command: %w", err)
		}
	case FormatS2:
		if err := decodeS2(b[1:], &c); err != nil {
			return nil, fmt.Errorf("decode command: %w", err)
		}
	default:
		return nil, fmt.Errorf("command format version %d is not supported (this build reads %d to %d)", b[0], FormatJSON, NewestFormat)
	}
	if err := c.checkPayload(); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkPayload verifies that the payload matching Type is present.
func (c *Command) checkPayload() error {
	ok := false
	switch c.Type {
	case CmdRegisterInstance:
		ok = c.Register != nil
	case CmdSaveDefinition:
		ok = c.Definition != nil
	case CmdDeregisterInstance, CmdDeleteDefinition, CmdDeleteToken:
		ok = c.ID != ""
	case CmdACLBootstrap, CmdCreateToken:
		ok = c.Token != nil
	case CmdTouch:
		ok = true
	case CmdKVSet, CmdKVDelete:
		ok = c.KV != nil
	case CmdSetStatuses:
		ok = len(c.Statuses) > 0
	case CmdBatch:
		if err := checkBatch(c.Batch); err != nil {
			return err
		}
		ok = true
	default:
		return fmt.Errorf("unknown command type %d", c.Type)
	}
	if !ok {
		return fmt.Errorf("%s command has no payload", c.Type)
	}
	return nil
}
