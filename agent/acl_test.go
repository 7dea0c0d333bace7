package agent

import (
	"log/slog"
	"strings"
	"testing"
)

func TestACLModeDefaultsToTokensOnAReachableAgent(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		mode               ACLMode
		loopback, insecure bool
		want               bool
		refused            string
	}{
		{ACLAuto, true, false, false, ""},
		{ACLAuto, false, false, true, ""},
		{ACLAuto, false, true, true, ""},
		{ACLOn, true, false, true, ""},
		{ACLOff, true, false, false, ""},
		{ACLOff, false, false, false, "--insecure"},
		{ACLOff, false, true, false, ""},
		{"maybe", true, false, false, "want on, off or auto"},
	} {
		got, err := c.mode.resolve(c.loopback, c.insecure, true, log)
		switch {
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("%+v: %v, want a refusal naming %q", c, err, c.refused)
		case c.refused == "" && (err != nil || got != c.want):
			t.Errorf("%+v: %v %v, want %v", c, got, err, c.want)
		}
	}
}
