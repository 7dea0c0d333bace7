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

// Write logs each line of p at the level its tag names (info if none).
func (w Writer) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.line(string(line))
	}
	return len(p), nil
}

func (w Writer) line(s string) {
	level := slog.LevelInfo
	for _, l := range levels {
		if i := strings.Index(s, l.tag); i >= 0 {
			level, s = l.level, s[i+len(l.tag):]
			break
		}
	}
	if !w.Logger.Enabled(context.Background(), level) {
		return
	}
	w.Logger.Log(context.Background(), level, strings.TrimSpace(s))
}
