package fsm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/rosterhq/roster/api"
)

// The stored form gives back exactly the instance it was made from, for
// the rows most writes store (parts within the URL, UTC times) and for
// every field the compact form keeps aside.
func TestRowGivesBackTheInstanceItStores(t *testing.T) {
	at := time.Date(2026, 12, 4, 23, 59, 1, 123456789, time.UTC)
	plain := func() *Instance {
		return &Instance{ID: "i1", URL: "https://api.example.com:8443/v1", Slug: "api", NodeURL: "http://10.0.0.1:11337",
			Scheme: "https", Host: "api.example.com", Port: 8443, Path: "/v1", Status: StatusHealthy, StatusReason: "probe ok",
			Check: &api.Check{Type: api.CheckTCP}, CreateIndex: 7, ModifyIndex: 9, LastHeartbeat: at, StatusChangedAt: at.Add(-time.Second)}
	}
	berlin := time.FixedZone("CET", 3600)
	cases := map[string]func(*Instance){
		"plain":                       func(*Instance) {},
		"zero times":                  func(in *Instance) { in.LastHeartbeat, in.StatusChangedAt = time.Time{}, time.Time{} },
		"time with a location":        func(in *Instance) { in.LastHeartbeat = at.In(berlin) },
		"time with a monotonic clock": func(in *Instance) { in.StatusChangedAt = time.Now() },
		"time before 1970":            func(in *Instance) { in.LastHeartbeat = time.Date(1601, 1, 1, 0, 0, 0, 5, time.UTC) },
		"far future time":             func(in *Instance) { in.LastHeartbeat = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) },
		"ip beside a host name":       func(in *Instance) { in.IP = "10.9.9.9" },
		"ip in the url":               func(in *Instance) { in.URL, in.Host, in.IP = "http://10.1.2.3:80/", "", "10.1.2.3" },
		"part not in the url":         func(in *Instance) { in.Path = "/elsewhere" },
		"scheme not in the url":       func(in *Instance) { in.Scheme = "ftp" },
		"port past int32":             func(in *Instance) { in.Port = math.MaxInt32 + 1 },
		"port at the marker":          func(in *Instance) { in.Port = math.MinInt32 },
		"status outside the seed's":   func(in *Instance) { in.Status = "Draining" },
		"no status":                   func(in *Instance) { in.Status = "" },
		"no check, no node":           func(in *Instance) { in.Check, in.NodeURL = nil, "" },
		"rare fields": func(in *Instance) {
			in.DeploymentID, in.Details, in.Tags, in.Meta = "dep-1", "details", []string{"a", "b"}, map[string]string{"k": "v"}
		},
		"empty tags and meta":   func(in *Instance) { in.Tags, in.Meta = []string{}, map[string]string{} },
		"url of 70,000 bytes":   func(in *Instance) { in.URL, in.Path = in.URL+strings.Repeat("x", 70000)+"/tail", "/tail" },
		"path at the url's end": func(in *Instance) { in.URL, in.Path = "http://h:1/p", "/p" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			in := plain()
			change(in)
			want := *in
			got := compact(in).instance()
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("got\n%+v\nwant\n%+v", got, &want)
			}
			if got.LastHeartbeat != want.LastHeartbeat || got.StatusChangedAt != want.StatusChangedAt {
				t.Fatalf("times differ in representation: %#v %#v", got.LastHeartbeat, want.LastHeartbeat)
			}
		})
	}
}

// Random instances survive the round trip; a row that needs nothing
// rare has no rowMore.
func TestRandomRowsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	for i := range 2000 {
		host := pick("", "svc.local", "10.0.0.7")
		url := fmt.Sprintf("%s://%s:%d%s", pick("http", "https"), pick("svc.local", "10.0.0.7"), 1+rng.IntN(65535), pick("", "/", "/a/b"))
		in := &Instance{ID: fmt.Sprint("i", i), URL: url, Slug: pick("", "a", "b"), Scheme: pick("", "http", "https"),
			Host: host, IP: pick("", "10.0.0.7", "10.0.0.8"), Path: pick("", "/", "/a/b", "/zz"), Port: rng.IntN(70000) - 10,
			Status: Status(pick("Unknown", "Healthy", "Stopping")), CreateIndex: rng.Uint64(), ModifyIndex: rng.Uint64(),
			LastHeartbeat: time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9)).UTC()}
		if rng.IntN(3) == 0 {
			in.Tags = []string{pick("x", "y")}
		}
		want := *in
		r := compact(in)
		if got := r.instance(); !reflect.DeepEqual(got, &want) {
			t.Fatalf("row %d: got\n%+v\nwant\n%+v", i, got, &want)
		}
		rare := in.Tags != nil || !strings.Contains(in.URL, in.Scheme) || !strings.Contains(in.URL, in.Host) ||
			!strings.Contains(in.URL, in.IP) || !strings.Contains(in.URL, in.Path)
		if (r.more != nil) != rare {
			t.Fatalf("row %d (%+v): rowMore %v, want %v", i, in, r.more != nil, rare)
		}
	}
}

