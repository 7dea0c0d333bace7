package fsm

import (
	"errors"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
)

func TestNormalizeInstance(t *testing.T) {
	cases := []struct {
		name string
		in   Instance
		url  string
		err  string // field named in the error, "" for success
	}{
		{"url only", Instance{URL: "http://user-service:8080"}, "http://user-service:8080", ""},
		{"components", Instance{Scheme: "https", Host: "api.example.com", Port: 443, Path: "/v1"}, "https://api.example.com:443/v1", ""},
		{"ip", Instance{Scheme: "http", IP: "192.168.1.100", Port: 8080}, "http://192.168.1.100:8080", ""},
		{"ipv6", Instance{IP: "::1", Port: 80}, "http://[::1]:80", ""},
		{"path without slash", Instance{Host: "h", Port: 1, Path: "api"}, "http://h:1/api", ""},
		{"default scheme", Instance{Host: "h"}, "http://h", ""},
		{"nothing", Instance{}, "", "url"},
		{"relative", Instance{URL: "user-service:8080"}, "", "url"},
		{"no host", Instance{URL: "http:///x"}, "", "url"},
		{"port range", Instance{Host: "h", Port: 70000}, "", "port"},
		{"url port range", Instance{URL: "http://h:0"}, "", "port"},
		{"contradicting host", Instance{URL: "http://a:1", Host: "b"}, "", "host"},
		{"contradicting port", Instance{URL: "http://a:1", Port: 2}, "", "port"},
		{"contradicting scheme", Instance{URL: "http://a:1", Scheme: "https"}, "", "scheme"},
		{"bad ip", Instance{IP: "999.1.1.1"}, "", "ip"},
		{"query", Instance{URL: "http://a:1/?x=1"}, "", "url"},
		{"credentials", Instance{URL: "http://u:p@a:1"}, "", "url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			err := NormalizeInstance(&in)
			if c.err == "" {
				if err != nil || in.URL != c.url {
					t.Fatalf("got %q, %v; want %q", in.URL, err, c.url)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Field != c.err || e.Code != CodeInvalid {
				t.Fatalf("want invalid %s, got %v", c.err, err)
			}
		})
	}
}

func TestValidateInstance(t *testing.T) {
	ok := Instance{ID: "inst-1", URL: "http://a:1", Slug: "user-svc", Status: StatusHealthy, Tags: []string{"dev"}}
	if err := ValidateInstance(&ok); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Instance{
		"id":           {ID: "a b", URL: "http://a:1"},
		"slug":         {ID: "i", URL: "http://a:1", Slug: "../x"},
		"status":       {ID: "i", URL: "http://a:1", Status: "Degraded"},
		"tags":         {ID: "i", URL: "http://a:1", Tags: []string{""}},
		"nodeUrl":      {ID: "i", URL: "http://a:1", NodeURL: "node1"},
		"deploymentId": {ID: "i", URL: "http://a:1", DeploymentID: "a/b"},
	}
	for field, in := range bad {
		if e, _ := ValidateInstance(&in).(*Error); e == nil || e.Field != field {
			t.Errorf("%s: got %v", field, e)
		}
	}
	// The node URL that passed last is remembered: good and bad ones in
	// turn are each judged as on their own.
	for i, nodeURL := range []string{"http://10.0.0.1:11337", "node1", "http://10.0.0.1:11337", "http://10.0.0.1:11337", "node1", "http:///x", "http://10.0.0.2:11337"} {
		in := Instance{ID: "i", URL: "http://a:1", NodeURL: nodeURL}
		err := ValidateInstance(&in)
		if bad := !strings.HasPrefix(nodeURL, "http://1"); bad != (err != nil) {
			t.Errorf("%d: node URL %q: %v", i, nodeURL, err)
		}
	}
}

func TestValidateDefinition(t *testing.T) {
	bad := map[string]Definition{
		"id":                  {Image: &ImageSpec{Name: "n"}},
		"image":               {ID: "x"},
		"repository":          {ID: "x", Image: &ImageSpec{Name: "n"}, Repository: &RepositorySpec{URL: "u"}},
		"image.name":          {ID: "x", Image: &ImageSpec{}},
		"image.internalPorts": {ID: "x", Image: &ImageSpec{Name: "n", InternalPorts: []uint16{0}}},
		"repository.url":      {ID: "x", Repository: &RepositorySpec{}},
		"ports":               {ID: "x", Image: &ImageSpec{Name: "n"}, Ports: []PortMapping{{Internal: 80}}},
		"envars":              {ID: "x", Image: &ImageSpec{Name: "n"}, Envars: []EnvVar{{Value: "v"}}},
		"clients":             {ID: "x", Image: &ImageSpec{Name: "n"}, Clients: []Client{{Language: "go"}}},
	}
	for field, d := range bad {
		if e, _ := ValidateDefinition(&d).(*Error); e == nil || e.Field != field {
			t.Errorf("%s: got %v", field, e)
		}
	}
}

func TestValidateMetaNamesTheKey(t *testing.T) {
	ok := map[string]string{"version": "1.2", "demi.site": "lab-42", "a_b": ""}
	if err := ValidateMeta(ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		meta  map[string]string
		field string
	}{
		{map[string]string{"": "x"}, "meta"},
		{map[string]string{"a/b": "x"}, "meta.a/b"},
		{map[string]string{strings.Repeat("k", 129): "x"}, "meta." + strings.Repeat("k", 129)},
		{map[string]string{"k": strings.Repeat("v", 513)}, "meta.k"},
		{map[string]string{"k": "a\nb"}, "meta.k"},
		{map[string]string{"k": "\xff"}, "meta.k"},
	} {
		err := ValidateMeta(tc.meta)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Field != tc.field {
			t.Errorf("%q: %v (want a refusal naming %s)", tc.meta, err, tc.field)
		}
	}
}
