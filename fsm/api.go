package fsm

import "github.com/rosterhq/roster/api"

// The catalog's row, check, filter and error types are the wire types of
// package api, which imports nothing of Roster's (so the Go client does not
// link the engine). These are fsm's own names for them; code outside fsm
// uses api directly.
type (
	Status         = api.Status
	Instance       = api.Instance
	Definition     = api.Definition
	ImageSpec      = api.ImageSpec
	RepositorySpec = api.RepositorySpec
	PortMapping    = api.PortMapping
	EnvVar         = api.EnvVar
	APISpec        = api.APISpec
	Client         = api.Client
	Service        = api.Service
	Check          = api.Check
	CheckType      = api.CheckType
	Duration       = api.Duration
	Code           = api.Code
	Error          = api.Error
	StatusUpdate   = api.StatusUpdate
	StatusResult   = api.StatusResult
	InstanceFilter = api.InstanceFilter
)

const (
	StatusUnknown   = api.StatusUnknown
	StatusStarting  = api.StatusStarting
	StatusHealthy   = api.StatusHealthy
	StatusUnhealthy = api.StatusUnhealthy
	StatusStopping  = api.StatusStopping

	CheckHTTP = api.CheckHTTP
	CheckTCP  = api.CheckTCP
	CheckTTL  = api.CheckTTL
	CheckNone = api.CheckNone

	MinCheckInterval     = api.MinCheckInterval
	MaxCheckInterval     = api.MaxCheckInterval
	DefaultCheckInterval = api.DefaultCheckInterval
	MinCheckTimeout      = api.MinCheckTimeout
	DefaultCheckTimeout  = api.DefaultCheckTimeout
	MinTTL               = api.MinTTL
	MaxTTL               = api.MaxTTL
	DefaultFailures      = api.DefaultFailures
	DefaultSuccesses     = api.DefaultSuccesses
	MaxThreshold         = api.MaxThreshold
	MaxDeregisterAfter   = api.MaxDeregisterAfter

	CodeInvalid  = api.CodeInvalid
	CodeNotFound = api.CodeNotFound
	CodeConflict = api.CodeConflict

	MaxIDLen    = api.MaxIDLen
	MaxURLLen   = api.MaxURLLen
	MaxTagLen   = api.MaxTagLen
	MaxTags     = api.MaxTags
	MaxTextLen  = api.MaxTextLen
	MaxListSize = api.MaxListSize
)

var (
	Statuses   = api.Statuses
	CheckTypes = api.CheckTypes
)

// Constructors and checks of the api types, as fsm's code calls them.
var (
	Invalid       = api.Invalid
	NotFound      = api.NotFound
	Conflict      = api.Conflict
	CodeOf        = api.CodeOf
	DefaultCheck  = api.DefaultCheck
	ValidateID    = api.ValidateID
	ValidateCheck = api.ValidateCheck
	ValidateMeta  = api.ValidateMeta
)
