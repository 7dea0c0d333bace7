package fsm

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// Format 3 (FormatS2) is a FormatBinary command compressed as one S2 block
// (klauspost/compress, a faster Snappy): the format byte 3, then the block
// of everything after the binary format byte. The leader writes it for
// entries of compressMin bytes and more, where it is smaller; smaller
// commands stay FormatBinary, which every reader of format 3 reads too.
//
// Why: a follower's batch of registrations is one Raft entry, and every
// byte of it is written, copied and collected on every server: raft's log
// encoding, bolt's leaf (rewritten in full by each commit, so a commit
// copies the entries before it in the same leaf), the transport's decode.
// Registrations repeat their field names and some of their values (the
// node, the token, the slug), so a batch of 22 shrinks several times: 16x
// for the bench's registrations, 3x for varied ones (10.4 KB to 3.4 KB in
// TestS2ShrinksVariedRegistrations), for ~0.4 us per KB to compress once
// on the leader and ~0.5 us per KB to decompress on each server.

// compressMin is the smallest encoding worth compressing: below it the
// block saves too few bytes to pay for its calls.
const compressMin = 512

// compress returns b, a FormatBinary encoding, as FormatS2 when it is at
// least compressMin bytes and the block is smaller; otherwise b itself. An
// encoding over MaxCommandSize stays as it is, for ApplyEncoded to refuse
// by its size (its block might fit, but no replica would decode it).
func compress(b []byte) []byte {
	if len(b) < compressMin || len(b) > MaxCommandSize+1 || Format(b[0]) != FormatBinary {
		return b
	}
	scratch := getScratch(s2.MaxEncodedLen(len(b) - 1))
	defer putScratch(scratch)
	block := s2.Encode(*scratch, b[1:])
	if len(block)+1 >= len(b) {
		return b
	}
	// The exact size: Raft keeps the entry (its log cache, the
	// replication in flight), and the scratch is the input's size.
	out := make([]byte, 1+len(block))
	out[0] = byte(FormatS2)
	copy(out[1:], block)
	return out
}

// decodeS2 decodes a FormatS2 command (block is what follows the format
// byte). The block's stated length is checked before anything is
// allocated for it: a block may not unpack to more than MaxCommandSize.
func decodeS2(block []byte, c *Command) error {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	if n > MaxCommandSize {
		return fmt.Errorf("command of %d bytes uncompressed exceeds %d", n, MaxCommandSize)
	}
	scratch := getScratch(n)
	plain, err := s2.Decode(*scratch, block)
	if err != nil {
		putScratch(scratch)
		return fmt.Errorf("decompress: %w", err)
	}
	// Both decoders copy what they keep (strings, and the codec's []byte
	// values), so the buffer goes back to the pool:
	// TestS2DecodedValuesOutliveTheBuffer holds them to it.
	err = decodeBinary(plain, c)
	putScratch(scratch)
	return err
}

// scratchMax is the largest buffer kept for reuse: an occasional entry
// near MaxCommandSize should not pin a megabyte in the pool.
const scratchMax = 256 << 10

var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// getScratch returns a buffer of length n, from the pool when one is
// large enough.
func getScratch(n int) *[]byte {
	p := scratchPool.Get().(*[]byte)
	if cap(*p) < n {
		*p = make([]byte, n)
	}
	*p = (*p)[:n]
	return p
}

func putScratch(p *[]byte) {
	if cap(*p) <= scratchMax {
		scratchPool.Put(p)
	}
}
