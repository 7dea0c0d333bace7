package httpapi

import (
	"sync"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// hashicorp/raft and memberlist measure themselves (commit and fsync
// times, heartbeats, gossip probes) through go-metrics' process-wide
// instance. BridgeLibraryMetrics points that instance at a Prometheus sink
// so /metrics serves their figures as they measure them, rather than
// Roster measuring them again. It is process-wide: the `roster agent`
// command calls it once (an in-process test cluster runs several agents
// in one process, whose figures would mix, and does not).
func BridgeLibraryMetrics() (prometheus.Gatherer, error) {
	bridgeOnce.Do(func() {
		reg := prometheus.NewRegistry()
		sink, err := newTimerSink(reg)
		if err != nil {
			bridgeErr = err
			return
		}
		cfg := gometrics.DefaultConfig("roster")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false // the Go collector has them
		if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
			bridgeErr = err
			return
		}
		bridged = reg
	})
	return bridged, bridgeErr
}

var (
	bridgeOnce sync.Once
	bridged    *prometheus.Registry
	bridgeErr  error
)
