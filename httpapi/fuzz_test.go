package httpapi

import (
	"errors"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
)

// Registration bodies: whatever arrives, the answer is a typed error that
// maps to a 4xx naming the field, or an instance that the state machine
// would store as it is.
func FuzzRegisterBody(f *testing.F) {
	for _, s := range []string{
		`{"url":"http://a:1","slug":"s","tags":["x"],"status":"Healthy"}`,
		`{"scheme":"https","host":"api.example.com","port":443,"path":"/v1"}`,
		`{"ip":"::1","port":80,"check":{"type":"http","path":"/h","interval":"2s","failuresBeforeUnhealthy":2}}`,
		`{"url":"http://a:1","check":{"type":"ttl","ttl":"30s","deregisterAfter":"1m"}}`,
		`{"url":"http://a:1","check":{"type":"tcp","interval":"0s"}}`,
		`{"url":"http://a:1","bogus":1}`, `{}`, `[]`, `{"port":-1,"host":"h"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req client.RegisterRequest
		if err := decodeJSON(body, &req); err != nil {
			mustBeTyped(t, body, err)
			return
		}
		in, err := registration(req, "http://127.0.0.1:11337")
		if err != nil {
			mustBeTyped(t, body, err)
			return
		}
		in.ID = "fuzz-1"
		if err := fsm.ValidateInstance(&in); err != nil {
			t.Fatalf("%q: accepted but the state machine refuses it: %v", body, err)
		}
		b, err := (&fsm.Command{Type: fsm.CmdRegisterInstance, Register: &fsm.RegisterCommand{Instance: in}}).Encode()
		if err != nil {
			t.Fatalf("%q: accepted but does not encode: %v", body, err)
		}
		if _, err := fsm.DecodeCommand(b); err != nil {
			t.Fatalf("%q: accepted but its command does not decode: %v", body, err)
		}
	})
}

// Status batches: decoded and validated, or refused with a typed error.
func FuzzStatusBatchBody(f *testing.F) {
	f.Add([]byte(`{"updates":[{"id":"a","status":"Healthy","from":"Unknown","at":"2026-11-22T10:00:00Z"}]}`))
	f.Add([]byte(`{"updates":[{"id":"a","remove":true,"ifModifyIndex":7}]}`))
	f.Add([]byte(`{"updates":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req client.StatusBatch
		err := decodeJSON(body, &req)
		if err == nil {
			err = fsm.ValidateStatusUpdates(req.Updates)
		}
		if err != nil {
			mustBeTyped(t, body, err)
		}
	})
}

func mustBeTyped(t *testing.T, body []byte, err error) {
	t.Helper()
	var fe *api.Error
	if !errors.As(err, &fe) || fe.Code != api.CodeInvalid || fe.Field == "" {
		t.Fatalf("%q: refused without a typed, named error: %v", body, err)
	}
}
