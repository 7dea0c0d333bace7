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
	w.Write([]byte("2026-11-22T10:00:00.000Z [WARN]  raft: heartbeat timeout reached\n[ERR] memberlist: boom\n"))
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Fatalf("debug line logged at info level: %s", out)
	}
	if !strings.Contains(out, `level=WARN msg="raft: heartbeat timeout reached"`) || !strings.Contains(out, `level=ERROR msg="memberlist: boom"`) {
		t.Fatalf("unexpected output: %s", out)
	}
}
