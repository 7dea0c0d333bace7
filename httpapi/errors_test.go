package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// Every error the server can send comes back to a client as the same error:
// each sentinel as itself (errors.Is on both sides), each field error with
// its code, field and message; the engine's names are the same sentinels.
func TestErrorsRoundTripLosslessly(t *testing.T) {
	for _, e := range api.Sentinels {
		status, body, _ := toWire(fmt.Errorf("wrapped: %w", e))
		if status == http.StatusInternalServerError && e != api.ErrInternal {
			t.Errorf("%v has no status", e)
		}
		got := client.FromWire(status, body)
		if !errors.Is(got, e) || api.CodeOf(got) != body.Code {
			t.Errorf("%v came back as %v (code %q)", e, got, body.Code)
		}
		for _, other := range api.Sentinels {
			if other != e && errors.Is(got, other) {
				t.Errorf("%v also matches %v", e, other)
			}
		}
	}
	for _, e := range []error{node.ErrNotLeader, node.ErrNoLeader, node.ErrTimeout, node.ErrShutdown, node.ErrCatchingUp} {
		if st, body, retry := toWire(e); st != 503 || !retry || !errors.Is(client.FromWire(st, body), client.ErrUnavailable) {
			t.Errorf("%v: %d %v, want a 503 that promises nothing was written", e, st, body)
		}
	}
	if st, body, _ := toWire(node.ErrLeadershipLost); errors.Is(client.FromWire(st, body), client.ErrUnavailable) ||
		!errors.Is(client.FromWire(st, body), client.ErrIndeterminate) {
		t.Errorf("indeterminate must not promise anything: %+v", body)
	}
	for code, status := range map[api.Code]int{api.CodeInvalid: 400, api.CodeNotFound: 404, api.CodeConflict: 409,
		api.CodeUnknownMember: 404, api.CodeMemberAlive: 409} {
		in := &api.Error{Code: code, Field: "url", Message: "bad"}
		st, body, _ := toWire(fmt.Errorf("ctx: %w", in))
		var fe *api.Error
		if st != status || !errors.As(client.FromWire(st, body), &fe) || *fe != *in {
			t.Errorf("%s: status %d, rebuilt %+v", code, st, fe)
		}
	}
	if st, body, _ := toWire(errors.New("disk on fire")); st != http.StatusInternalServerError || strings.Contains(body.Error, "disk") {
		t.Errorf("unknown errors must be a generic 500: %d %+v", st, body)
	}
}
