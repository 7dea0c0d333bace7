package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// Every engine error the server can send comes back to a client as the
// matching typed error: the server table and the client's FromWire agree.
func TestErrorTableRoundTrip(t *testing.T) {
	cases := []struct {
		err    error
		status int
		want   error
	}{
		{node.ErrNotLeader, 503, client.ErrUnavailable},
		{node.ErrNoLeader, 503, client.ErrUnavailable},
		{node.ErrTimeout, 503, client.ErrUnavailable},
		{node.ErrShutdown, 503, client.ErrUnavailable},
		{node.ErrLeadershipLost, 503, client.ErrIndeterminate},
		{fmt.Errorf("wrapped: %w", node.ErrNoLeader), 503, client.ErrUnavailable},
		{errTooLarge, 413, nil},
		{errNoInstance, 503, client.ErrNoInstance},
		{errBadGateway, 502, nil},
	}
	for _, c := range cases {
		status, body, _ := toWire(c.err)
		if status != c.status {
			t.Errorf("%v: status %d, want %d", c.err, status, c.status)
		}
		got := client.FromWire(status, body)
		if c.want != nil && !errors.Is(got, c.want) {
			t.Errorf("%v: client rebuilt %v", c.err, got)
		}
	}
	for code, status := range map[fsm.Code]int{fsm.CodeInvalid: 400, fsm.CodeNotFound: 404, fsm.CodeConflict: 409} {
		in := &fsm.Error{Code: code, Field: "url", Message: "bad"}
		st, body, _ := toWire(fmt.Errorf("ctx: %w", in))
		var fe *fsm.Error
		if st != status || !errors.As(client.FromWire(st, body), &fe) || *fe != *in {
			t.Errorf("%s: status %d, rebuilt %+v", code, st, fe)
		}
	}
	if st, body, _ := toWire(errors.New("disk on fire")); st != http.StatusInternalServerError || strings.Contains(body.Error, "disk") {
		t.Errorf("unknown errors must be a generic 500: %d %+v", st, body)
	}
}

// client.ClusterStatus mirrors node.ClusterStatus so the client does not
// import the engine; this keeps their JSON identical.
func TestClientStatusMirrorsNodeStatus(t *testing.T) {
	fields := func(t reflect.Type) []string {
		var out []string
		for i := range t.NumField() {
			f := t.Field(i)
			out = append(out, f.Name+" "+f.Tag.Get("json")+" "+f.Type.Kind().String())
		}
		return out
	}
	pairs := [][2]reflect.Type{
		{reflect.TypeFor[node.ClusterStatus](), reflect.TypeFor[client.ClusterStatus]()},
		{reflect.TypeFor[node.ServerStatus](), reflect.TypeFor[client.ServerStatus]()},
		{reflect.TypeFor[node.MemberStatus](), reflect.TypeFor[client.MemberStatus]()},
		{reflect.TypeFor[node.HealthStatus](), reflect.TypeFor[client.HealthStatus]()},
	}
	for _, p := range pairs {
		a, b := fields(p[0]), fields(p[1])
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s and %s differ:\n%v\n%v", p[0], p[1], a, b)
		}
	}
	b, _ := json.Marshal(node.ClusterStatus{Servers: []node.ServerStatus{{ID: "a"}}, Members: []node.MemberStatus{{ID: "b"}}})
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var st client.ClusterStatus
	if err := dec.Decode(&st); err != nil || st.Servers[0].ID != "a" {
		t.Fatalf("decode: %v", err)
	}
}
