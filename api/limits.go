package api

// Limits on stored strings. They keep one bad client from bloating every
// replica and every snapshot.
const (
	MaxIDLen    = 128
	MaxURLLen   = 2048
	MaxTagLen   = 256
	MaxTags     = 64
	MaxTextLen  = 4096
	MaxListSize = 256
	// Meta limits, as Consul's service meta.
	MaxMeta         = 64
	MaxMetaKeyLen   = 128
	MaxMetaValueLen = 512
)
