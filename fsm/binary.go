package fsm

import (
	"encoding/binary"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// FormatBinary is MessagePack through the codec Raft itself uses
// (hashicorp/go-msgpack): a command's struct with its JSON field names and
// omitempty, times as the MessagePack timestamp extension (they decode in
// UTC; every replica decodes the same bytes the same way).

var binaryHandle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.WriteExt = true // str and bin apart, times as the timestamp extension
	return h
}()

// encoders are reused: building one per command costs more than the
// command's encoding.
var encoders = sync.Pool{New: func() any { return codec.NewEncoderBytes(nil, binaryHandle) }}

var decoders = sync.Pool{New: func() any { return codec.NewDecoderBytes(nil, binaryHandle) }}

// appendBinary appends a command in format 2 to b: registrations and
// deregistrations by hand (encodeFast), the rest through the codec.
func appendBinary(b []byte, c *Command) ([]byte, error) {
	start := len(b)
	if out, ok := encodeFast(append(b, byte(FormatBinary)), c); ok {
		return out, nil
	}
	if start == 0 {
		return encodeWithCodec(b[:0], c)
	}
	enc, err := encodeWithCodec(nil, c)
	return append(b[:start], enc...), err
}

// encodeWithCodec encodes any command by reflection, into b's capacity.
func encodeWithCodec(b []byte, c *Command) ([]byte, error) {
	// The encoder writes from the start of the slice it is given and
	// grows it; the format byte goes in first as MessagePack's nil, one
	// byte that is then overwritten.
	enc := encoders.Get().(*codec.Encoder)
	defer encoders.Put(enc)
	enc.ResetBytes(&b)
	if err := enc.Encode(nil); err != nil {
		return nil, err
	}
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	b[0] = byte(FormatBinary)
	return b, nil
}

func decodeBinary(b []byte, c *Command) error {
	if decodeFast(b, c) {
		return nil
	}
	return decodeWithCodec(b, c)
}

// decodeWithCodec decodes any format-2 command, by reflection.
func decodeWithCodec(b []byte, c *Command) error {
	dec := decoders.Get().(*codec.Decoder)
	defer decoders.Put(dec)
	dec.ResetBytes(b)
	return dec.Decode(c)
}

// appendBinaryBatchHeader appends the format byte and the MessagePack of a
// batch command up to its writes: {"batch": [ and the array's length; the
// writes' own encodings follow, then appendBinaryBatchTrailer. (The codec
// writes a struct's fields sorted by name: batch before type.)
func appendBinaryBatchHeader(b []byte, n int) []byte {
	b = append(b, byte(FormatBinary), 0x82) // a map of two pairs
	b = append(b, 0xa5, 'b', 'a', 't', 'c', 'h')
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

// appendBinaryBatchTrailer appends the batch command's "type": 6.
func appendBinaryBatchTrailer(b []byte) []byte {
	return append(b, 0xa4, 't', 'y', 'p', 'e', byte(CmdBatch))
}
