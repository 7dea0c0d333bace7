package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// `roster bench` sends the token every other command sends, from --token
// or ROSTER_TOKEN.
func TestBenchSendsTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		env  string
		args []string
	}{
		{"flag", "", []string{"--token", "s3cret"}},
		{"env", "s3cret", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ROSTER_TOKEN", tc.env)
			var out, errOut bytes.Buffer
			args := append([]string{"bench", "--addr", srv.URL, "--mode", "register", "--clients", "2", "--total", "6", "-o", "json"}, tc.args...)
			if code := Run(context.Background(), args, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"errors": 0`) {
				t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
			}
		})
	}
	var out, errOut bytes.Buffer
	t.Setenv("ROSTER_TOKEN", "s3cret\r\nX-Admin: 1")
	if code := Run(context.Background(), []string{"bench", "--addr", srv.URL, "--total", "1"}, &out, &errOut); code != 2 {
		t.Fatalf("a token with a line break: exit %d, %s", code, errOut.String())
	}
}