// The point of the stored form: a row fits the 160-byte size class, where
// an api.Instance takes 320 bytes.
func TestStoredRowStaysSmall(t *testing.T) {
	if got := unsafe.Sizeof(row{}); got > 160 {
		t.Fatalf("a stored row is %d bytes, past the 160-byte size class (an api.Instance is %d)", got, unsafe.Sizeof(Instance{}))
	}
}

// The services view and the status counts read the stored rows without
// building them: they agree with what the built rows say, for rows with
// and without tags, on several nodes, in several statuses.
func TestScansOfStoredRowsAgreeWithTheRows(t *testing.T) {
	a := newApplier(t)
	statuses := []Status{StatusHealthy, StatusUnhealthy, StatusUnknown}
	for i := range 30 {
		in := Instance{URL: fmt.Sprintf("http://10.3.0.%d:80", i), Slug: fmt.Sprint("svc", i%4),
			NodeURL: fmt.Sprintf("http://10.9.9.%d:11337", i%3)}
		if i%2 == 0 {
			in.Tags = []string{fmt.Sprint("t", i%5), "all"}
		}
		r := a.mustRegister(in, fmt.Sprint("i", i))
		if st := statuses[i%3]; st != StatusUnknown {
			a.apply(&Command{Type: CmdSetStatuses, Statuses: []StatusUpdate{{ID: r.ID, Status: st, At: t0}}})
		}
	}
	want := map[string]*Service{}
	counts := map[Status]int{}
	a.f.state().read().insts.each(func(in *Instance) bool {
		counts[in.Status]++
		s := want[in.Slug]
		if s == nil {
			s = &Service{Slug: in.Slug, ByStatus: map[Status]int{}, Tags: []string{}, Nodes: []string{}}
			want[in.Slug] = s
		}
		s.Instances++
		s.ByStatus[in.Status]++
		for _, tag := range in.Tags {
			if !slices.Contains(s.Tags, tag) {
				s.Tags = append(s.Tags, tag)
			}
		}
		if !slices.Contains(s.Nodes, in.NodeURL) {
			s.Nodes = append(s.Nodes, in.NodeURL)
		}
		return true
	})
	if got := a.f.InstancesByStatus(); !reflect.DeepEqual(got, counts) || counts[StatusHealthy] != 10 {
		t.Fatalf("status counts %v, the rows say %v", got, counts)
	}
	got, _, err := a.f.Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d services, want 4", len(got))
	}
	for _, s := range got {
		w := want[s.Slug]
		slices.Sort(w.Tags)
		slices.Sort(w.Nodes)
		if !reflect.DeepEqual(s, w) {
			t.Errorf("service %s: %+v, the rows say %+v", s.Slug, s, w)
		}
	}
}

// What Instances and Instance hand out is the caller's own: writing its
// tags, meta or check changes nothing stored (each row is built for the
// read and then given its own copies, not copied a second time).
func TestReadRowsAreTheCallersOwn(t *testing.T) {
	a := newApplier(t)
	r := a.mustRegister(Instance{URL: "http://10.4.4.4:80", Slug: "own", Tags: []string{"a"}, Meta: map[string]string{"k": "v"},
		Check: &Check{Type: CheckNone}}, "i1")
	list, _, err := a.f.Instances(nil, InstanceFilter{Slug: "own"})
	if err != nil || len(list) != 1 {
		t.Fatalf("%v %v", list, err)
	}
	one, _, err := a.f.Instance(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*Instance{list[0], one} {
		in.Tags[0], in.Meta["k"], in.Check.Path = "changed", "changed", "/changed"
	}
	again, _, _ := a.f.Instance(r.ID)
	if again.Tags[0] != "a" || again.Meta["k"] != "v" || again.Check.Path != "" {
		t.Fatalf("a reader's writes reached the stored row: %+v %+v", again, again.Check)
	}
}
