package registrator

import (
	"strings"
	"testing"
)

// The seed's FELIX example: two services in one container, the port label
// choosing among published ports, url_prefix normalised, the Swagger URL,
// the health path; a bad service does not spoil the other.
func TestServicesFollowTheSeedsLabels(t *testing.T) {
	ns, err := ParseNamespace("demi.lab42")
	if err != nil {
		t.Fatal(err)
	}
	c := Container{ID: "0123456789abcdef", Labels: map[string]string{
		"demi.lab42.felix.api.host":        "pc1.example.org",
		"demi.lab42.felix.api.port":        "8000",
		"demi.lab42.felix.api.url_prefix":  "api/",
		"demi.lab42.felix.api.url_postfix": "docs",
		"demi.lab42.felix.api.health":      "health",
		"demi.lab42.felix.api.description": "Interface to FELIX hardware",
		"demi.lab42.felix.ui.port":         "3000",
		"demi.lab42.felix.ui.category":     "Microservice-UI",
		"demi.lab42.felix.bad.protocol":    "gopher",
		"demi.other.felix.api.port":        "8000", // another site
		"com.example.unrelated":            "x",
	}, Ports: map[string][]string{"8000/tcp": {"32768"}, "3000/tcp": {"32769"}}}
	svcs, errs := ns.Services(c, "10.0.0.7")
	if len(svcs) != 2 || len(errs) != 1 || errs["lab42.felix.bad"] == nil || !strings.Contains(errs["lab42.felix.bad"].Error(), "gopher") {
		t.Fatalf("services %+v, errors %v", svcs, errs)
	}
	api, ui := svcs[0], svcs[1]
	if api.Slug() != "lab42.felix.api" || api.URL != "http://pc1.example.org:32768/api" ||
		api.Keys["swagger_url"] != "http://pc1.example.org:32768/api/docs" || api.HealthPath != "/health" ||
		api.KVPrefix() != "demi/lab42/felix/api/" || api.InstanceID(c.ID) != "demi-0123456789ab-lab42-felix-api" {
		t.Fatalf("api: %+v", api)
	}
	if ui.URL != "http://10.0.0.7:32769" || ui.Keys["url"] != ui.URL || ui.Keys["category"] != "Microservice-UI" {
		t.Fatalf("ui: %+v", ui)
	}
}

func TestPortsAndOverridesAndRefusals(t *testing.T) {
	ns, _ := ParseNamespace("demi")
	for _, tc := range []struct {
		name   string
		labels map[string]string
		ports  map[string][]string
		url    string
		err    string
	}{
		{"the only published port", map[string]string{"demi.s.st.a.x": "1"}, map[string][]string{"80/tcp": {"8080"}, "81/tcp": nil}, "http://h:8080", ""},
		{"an explicit url wins", map[string]string{"demi.s.st.a.url": "https://gui.example.org/x"}, nil, "https://gui.example.org/x", ""},
		{"prefix forms", map[string]string{"demi.s.st.a.url_prefix": "/api"}, map[string][]string{"80/tcp": {"1"}}, "http://h:1/api", ""},
		{"no published port", map[string]string{"demi.s.st.a.x": "1"}, nil, "", "no published port"},
		{"several ports", map[string]string{"demi.s.st.a.x": "1"}, map[string][]string{"80/tcp": {"1"}, "81/tcp": {"2"}}, "", "several published ports"},
		{"unknown port", map[string]string{"demi.s.st.a.port": "99"}, map[string][]string{"80/tcp": {"1"}}, "", "port 99 is not published"},
		{"bad port", map[string]string{"demi.s.st.a.port": "http"}, nil, "", "not a port number"},
		{"bad key", map[string]string{"demi.s.st.a.bad key": "1"}, map[string][]string{"80/tcp": {"1"}}, "", "bad key"},
		{"short label", map[string]string{"demi.s.st.a": "1"}, nil, "", "want demi.STACK.SERVICE.KEY"},
	} {
		svcs, errs := ns.Services(Container{ID: "c", Labels: tc.labels, Ports: tc.ports}, "h")
		if tc.err == "" {
			if len(svcs) != 1 || svcs[0].URL != tc.url || len(errs) != 0 {
				t.Errorf("%s: %+v %v", tc.name, svcs, errs)
			}
			continue
		}
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e.Error(), tc.err)
		}
		if len(svcs) != 0 || !found {
			t.Errorf("%s: %+v %v (want an error with %q)", tc.name, svcs, errs, tc.err)
		}
	}
	for _, bad := range []string{"", "consul", "demi.", "demi.a.b", "demi.a b"} {
		if _, err := ParseNamespace(bad); err == nil {
			t.Errorf("namespace %q accepted", bad)
		}
	}
}
