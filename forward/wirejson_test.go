package forward

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/fsm"
)

// randomWrite draws a write with every field a forwarded registration,
// deregistration or auth carries, from strings encoding/json writes as
// they are to ones it escapes (quotes, HTML characters, control bytes,
// non-ASCII, invalid UTF-8) and times it refuses.
func randomWrite(r *rand.Rand) Write {
	// Half the writes hold only strings written as they are (the hand
	// path takes them whole); in the others a string in ten is one that
	// encoding/json escapes.
	plain := r.IntN(2) == 0
	special := []string{`q"uote`, `back\slash`, "a<b", "a>b", "a&b", "tab\t", "del\x7f", "é", "\xff", "\u2028"}
	str := func() string {
		if !plain && r.IntN(10) == 0 {
			return special[r.IntN(len(special))]
		}
		return []string{"", "a", "http://10.0.0.1:8080/x", "svc-1", strings.Repeat("z", 300)}[r.IntN(5)]
	}
	num := func() int64 { return []int64{0, 0, 1, -1, 8080, 1 << 40}[r.IntN(6)] }
	dur := func() api.Duration {
		return api.Duration([]time.Duration{0, 0, time.Second, 90 * time.Second, -time.Millisecond, 1500 * time.Microsecond}[r.IntN(6)])
	}
	var w Write
	switch r.IntN(3) {
	case 0:
		w.Deregister = str()
	default:
		reg := &api.RegisterRequest{ID: str(), URL: str(), Scheme: str(), Host: str(), IP: str(), Port: int(num()), Path: str(),
			Slug: str(), DeploymentID: str(), NodeURL: str(), Status: api.Status(str()), Details: str()}
		for range r.IntN(3) {
			reg.Tags = append(reg.Tags, str())
		}
		if n := r.IntN(4); n > 0 {
			reg.Meta = map[string]string{}
			for range n {
				reg.Meta[str()] = str()
			}
		}
		if r.IntN(4) == 0 {
			reg.Meta = map[string]string{} // empty: omitted
		}
		if r.IntN(2) == 0 {
			reg.Check = &api.Check{Type: api.CheckType(str()), Path: str(), Interval: dur(), Timeout: dur(), TTL: dur(),
				FailuresBeforeUnhealthy: int(num()), SuccessesBeforeHealthy: int(num()), DeregisterAfter: dur()}
		}
		w.Register = reg
	}
	if r.IntN(2) == 0 {
		at := []time.Time{{}, time.Unix(1_700_000_000, 123).UTC(), time.Date(2026, 12, 5, 1, 2, 3, 0, time.FixedZone("x", 3600))}[r.IntN(3)]
		if !plain && r.IntN(4) == 0 {
			at = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal refuses it
		}
		w.Auth = &fsm.Auth{Accessor: str(), Permission: str(), At: at}
	}
	return w
}

// A forwarded write travels as json.Marshal writes it, whichever path
// wrote it; the hand path takes the usual registrations.
func TestMarshalWriteIsJSONMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	byHand := 0
	for i := range 20000 {
		w := randomWrite(r)
		if _, ok := appendWrite(nil, &w); ok {
			byHand++
		}
		got, gotErr := marshalWrite(&w)
		want, wantErr := json.Marshal(w)
		if (gotErr != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("write %d: hand %s (%v)\njson %s (%v)", i, got, gotErr, want, wantErr)
		}
	}
	if byHand < 5000 {
		t.Fatalf("the hand path took %d writes of 20,000: the test does not hold it to much", byHand)
	}
	usual := Write{Register: &api.RegisterRequest{URL: "http://10.255.0.1:8080/b/1", Slug: "b-0", Check: &api.Check{Type: api.CheckNone}},
		Auth: &fsm.Auth{Accessor: "tok-1", Permission: "registry-svc:instance:edit", At: time.Now()}}
	if _, ok := appendWrite(nil, &usual); !ok {
		t.Fatal("a usual registration was left to encoding/json")
	}
}

// randomInstance draws an instance the way randomWrite draws a write.
func randomInstance(r *rand.Rand) *api.Instance {
	w := randomWrite(r)
	for w.Register == nil {
		w = randomWrite(r)
	}
	q := w.Register
	when := []time.Time{{}, time.Unix(1_700_000_000, 123).UTC(), time.Date(2026, 12, 5, 1, 2, 3, 0, time.FixedZone("x", 3600))}
	in := &api.Instance{ID: q.ID, URL: q.URL, DeploymentID: q.DeploymentID, NodeURL: q.NodeURL, Path: q.Path, Scheme: q.Scheme,
		Host: q.Host, IP: q.IP, Port: q.Port, Status: q.Status, Details: q.Details, Slug: q.Slug, Tags: q.Tags, Meta: q.Meta,
		Check: q.Check, StatusReason: q.Details, LastHeartbeat: when[r.IntN(3)], StatusChangedAt: when[r.IntN(3)],
		CreateIndex: uint64(r.Int64()), ModifyIndex: uint64(r.IntN(1000))}
	if r.IntN(8) == 0 {
		in.LastHeartbeat = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal refuses it
	}
	return in
}

// An instance is written as json.Marshal writes it, whichever path wrote
// it; the hand path takes the usual ones.
func TestMarshalInstanceIsJSONMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	byHand := 0
	for i := range 20000 {
		in := randomInstance(r)
		if _, ok := AppendInstance(nil, in); ok {
			byHand++
		}
		got, gotErr := MarshalInstance(in)
		want, wantErr := json.Marshal(in)
		if (gotErr != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("instance %d: hand %s (%v)\njson %s (%v)", i, got, gotErr, want, wantErr)
		}
	}
	if byHand < 5000 {
		t.Fatalf("the hand path took %d instances of 20,000", byHand)
	}
}
