package api

import "time"

// RegistratorStatus is what a node's Docker registrator has done (GET
// /registry-svc/registrator): per container, the services it registered or
// why it did not.
type RegistratorStatus struct {
	Enabled   bool   `json:"enabled"`
	Namespace string `json:"namespace,omitempty"`
	// Connected is whether the engine's event stream is being followed;
	// LastSync when every container was last reconciled.
	Connected  bool                `json:"connected"`
	LastSync   time.Time           `json:"lastSync,omitzero"`
	LastError  string              `json:"lastError,omitempty"`
	Containers []ContainerServices `json:"containers"`
}

// ContainerServices is one container's registration.
type ContainerServices struct {
	ID       string              `json:"id"`
	Name     string              `json:"name"`
	Paused   bool                `json:"paused,omitempty"`
	Services []RegisteredService `json:"services"`
	// Errors are the services (or labels) that were not registered, and
	// why.
	Errors map[string]string `json:"errors,omitempty"`
}

// RegisteredService is a service registered from a container's labels.
type RegisteredService struct {
	Slug       string `json:"slug"`
	InstanceID string `json:"instanceId"`
	URL        string `json:"url"`
}
