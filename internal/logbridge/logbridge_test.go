package logbridge

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevelsAreParsed(t *testing.T) {
	var buf bytes.Buffer
	w := Writer{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	w.Write([]byte("2026/11/22 10:00:00 [DEBUG] memberlist: hidden\n"))
	w.Write([]byte("2026-11-22T10:00:00.000Z [WARN]  raft: heartbeat timeout reached\n"))
	w.Write([]byte("[ERR] memberlist: boom\n"))
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Fatalf("debug line logged at info level: %s", out)
	}
	if !strings.Contains(out, `level=WARN msg="raft: heartbeat timeout reached"`) || !strings.Contains(out, `level=ERROR msg="memberlist: boom"`) {
		t.Fatalf("unexpected output: %s", out)
	}
}

// A peer chooses its node name; a newline and a level tag in it must not
// forge a record of their own (issue: a forged ERROR in every node's log).
func TestPeerTextCannotForgeARecord(t *testing.T) {
	var buf bytes.Buffer
	w := Writer{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	w.Write([]byte("2026-11-22T10:00:00.000Z [INFO]  raft: added peer: id=evil\n[ERR] raft: FORGED everything is broken\n"))
	out := strings.TrimRight(buf.String(), "\n")
	if strings.Count(out, "\n") != 0 || strings.Contains(out, "level=ERROR") || !strings.Contains(out, `level=INFO`) ||
		!strings.Contains(out, `\n[ERR] raft: FORGED`) {
		t.Fatalf("a peer's newline split or raised the record:\n%s", out)
	}
}
