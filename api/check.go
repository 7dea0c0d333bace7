package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// CheckType says how the cluster learns whether an instance is healthy.
type CheckType string

// Check types.
const (
	// CheckHTTP GETs the instance URL plus the check path; 2xx and 3xx pass.
	CheckHTTP CheckType = "http"
	// CheckTCP dials the instance's host and port.
	CheckTCP CheckType = "tcp"
	// CheckTTL expects the instance to call the heartbeat endpoint at least
	// once per ttl.
	CheckTTL CheckType = "ttl"
	// CheckNone leaves the status to whoever runs the instance (PUT
	// /registry-svc/instance/{id}/status).
	CheckNone CheckType = "none"
)

// CheckTypes lists the valid check types.
var CheckTypes = []CheckType{CheckHTTP, CheckTCP, CheckTTL, CheckNone}

// Bounds and defaults of a check. The interval floor is Consul's: checking
// more often than once a second costs more than it tells.
const (
	MinCheckInterval     = time.Second
	MaxCheckInterval     = time.Hour
	DefaultCheckInterval = 10 * time.Second
	MinCheckTimeout      = 100 * time.Millisecond
	DefaultCheckTimeout  = 5 * time.Second
	MinTTL               = time.Second
	MaxTTL               = 24 * time.Hour
	DefaultFailures      = 3
	DefaultSuccesses     = 1
	MaxThreshold         = 100
	MaxDeregisterAfter   = 365 * 24 * time.Hour
)

// Duration is a time.Duration written in JSON as Go's duration text
// ("10s", "1m30s"), as Consul and Nomad write them.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads duration text; a bare number is refused because its
// unit would be a guess. The error is a *json.UnmarshalTypeError of type
// Duration carrying the JSON given: encoding/json adds the path of the
// field to that type of error only, so that a decoder can name the field
// (a token's "ttl"), where a plain error would reach it without one.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if v, err := parseDuration(s); err == nil {
			*d = v
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: string(b), Type: DurationType}
}

// DurationType is Duration's type, for decoders that name its errors.
var DurationType = reflect.TypeFor[Duration]()

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like \"10s\" or \"1m30s\"", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%q must be more than zero (leave the field out for the default)", s)
	}
	return Duration(v), nil
}

// Check is how an instance's health is checked. Zero fields of a check
// given at registration take the defaults (Complete); a stored check is
// always complete, so every node checks the same way.
type Check struct {
	Type CheckType `json:"type"`
	// Path is appended to the instance URL for http checks.
	Path     string   `json:"path,omitempty"`
	Interval Duration `json:"interval,omitzero"`
	Timeout  Duration `json:"timeout,omitzero"`
	// TTL is how long a ttl instance may go without a heartbeat.
	TTL Duration `json:"ttl,omitzero"`
	// FailuresBeforeUnhealthy and SuccessesBeforeHealthy are consecutive
	// probe results needed to change the status (http and tcp).
	FailuresBeforeUnhealthy int `json:"failuresBeforeUnhealthy,omitzero"`
	SuccessesBeforeHealthy  int `json:"successesBeforeHealthy,omitzero"`
	// DeregisterAfter removes an instance that has been Unhealthy this long
	// (0: never).
	DeregisterAfter Duration `json:"deregisterAfter,omitzero"`
}

