package api

// RegisterRequest is the body of PUT /registry-svc/instance.
type RegisterRequest struct {
	ID           string   `json:"id,omitempty"`
	URL          string   `json:"url,omitempty"`
	Scheme       string   `json:"scheme,omitempty"`
	Host         string   `json:"host,omitempty"`
	IP           string   `json:"ip,omitempty"`
	Port         int      `json:"port,omitempty"`
	Path         string   `json:"path,omitempty"`
	Slug         string   `json:"slug,omitempty"`
	DeploymentID string   `json:"deploymentId,omitempty"`
	NodeURL      string   `json:"nodeUrl,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	// Meta replaces the stored meta when set; absent keeps it.
	Meta    map[string]string `json:"meta,omitempty"`
	Status  Status            `json:"status,omitempty"`
	Details string            `json:"details,omitempty"`
	// Check is how the cluster checks the instance; nil on a new instance
	// takes the default (tcp when the URL names a port, else http), nil on
	// a re-registration keeps the stored one.
	Check *Check `json:"check,omitempty"`
}

// StatusRequest is the body of PUT /registry-svc/instance/{id}/status.
type StatusRequest struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// StatusBatch is the body of PUT /registry-svc/instances/status.
type StatusBatch struct {
	Updates []StatusUpdate `json:"updates"`
}
