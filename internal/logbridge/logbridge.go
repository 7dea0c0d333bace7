// Package logbridge turns the line-oriented logs of hashicorp libraries
// (memberlist's log.Logger, raft's hclog) into structured slog records, so an
// agent has one log stream with one level setting.
package logbridge

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// Writer is an io.Writer that parses "[LEVEL] component: message" lines.
type Writer struct {
	Logger *slog.Logger
}

var levels = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
}

// tagWithin is how far into a record its level tag may stand: after a
// timestamp at most. Further on, the text is the message, which may quote
// what a peer sent (a node name, an address).
const tagWithin = 48

// Write logs p as one record, at the level its leading tag names (info if
// none). log.Logger and hclog write one record per call; a newline inside it
// comes from the message (a peer's node name, say) and must neither start a
// record of its own nor choose its level: slog quotes it.
func (w Writer) Write(p []byte) (int, error) {
	w.record(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (w Writer) record(s string) {
	level := slog.LevelInfo
	head := s[:min(len(s), tagWithin)]
	if nl := strings.IndexByte(head, '\n'); nl >= 0 {
		head = head[:nl]
	}
	for _, l := range levels {
		if i := strings.Index(head, l.tag); i >= 0 {
			level, s = l.level, s[i+len(l.tag):]
			break
		}
	}
	if !w.Logger.Enabled(context.Background(), level) {
		return
	}
	w.Logger.Log(context.Background(), level, strings.TrimSpace(s))
}
