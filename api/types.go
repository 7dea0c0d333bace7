package api

import (
	"maps"
	"time"
)

// Status is the health status of an instance. The values are the seed's.
type Status string

// Instance statuses.
const (
	StatusUnknown   Status = "Unknown"   // health not yet determined
	StatusStarting  Status = "Starting"  // starting up
	StatusHealthy   Status = "Healthy"   // responding and operational
	StatusUnhealthy Status = "Unhealthy" // not responding or failing checks
	StatusStopping  Status = "Stopping"  // shutting down
)

// Statuses lists every valid status, in the order a person reads them.
var Statuses = []Status{StatusUnknown, StatusStarting, StatusHealthy, StatusUnhealthy, StatusStopping}

// Valid reports whether s is one of the seed's statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Instance is a running service instance. JSON names follow the Registry Svc
// wire format; createIndex/modifyIndex are the Raft indexes that created and
// last changed the row.
type Instance struct {
	ID            string    `json:"id"`
	URL           string    `json:"url"`
	DeploymentID  string    `json:"deploymentId,omitempty"`
	NodeURL       string    `json:"nodeUrl,omitempty"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	Path          string    `json:"path,omitempty"`
	Scheme        string    `json:"scheme,omitempty"`
	Host          string    `json:"host,omitempty"`
	IP            string    `json:"ip,omitempty"`
	Port          int       `json:"port,omitempty"`
	Status        Status    `json:"status"`
	Details       string    `json:"details,omitempty"`
	Slug          string    `json:"slug,omitempty"`
	Tags          []string  `json:"tags,omitempty"`
	// Meta is free string data about the instance (a registrator's labels,
	// a version): at most MaxMeta pairs, see ValidateMeta.
	Meta map[string]string `json:"meta,omitempty"`
	// Check is how the cluster checks this instance (always complete once
	// stored; nil only in rows written before checks existed).
	Check *Check `json:"check,omitempty"`
	// StatusChangedAt is when Status last changed; StatusReason says why
	// (the failing probe, the expired ttl, who set it).
	StatusChangedAt time.Time `json:"statusChangedAt,omitzero"`
	StatusReason    string    `json:"statusReason,omitempty"`
	CreateIndex     uint64    `json:"createIndex"`
	ModifyIndex     uint64    `json:"modifyIndex"`
}

// Clone returns a copy that shares nothing mutable with i: rows stored in
// the catalog must never be modified in place.
func (i *Instance) Clone() *Instance {
	c := *i
	c.Unshare()
	return &c
}

// Unshare gives i its own copies of its tags, meta and check: for an
// instance that is already a copy of its struct but still shares those
// (what the catalog builds for a read).
func (i *Instance) Unshare() {
	i.Tags = append([]string(nil), i.Tags...)
	if len(i.Tags) == 0 {
		i.Tags = nil
	}
	i.Meta = maps.Clone(i.Meta)
	if i.Check != nil {
		ck := *i.Check
		i.Check = &ck
	}
}

// Definition is a template for a deployable service: a container image or a
// source repository, plus what it exposes.
type Definition struct {
	ID          string          `json:"id"`
	Image       *ImageSpec      `json:"image,omitempty"`
	Repository  *RepositorySpec `json:"repository,omitempty"`
	APISpecs    []APISpec       `json:"apiSpecs,omitempty"`
	Clients     []Client        `json:"clients,omitempty"`
	Envars      []EnvVar        `json:"envars,omitempty"`
	Ports       []PortMapping   `json:"ports,omitempty"`
	CreateIndex uint64          `json:"createIndex"`
	ModifyIndex uint64          `json:"modifyIndex"`
}

// ImageSpec names a container image and the ports it listens on.
type ImageSpec struct {
	Name          string   `json:"name"`
	InternalPorts []uint16 `json:"internalPorts"`
}

// RepositorySpec names a source repository to build.
type RepositorySpec struct {
	URL           string   `json:"url"`
	Version       string   `json:"version,omitempty"`
	BuildContext  string   `json:"buildContext,omitempty"`
	ContainerFile string   `json:"containerFile,omitempty"`
	InternalPorts []uint16 `json:"internalPorts"`
}

// PortMapping maps a container port to a host port.
type PortMapping struct {
	Internal uint16 `json:"internal"`
	Host     uint16 `json:"host"`
}

// EnvVar is one environment variable of a definition.
type EnvVar struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// APISpec points at an API description the service publishes.
type APISpec struct {
	URL          string            `json:"url,omitempty"`
	ProtocolType string            `json:"protocolType,omitempty"`
	Version      string            `json:"version,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// Client points at a client library for the service.
type Client struct {
	Language string `json:"language"`
	URL      string `json:"url"`
}

// Service is one slug as the catalog holds it: its instances counted by
// status, the tags and nodes they carry. It is what `consul catalog
// services` gives, computed from the instances on every read.
type Service struct {
	Slug      string         `json:"slug"`
	Instances int            `json:"instances"`
	ByStatus  map[Status]int `json:"byStatus"`
	Tags      []string       `json:"tags"`
	Nodes     []string       `json:"nodes"`
}
