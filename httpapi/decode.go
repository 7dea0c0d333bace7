package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/httpbody"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// decodeStrict reads one JSON value into v, refusing unknown fields, wrong
// types, trailing data and bodies over maxBody, with errors that name the
// field. An empty body is an error unless allowEmpty.
func decodeStrict(c *gin.Context, v any, allowEmpty bool) error {
	return decodeStrictUpTo(c, v, allowEmpty, maxBody)
}

// decodeStrictUpTo is decodeStrict with another body limit (the routes
// between nodes).
func decodeStrictUpTo(c *gin.Context, v any, allowEmpty bool, limit int64) error {
	// MaxBytesReader also tells the server not to read on past the limit.
	raw, err := httpbody.Read(http.MaxBytesReader(c.Writer, c.Request.Body, limit), c.Request.ContentLength, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, httpbody.ErrTooLarge) {
			return errTooLarge
		}
		return api.Invalid("body", "could not be read: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if allowEmpty {
			return nil
		}
		return api.Invalid("body", "is empty; send a JSON object")
	}
	if decodeFastJSON(raw, v) {
		return nil
	}
	return decodeJSON(raw, v)
}

// readBody reads a body that is not JSON (a KV value, a backup) of at most
// limit bytes (httpbody.Read: refused before a byte is read when its
// Content-Length is past the limit). A refusal names field and the body's
// size, or says it is more than the limit when no length was given.
func readBody(c *gin.Context, field string, limit int64) ([]byte, error) {
	b, err := httpbody.Read(c.Request.Body, c.Request.ContentLength, limit)
	if errors.Is(err, httpbody.ErrTooLarge) {
		size := "more than " + strconv.FormatInt(limit, 10)
		if n := c.Request.ContentLength; n > limit {
			size = strconv.FormatInt(n, 10)
		}
		return nil, api.Invalid(field, "is %s bytes, the limit is %d", size, limit)
	}
	if err != nil {
		return nil, api.Invalid(field, "could not be read: %v", err)
	}
	return b, nil
}

// decodeJSON decodes one JSON object strictly: unknown fields and trailing
// data are errors that name the field.
func decodeJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return api.Invalid("body", "has data after the JSON object")
	}
	return nil
}

// jsonError names the field behind a decoding error.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		fe  *api.Error
	)
	switch {
	case errors.As(err, &fe):
		return fe // a field's own decoder named the problem
	case errors.As(err, &syn):
		return api.Invalid("body", "is not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		// A number that does not fit is named by its digits ("not number
		// 1e40" read as if it were not a number).
		got := typ.Value
		if lit, ok := strings.CutPrefix(got, "number "); ok {
			got = lit
		}
		if typ.Type == api.DurationType {
			return api.Invalid(field, "must be a duration more than zero, text like \"10s\" or \"1m30s\", not %s", got)
		}
		return api.Invalid(field, "must be %s, not %s", jsonKind(typ.Type), got)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields; its message
		// is the only place the name is given.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" {
			return api.Invalid("body", "has a field with an empty name")
		}
		return api.Invalid(name, "is not a known field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return api.Invalid("body", "ends in the middle of a JSON value")
	}
	return api.Invalid("body", "%v", err)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Uint16:
		return "a number in 0-65535"
	case reflect.Int, reflect.Int64:
		return "a whole number within 64 bits"
	case reflect.Uint64:
		return "a whole number from 0 within 64 bits"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// checkQuery refuses query parameters the endpoint does not know: a typo in
// a filter must not silently widen a list that a script then acts on.
func checkQuery(c *gin.Context, allowed ...string) error {
	return checkParams(c.Request.URL.Query(), allowed)
}

// checkParams is checkQuery for a query already parsed.
func checkParams(q url.Values, allowed []string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return api.Invalid(k, "is not a known query parameter (known: %s)", strings.Join(allowed, ", "))
		}
	}
	return nil
}

// boolQuery reads an optional boolean query parameter: absent is false,
// a bare "?name" true, otherwise strconv.ParseBool's forms; anything else is
// a 400 naming the parameter.
func boolQuery(c *gin.Context, name string) (bool, error) {
	v, ok := c.GetQuery(name)
	return boolValue(name, v, ok)
}

// boolParam is boolQuery of a query already parsed.
func boolParam(q url.Values, name string) (bool, error) {
	return boolValue(name, q.Get(name), len(q[name]) > 0)
}

func boolValue(name, v string, ok bool) (bool, error) {
	if !ok {
		return false, nil
	}
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, api.Invalid(name, "%q is not true or false", v)
	}
	return b, nil
}

// jsonContentType is what gin's c.JSON sets, for bodies encoded by hand.
const jsonContentType = "application/json; charset=utf-8"
