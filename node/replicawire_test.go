package node

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func TestReplicaFramesRoundTripAndRefuseDamage(t *testing.T) {
	var buf bytes.Buffer
	fw := newFrameWriter(&buf)
	logs := []*raft.Log{
		{Index: 7, Term: 2, Type: raft.LogCommand, Data: []byte(`{"type":1}`)},
		{Index: 8, Term: 2, Type: raft.LogConfiguration, Data: []byte("configuration bytes stay on the server")},
		{Index: 9, Term: 3, Type: raft.LogCommand, Data: []byte(`{"type":2}`)},
	}
	if err := fw.entries(logs); err != nil {
		t.Fatal(err)
	}
	if err := fw.heartbeat(replicaHeartbeat{Leader: "node1", Term: 3, Applied: 9}); err != nil {
		t.Fatal(err)
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	raw := bytes.Clone(buf.Bytes())
	fr := newFrameReader(&buf)
	typ, p, err := fr.next()
	if err != nil || typ != frameEntries {
		t.Fatalf("first frame %q, %v", typ, err)
	}
	p = bytes.Clone(p) // the reader reuses its buffer
	got, err := decodeEntries(p)
	if err != nil || len(got) != 3 {
		t.Fatalf("decoded %d entries, %v", len(got), err)
	}
	if got[0].Index != 7 || string(got[0].Data) != `{"type":1}` || got[1].Type != raft.LogConfiguration ||
		len(got[1].Data) != 0 || got[2].Term != 3 {
		t.Fatalf("decoded %+v %+v %+v", got[0], got[1], got[2])
	}
	if typ, _, err := fr.next(); err != nil || typ != frameHeartbeat {
		t.Fatalf("second frame %q, %v", typ, err)
	}

	// A stream cut anywhere inside a frame is an error, never a short
	// frame taken as whole.
	for cut := 1; cut < len(raw); cut++ {
		fr := newFrameReader(bytes.NewReader(raw[:cut]))
		for {
			typ, p, err := fr.next()
			if err != nil {
				break
			}
			if typ == frameEntries {
				if _, err := decodeEntries(p); err != nil {
					t.Fatalf("cut at %d: a whole frame did not decode: %v", cut, err)
				}
			}
		}
	}
	// Damaged payloads are refused with the reason.
	for name, p := range map[string][]byte{
		"truncated data": p[:len(p)-1],
		"no term":        {0x07},
		"out of order":   append(entryBytes(7), entryBytes(9)...),
	} {
		if _, err := decodeEntries(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var huge bytes.Buffer
	huge.Write([]byte{frameEntries, 0xff, 0xff, 0xff, 0xff, 0x0f})
	if _, _, err := newFrameReader(&huge).next(); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("a 4 GiB frame: %v", err)
	}
}

func entryBytes(index uint64) []byte {
	var buf bytes.Buffer
	fw := newFrameWriter(&buf)
	_ = fw.entries([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: []byte("x")}})
	_ = fw.flush()
	_, p, _ := newFrameReader(&buf).next()
	return bytes.Clone(p)
}
