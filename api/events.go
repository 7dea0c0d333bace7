package api

// Event is one change of the catalog in the change stream.
type Event struct {
	Index      uint64      `json:"index"`
	Kind       string      `json:"kind"` // instance or definition
	Op         string      `json:"op"`   // upsert or delete
	ID         string      `json:"id"`
	Instance   *Instance   `json:"instance,omitempty"`
	Definition *Definition `json:"definition,omitempty"`
}

// Event kinds and operations.
const (
	EventInstance   = "instance"
	EventDefinition = "definition"
	EventUpsert     = "upsert"
	EventDelete     = "delete"
)

// CodeGone: the change stream no longer holds changes that old; list again
// and follow from the list's index (410).
const CodeGone Code = "gone"
