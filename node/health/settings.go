package health

import (
	"fmt"
	"time"
)

// Settings are the health checks' settings of one agent.
type Settings struct {
	// CheckInterval is the interval of the check given to an instance that
	// registers without one (default 10s, 1s-1h).
	CheckInterval time.Duration
	// SelfPreservation is the share of Unhealthy instances at which
	// automatic deregistration pauses (default 0.5; 1 pauses only when all
	// are Unhealthy).
	SelfPreservation float64
	// HeartbeatRefresh is how often a checker writes the lastHeartbeat of
	// healthy instances to Raft (default 1m, 1s-1h); passing checks in
	// between stay in memory.
	HeartbeatRefresh time.Duration
	// Targets are the addresses checks may connect to (see targets.go).
	Targets Targets
}

// DefaultSettings are the defaults `roster agent` shows.
func DefaultSettings() Settings {
	return Settings{CheckInterval: 10 * time.Second, SelfPreservation: 0.5, HeartbeatRefresh: time.Minute}
}

// WithDefaults fills zero settings with the defaults and checks the rest.
func (s Settings) WithDefaults() (Settings, error) {
	d := DefaultSettings()
	if s.CheckInterval == 0 {
		s.CheckInterval = d.CheckInterval
	}
	if s.SelfPreservation == 0 {
		s.SelfPreservation = d.SelfPreservation
	}
	if s.HeartbeatRefresh == 0 {
		s.HeartbeatRefresh = d.HeartbeatRefresh
	}
	if s.CheckInterval < time.Second || s.CheckInterval > time.Hour {
		return s, fmt.Errorf("check interval %v: want 1s-1h", s.CheckInterval)
	}
	if s.SelfPreservation <= 0 || s.SelfPreservation > 1 {
		return s, fmt.Errorf("self-preservation %v: want a share in (0, 1]", s.SelfPreservation)
	}
	if s.HeartbeatRefresh < time.Second || s.HeartbeatRefresh > time.Hour {
		return s, fmt.Errorf("heartbeat refresh %v: want 1s-1h", s.HeartbeatRefresh)
	}
	return s, nil
}
