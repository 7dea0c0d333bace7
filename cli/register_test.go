package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRegistrationsReadsOneOrManyAndChecksEveryOne(t *testing.T) {
	file := writeFile(t, "instances.yaml", `url: http://10.0.0.5:8080
slug: web
tags: [blue]
check: {type: http, path: /health, interval: 5s}
---
- url: http://10.0.0.6:8080
  slug: web
- url: http://10.0.0.7:8080
  slug: api
`)
	reqs, err := loadRegistrations(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 3 || reqs[0].Check == nil || reqs[0].Check.Path != "/health" || time.Duration(reqs[0].Check.Interval) != 5*time.Second ||
		reqs[2].Slug != "api" || strings.Join(reqs[0].Tags, ",") != "blue" {
		t.Fatalf("%+v", reqs)
	}
	js, err := loadRegistrations(writeFile(t, "one.json", `[{"url": "http://a:1", "slug": "x"}]`))
	if err != nil || len(js) != 1 || js[0].URL != "http://a:1" {
		t.Fatalf("json: %+v %v", js, err)
	}
	for body, want := range map[string]string{
		"url: http://a:1\nslugg: web\n":                         `unknown field "slugg"`,
		"- url: http://a:1\n- url: http://b:2\n  port: 70000\n": "instance 2 (line 2)",
		"url: http://a:1\ncheck: {type: http, path: health}\n":  "check.path",
		"url: http://a:1\ncheck: {type: tcp, interval: 0s}\n":   "check.interval",
		"url: http://a:1\n  bad indentation: [\n":               "instances.yaml",
		"# nothing\n": "no instance in the file",
	} {
		if _, err := loadRegistrations(writeFile(t, "instances.yaml", body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", body, want, err)
		}
	}
}