// UnmarshalJSON reads a check strictly: unknown fields, a duration that is
// not text, and an explicit zero or negative value are errors that name the
// field (a zero would otherwise silently become the default).
func (c *Check) UnmarshalJSON(b []byte) error {
	var w struct {
		Type                    CheckType `json:"type"`
		Path                    string    `json:"path"`
		Interval                *string   `json:"interval"`
		Timeout                 *string   `json:"timeout"`
		TTL                     *string   `json:"ttl"`
		DeregisterAfter         *string   `json:"deregisterAfter"`
		FailuresBeforeUnhealthy *int      `json:"failuresBeforeUnhealthy"`
		SuccessesBeforeHealthy  *int      `json:"successesBeforeHealthy"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return checkJSONError(err)
	}
	out := Check{Type: w.Type, Path: w.Path}
	for _, d := range []struct {
		name string
		v    *string
		dst  *Duration
	}{
		{"interval", w.Interval, &out.Interval}, {"timeout", w.Timeout, &out.Timeout},
		{"ttl", w.TTL, &out.TTL}, {"deregisterAfter", w.DeregisterAfter, &out.DeregisterAfter},
	} {
		if d.v == nil {
			continue
		}
		v, err := parseDuration(*d.v)
		if err != nil {
			return Invalid("check."+d.name, "%v", err)
		}
		*d.dst = v
	}
	for _, n := range []struct {
		name string
		v    *int
		dst  *int
	}{
		{"failuresBeforeUnhealthy", w.FailuresBeforeUnhealthy, &out.FailuresBeforeUnhealthy},
		{"successesBeforeHealthy", w.SuccessesBeforeHealthy, &out.SuccessesBeforeHealthy},
	} {
		if n.v == nil {
			continue
		}
		if *n.v < 1 || *n.v > MaxThreshold {
			return Invalid("check."+n.name, "%d is out of range 1-%d", *n.v, MaxThreshold)
		}
		*n.dst = *n.v
	}
	*c = out
	return nil
}

// checkJSONError names the check field behind a decoding error.
func checkJSONError(err error) error {
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ) && typ.Field != "":
		want := "text like \"10s\"" // a duration
		switch {
		case typ.Type.Kind() == reflect.Int:
			want = "a whole number"
		case typ.Field == "type" || typ.Field == "path":
			want = "text"
		}
		return Invalid("check."+typ.Field, "must be %s, not %s", want, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" {
			return Invalid("check", "has a field with an empty name")
		}
		return Invalid("check."+name, "is not a known field")
	}
	return Invalid("check", "must be an object like {\"type\": \"http\", \"path\": \"/health\"}: %v", err)
}

// Probes reports whether the cluster probes the instance itself.
func (c *Check) Probes() bool { return c.Type == CheckHTTP || c.Type == CheckTCP }

// DefaultCheck is the check of an instance registered without one: tcp when
// its URL names a port, http when it is an http(s) URL without one, none
// otherwise (there is nothing to dial). interval 0 takes the default.
func DefaultCheck(rawURL string, interval time.Duration) *Check {
	explicitPort, scheme := false, ""
	if u, err := url.Parse(rawURL); err == nil {
		explicitPort = u.Port() != ""
		scheme = strings.ToLower(u.Scheme)
	}
	c := &Check{Type: CheckNone}
	switch {
	case explicitPort:
		c.Type = CheckTCP
	case scheme == "http" || scheme == "https":
		c.Type = CheckHTTP
	}
	if interval != 0 {
		c.Interval = Duration(interval)
	}
	c.Complete()
	return c
}

// Complete fills the defaults of the fields a check's type uses.
func (c *Check) Complete() {
	if c.Type == CheckNone {
		return
	}
	if c.Interval == 0 {
		c.Interval = Duration(DefaultCheckInterval)
	}
	if !c.Probes() {
		return
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(min(DefaultCheckTimeout, c.Interval.D()))
	}
	if c.FailuresBeforeUnhealthy == 0 {
		c.FailuresBeforeUnhealthy = DefaultFailures
	}
	if c.SuccessesBeforeHealthy == 0 {
		c.SuccessesBeforeHealthy = DefaultSuccesses
	}
}

// ValidateCheck checks a completed check. Every message names the field.
func ValidateCheck(c *Check) error {
	switch c.Type {
	case CheckHTTP, CheckTCP, CheckTTL, CheckNone:
	case "":
		return Invalid("check.type", "is required: one of %v", CheckTypes)
	default:
		return Invalid("check.type", "%q is not one of %v", c.Type, CheckTypes)
	}
	if err := onlyFor(c, "check.path", c.Path != "", CheckHTTP); err != nil {
		return err
	}
	if c.Path != "" && (!strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, " \t\n#") || len(c.Path) > MaxURLLen) {
		return Invalid("check.path", "%q must start with / and contain no spaces or '#'", c.Path)
	}
	if err := onlyFor(c, "check.ttl", c.TTL != 0, CheckTTL); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"check.timeout", c.Timeout != 0},
		{"check.failuresBeforeUnhealthy", c.FailuresBeforeUnhealthy != 0},
		{"check.successesBeforeHealthy", c.SuccessesBeforeHealthy != 0},
	} {
		if err := onlyFor(c, f.name, f.set, CheckHTTP, CheckTCP); err != nil {
			return err
		}
	}
	if err := onlyFor(c, "check.interval", c.Interval != 0, CheckHTTP, CheckTCP, CheckTTL); err != nil {
		return err
	}
	if c.Type == CheckNone {
		return validateDeregisterAfter(c, MinCheckInterval)
	}
	if err := inRange("check.interval", c.Interval.D(), MinCheckInterval, MaxCheckInterval); err != nil {
		return err
	}
	if c.Type == CheckTTL {
		if err := inRange("check.ttl", c.TTL.D(), MinTTL, MaxTTL); err != nil {
			return err
		}
		return validateDeregisterAfter(c, c.Interval.D())
	}
	if err := inRange("check.timeout", c.Timeout.D(), MinCheckTimeout, c.Interval.D()); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		v    int
	}{
		{"check.failuresBeforeUnhealthy", c.FailuresBeforeUnhealthy},
		{"check.successesBeforeHealthy", c.SuccessesBeforeHealthy},
	} {
		if t.v < 1 || t.v > MaxThreshold {
			return Invalid(t.name, "%d is out of range 1-%d", t.v, MaxThreshold)
		}
	}
	return validateDeregisterAfter(c, c.Interval.D())
}

// validateDeregisterAfter refuses a deregistration sooner than one more
// look at the instance could happen.
func validateDeregisterAfter(c *Check, floor time.Duration) error {
	if c.DeregisterAfter == 0 {
		return nil
	}
	return inRange("check.deregisterAfter", c.DeregisterAfter.D(), floor, MaxDeregisterAfter)
}

func onlyFor(c *Check, field string, set bool, types ...CheckType) error {
	if !set {
		return nil
	}
	for _, t := range types {
		if c.Type == t {
			return nil
		}
	}
	// A copy, so that only a refusal moves the types to the heap: the
	// variadic slice of every call stays on the stack.
	return Invalid(field, "does not apply to %s checks (only to %v)", c.Type, slices.Clone(types))
}

func inRange(field string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return Invalid(field, "%s is out of range %s-%s", d, lo, hi)
	}
	return nil
}
