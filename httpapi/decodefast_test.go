package httpapi

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
)

// plainBodies are registrations and forwarded batches in the forms clients
// and followers send, and some the fast path must leave alone.
func plainBodies(r *rand.Rand, n int) [][]byte {
	plain := false
	str := func() string {
		if !plain && r.IntN(8) == 0 {
			return []string{`q"uote`, `back\slash`, "é", "a<b", "tab\t"}[r.IntN(5)]
		}
		return []string{"", "a", "http://10.255.0.1:8080/b/1", "svc-1", "/health", strings.Repeat("z", 300)}[r.IntN(6)]
	}
	reg := func() *api.RegisterRequest {
		q := &api.RegisterRequest{ID: str(), URL: str(), Scheme: str(), Host: str(), IP: str(), Path: str(), Slug: str(),
			DeploymentID: str(), NodeURL: str(), Status: api.Status(str()), Details: str()}
		q.Port = []int{0, 1, 8080, -1, 65535, 1 << 40}[r.IntN(6)]
		for range r.IntN(3) {
			q.Tags = append(q.Tags, str())
		}
		if r.IntN(3) > 0 {
			q.Meta = map[string]string{}
			for range r.IntN(3) {
				q.Meta[str()] = str()
			}
		}
		switch r.IntN(3) {
		case 0:
			q.Check = &api.Check{Type: api.CheckType(str()), Path: str()}
		case 1:
			if !plain {
				q.Check = &api.Check{Type: api.CheckHTTP, Interval: api.Duration(time.Second)}
			}
		}
		return q
	}
	var out [][]byte
	for range n {
		plain = r.IntN(2) == 0 // half the bodies in the form the fast path takes
		var v any = reg()
		if r.IntN(2) == 0 {
			b := forward.BatchRequest{Writes: []forward.Write{}}
			for range r.IntN(4) {
				w := forward.Write{}
				if r.IntN(3) == 0 {
					w.Deregister = str()
				} else {
					w.Register = reg()
				}
				if r.IntN(2) == 0 {
					w.Auth = &fsm.Auth{Accessor: str(), Permission: str(), At: time.Unix(1_700_000_000, int64(r.IntN(1e9))).UTC()}
				}
				b.Writes = append(b.Writes, w)
			}
			v = b
		}
		raw, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		if r.IntN(4) == 0 { // white space where JSON allows it
			raw = []byte(strings.NewReplacer(`,"`, ", \n\"", `":`, "\" :\t", `{`, "{ ", `]`, " ]").Replace(string(raw)))
		}
		out = append(out, raw)
	}
	return out
}

// decodeBoth decodes raw into a fresh value of each kind by the fast path
// and by encoding/json; it fails the test when the fast path took a body
// and the two disagree.
func decodeBoth(t *testing.T, raw []byte) (took bool) {
	for _, mk := range []func() any{func() any { return new(api.RegisterRequest) }, func() any { return new(forward.BatchRequest) }} {
		fast, slow := mk(), mk()
		if !decodeFastJSON(raw, fast) {
			if !reflect.DeepEqual(fast, mk()) {
				t.Fatalf("a declined body left %+v", fast)
			}
			continue
		}
		took = true
		if err := decodeJSON(raw, slow); err != nil {
			t.Fatalf("the fast path took %q, which encoding/json refuses: %v", raw, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\njson %+v", raw, fast, slow)
		}
	}
	return took
}

// Every body the fast path takes decodes to what encoding/json makes of
// it, the usual ones among them; changed bytes are taken only when they
// still agree.
func TestFastJSONAgreesWithEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	took := 0
	for _, raw := range plainBodies(r, 3000) {
		if decodeBoth(t, raw) {
			took++
		}
		for range 5 { // a byte changed, dropped or doubled
			m := []byte(string(raw))
			i := r.IntN(len(m))
			switch r.IntN(3) {
			case 0:
				m[i] = `{}[]":,\ 0-.e"aZ`[r.IntN(16)]
			case 1:
				m = append(m[:i], m[i+1:]...)
			default:
				m = append(m[:i+1], m[i:]...)
			}
			decodeBoth(t, m)
		}
	}
	if took < 1000 {
		t.Fatalf("the fast path took %d of 3,000 bodies", took)
	}
	// Forms at the edge of the plain one: each is taken only when both
	// decoders agree on it.
	edges := []string{
		`{"port":08}`, `{"port":-0}`, `{"port":0}`, `{"port":-}`, `{"port":1.0}`, `{"port":1e3}`, `{"port":"80"}`,
		`{"port":1234567890123456789}`, `{"port":null}`, `{"url":null}`, `{"tags":[]}`, `{"tags":null}`, `{"meta":{}}`,
		`{"meta":{"a":"1"},"meta":{"b":"2"}}`, `{"meta":{"a":"1","a":"2"}}`, `{"tags":["a"],"tags":["b"]}`, `{"url":"a","url":"b"}`,
		`{"URL":"a"}`, `{"url":"\u0061"}`, `{"url":"a"} `, `{"url":"a"}}`, `{"url":"a"}x`, `{"url":"a",}`, `{}`, ` {} `,
		`{"check":{}}`, `{"check":{"type":"http","interval":"5s"}}`, `{"check":{"type":"http","type":"tcp"}}`, `{"check":null}`,
		`{"writes":[]}`, `{"writes":[{}]}`, `{"writes":null}`, `{"writes":[{"auth":{"at":"2026-13-01T00:00:00Z"}}]}`,
		`{"writes":[{"auth":{"at":"2026-12-01T00:00:00+01:00"}}]}`, `{"writes":[{"register":{"url":"a"},"register":{"slug":"b"}}]}`,
		`[]`, `null`, `"x"`, ``,
	}
	for _, raw := range edges {
		decodeBoth(t, []byte(raw))
	}
	usual := []string{
		`{"url":"http://10.255.0.1:8080/b/1","slug":"b-0","check":{"type":"none"}}`,
		`{"url": "http://user-svc:8080", "slug": "user-svc", "tags": ["v1"], "meta": {"version": "1.2"}}`,
		`{"writes":[{"register":{"url":"http://a:1","slug":"s"},"auth":{"accessor":"tok-1","permission":"registry-svc:instance:edit","at":"2026-12-05T21:17:45.306489303Z"}},{"deregister":"inst-1"}]}`,
	}
	for _, raw := range usual {
		if !decodeBoth(t, []byte(raw)) {
			t.Errorf("%s went to encoding/json", raw)
		}
	}
}

func FuzzFastJSONAgreesWithEncodingJSON(f *testing.F) {
	for _, raw := range plainBodies(rand.New(rand.NewPCG(11, 12)), 30) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { decodeBoth(t, raw) })
}
