package httpapi

import (
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// A body of the wrong types is refused with the field and what it must be
// in words a user acts on: a number too large is named by its digits, a
// check's type is text (not a duration).
func TestWrongTypesAreNamedPlainly(t *testing.T) {
	for _, c := range []struct{ body, field, says string }{
		{`{"url":"http://a:1","port":99999999999999999999}`, "port", "must be a whole number within 64 bits, not 99999999999999999999"},
		{`{"url":"http://a:1","port":1.5}`, "port", "must be a whole number within 64 bits, not 1.5"},
		{`{"url":"http://a:1","port":"80"}`, "port", "must be a whole number within 64 bits, not string"},
		{`{"url":"http://a:1","check":{"type":{}}}`, "check.type", "must be text, not object"},
		{`{"url":"http://a:1","check":{"type":"http","interval":5}}`, "check.interval", `must be text like "10s", not number`},
		{`{"url":"http://a:1","check":{"type":"http","failuresBeforeUnhealthy":"2"}}`, "check.failuresBeforeUnhealthy", "must be a whole number, not string"},
	} {
		var req api.RegisterRequest
		err := decodeJSON([]byte(c.body), &req)
		var fe *api.Error
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, c.says) {
			t.Errorf("%s: got %v, want %s: ...%s", c.body, err, c.field, c.says)
		}
	}
}

// A duration outside a check (a token's ttl) is named by its field too:
// its decoder's error used to reach the client as "body".
func TestADurationFieldIsNamed(t *testing.T) {
	for _, c := range []struct{ body, says string }{
		{`{"permissions":["*"],"ttl":"-5s"}`, `not "-5s"`},
		{`{"permissions":["*"],"ttl":"0s"}`, `not "0s"`},
		{`{"permissions":["*"],"ttl":"soon"}`, `not "soon"`},
		{`{"permissions":["*"],"ttl":5}`, "not 5"},
	} {
		var req api.CreateTokenRequest
		err := decodeJSON([]byte(c.body), &req)
		var fe *api.Error
		if !errors.As(err, &fe) || fe.Field != "ttl" || !strings.Contains(fe.Message, "must be a duration more than zero") ||
			!strings.Contains(fe.Message, c.says) {
			t.Errorf("%s: got %v, want ttl: must be a duration more than zero ... %s", c.body, err, c.says)
		}
	}
	var req api.CreateTokenRequest
	if err := decodeJSON([]byte(`{"permissions":["*"],"ttl":"1h30m"}`), &req); err != nil || req.TTL.D().String() != "1h30m0s" {
		t.Errorf("a valid ttl: %v, %v", err, req.TTL.D())
	}
}

// A blocking read's index that is not one is named, the message true of
// every wrong form (a number past 64 bits was called "not a non-negative
// integer").
func TestABadIndexIsNamed(t *testing.T) {
	for _, raw := range []string{"abc", "-1", "1.5", "99999999999999999999999"} {
		_, _, err := blockingParams(url.Values{"index": {raw}})
		var fe *api.Error
		if !errors.As(err, &fe) || fe.Field != "index" || !strings.Contains(fe.Message, "is not an index: a whole number from 0 to 18446744073709551615") {
			t.Errorf("index=%s: %v", raw, err)
		}
	}
	if i, w, err := blockingParams(url.Values{"index": {"18446744073709551615"}, "wait": {"2s"}}); err != nil || i != math.MaxUint64 || w < 2*time.Second || w > 3*time.Second { // a wait takes a little jitter
		t.Errorf("the largest index: %d %v %v", i, w, err)
	}
}
