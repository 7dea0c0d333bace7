// Package resource holds the shapes of a node's resources as the seed's API
// names them: usage of CPU, memory and disk, and NVIDIA GPUs. It is pure data
// with no dependencies, so the HTTP client can share it without pulling in
// the collectors (gopsutil, NVML) or gossip.
package resource

import "time"

// Amount is one resource's use. For memory and disk, Used and Total are
// bytes; for CPU, Total is the number of logical CPUs and Used how many of
// them were busy on average over the last interval, rounded.
type Amount struct {
	Used    uint64  `json:"used"`
	Total   uint64  `json:"total"`
	Percent float64 `json:"percent"`
}

// Usage is a node's CPU, memory and disk (of its data directory) use.
type Usage struct {
	CPU    Amount `json:"cpu"`
	Memory Amount `json:"memory"`
	Disk   Amount `json:"disk"`
}

// GPU is one NVIDIA GPU with the seed's field names; memory figures are MiB,
// power watts, temperature degrees Celsius, utilisation percent.
type GPU struct {
	// ID is the node URL and the GPU's index, as the seed builds it
	// ("http://host:11337:0").
	ID               string    `json:"id"`
	UUID             string    `json:"uuid,omitempty"`
	IntraNodeID      int       `json:"intraNodeId"`
	Name             string    `json:"name"`
	BusID            string    `json:"busId"`
	Temperature      float64   `json:"temperature"`
	PerformanceState string    `json:"performanceState"`
	PowerUsage       float64   `json:"powerUsage"`
	PowerCap         float64   `json:"powerCap"`
	MemoryUsage      int       `json:"memoryUsage"`
	MemoryTotal      int       `json:"memoryTotal"`
	GPUUtilization   float64   `json:"gpuUtilization"`
	ComputeMode      string    `json:"computeMode"`
	ProcessDetails   []Process `json:"processDetails,omitempty"`
	CudaVersion      string    `json:"cudaVersion,omitempty"`
}

// FreeMemoryMiB is the GPU memory not in use.
func (g GPU) FreeMemoryMiB() int { return max(g.MemoryTotal-g.MemoryUsage, 0) }

// Process is a process using a GPU.
type Process struct {
	PID         int    `json:"pid"`
	ProcessName string `json:"processName"`
	MemoryUsage int    `json:"memoryUsage"` // MiB
}

// Sample is one reading of a node's own resources.
type Sample struct {
	At    time.Time
	Usage Usage
	// GPUs in index order; ID is left empty (the node URL is gossip's).
	GPUs          []GPU
	DriverVersion string
}

// Node statuses: gossip's liveness of a node.
const (
	StatusAlive = "alive"
	// StatusSuspect: gossip still counts the node alive, but no resource
	// sample has arrived from it for three of its intervals.
	StatusSuspect = "suspect"
	StatusDead    = "dead"
	StatusLeft    = "left"
)

// Node roles in the Raft configuration.
const (
	RoleLeader   = "leader"
	RoleVoter    = "voter"
	RoleNonvoter = "nonvoter"
	// RoleClient: a client agent, not in the Raft configuration: its
	// catalog is a replica streamed from a server.
	RoleClient = "client"
)

// Node is one node of the cluster as the API shows it.
type Node struct {
	ID               string `json:"id"`
	URL              string `json:"url"`
	Region           string `json:"region,omitempty"`
	AvailabilityZone string `json:"availabilityZone,omitempty"`
	// LastHeartbeat is when the node took its newest sample that reached
	// the answering node (the sampling node's clock); nil before the first.
	LastHeartbeat *time.Time `json:"lastHeartbeat,omitempty"`
	Usage         Usage      `json:"usage"`
	GPUs          []GPU      `json:"gpus"`
	Status        string     `json:"status"`
	Role          string     `json:"role"`
	Version       string     `json:"version,omitempty"`
}
