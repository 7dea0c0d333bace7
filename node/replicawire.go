package node

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// The replica stream is a sequence of frames: a type byte, a uvarint
// length and that many bytes.
const (
	// frameSnapshot starts a whole catalog: its index (uvarint); chunks
	// of the snapshot stream follow, then frameSnapshotEnd.
	frameSnapshot    = 'S'
	frameChunk       = 'C'
	frameSnapshotEnd = 'Z'
	// frameEntries is consecutive committed log entries, each: index,
	// term (uvarints), type (a byte), data length (uvarint), data.
	frameEntries = 'E'
	// frameHeartbeat is a replicaHeartbeat in JSON, sent when the client
	// has everything and every second after.
	frameHeartbeat = 'H'
)

// maxFrame bounds one frame a client accepts: an entry holds at most
// fsm.MaxCommandSize, and a server cuts frames at maxEntriesBytes.
const (
	maxFrame        = 16 << 20
	maxEntriesBytes = 4 << 20
	maxEntriesCount = 512
)

// replicaHeartbeat tells a client who leads and what the servers are.
type replicaHeartbeat struct {
	Leader  string          `json:"leader"`
	Term    uint64          `json:"term"`
	Applied uint64          `json:"applied"`
	Servers []replicaServer `json:"servers"`
}

type replicaServer struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter,omitempty"`
}

type frameWriter struct {
	w   *bufio.Writer
	buf []byte
}

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (fw *frameWriter) frame(t byte, payload []byte) error {
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = t
	k := binary.PutUvarint(hdr[1:], uint64(len(payload)))
	if _, err := fw.w.Write(hdr[:1+k]); err != nil {
		return err
	}
	_, err := fw.w.Write(payload)
	return err
}

func (fw *frameWriter) flush() error { return fw.w.Flush() }

func (fw *frameWriter) entries(logs []*raft.Log) error {
	b := fw.buf[:0]
	for _, l := range logs {
		b = binary.AppendUvarint(b, l.Index)
		b = binary.AppendUvarint(b, l.Term)
		b = append(b, byte(l.Type))
		data := l.Data
		if l.Type != raft.LogCommand {
			data = nil // only commands reach the catalog
		}
		b = binary.AppendUvarint(b, uint64(len(data)))
		b = append(b, data...)
	}
	fw.buf = b
	return fw.frame(frameEntries, b)
}

func (fw *frameWriter) heartbeat(hb replicaHeartbeat) error {
	b, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	return fw.frame(frameHeartbeat, b)
}

// chunkWriter cuts a snapshot stream into frameChunk frames.
type chunkWriter struct{ fw *frameWriter }

func (c chunkWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += 1 << 20 {
		if err := c.fw.frame(frameChunk, p[off:min(len(p), off+1<<20)]); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next reads one frame; its payload is valid until the next call.
func (fr *frameReader) next() (byte, []byte, error) {
	t, err := fr.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(fr.r)
	if err != nil {
		return 0, nil, unexpected(err)
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("replica frame of %d bytes exceeds %d", n, maxFrame)
	}
	if uint64(cap(fr.buf)) < n {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		return 0, nil, unexpected(err)
	}
	return t, fr.buf, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeEntries parses a frameEntries payload. The data slices are copied:
// the catalog keeps nothing of them, but the payload buffer is reused.
func decodeEntries(p []byte) ([]*raft.Log, error) {
	var out []*raft.Log
	for len(p) > 0 {
		var l raft.Log
		var k int
		if l.Index, k = binary.Uvarint(p); k <= 0 {
			return nil, errors.New("replica entry: bad index")
		}
		p = p[k:]
		if l.Term, k = binary.Uvarint(p); k <= 0 || len(p) < k+1 {
			return nil, errors.New("replica entry: bad term")
		}
		l.Type = raft.LogType(p[k])
		p = p[k+1:]
		size, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < size {
			return nil, errors.New("replica entry: bad data length")
		}
		l.Data = append([]byte(nil), p[k:k+int(size)]...)
		p = p[k+int(size):]
		if len(out) > 0 && l.Index != out[len(out)-1].Index+1 {
			return nil, fmt.Errorf("replica entries out of order: %d after %d", l.Index, out[len(out)-1].Index)
		}
		out = append(out, &l)
	}
	return out, nil
}
