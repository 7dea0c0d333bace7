package httpbody

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// A body reads whole, with a length announced or chunked.
func TestReadReadsWholeBodies(t *testing.T) {
	body := strings.Repeat(`{"status":201}`, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			w.Write([]byte(body[:10]))
			w.(http.Flusher).Flush() // no length: chunked
			w.Write([]byte(body[10:]))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write([]byte(body))
	}))
	defer srv.Close()
	for _, q := range []string{"", "?chunked"} {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Read(io.LimitReader(resp.Body, 1<<20), resp.ContentLength, 1<<20)
		resp.Body.Close()
		if err != nil || string(got) != body {
			t.Errorf("%q: %d bytes (%v), want %d", q, len(got), err, len(body))
		}
	}
}

// A body past the limit is refused, announced or chunked, never cut short;
// one of exactly the limit reads whole.
func TestReadRefusesMoreThanTheLimit(t *testing.T) {
	body := strings.Repeat("x", 100)
	if _, err := Read(strings.NewReader(body), 100, 99); err != ErrTooLarge {
		t.Errorf("announced past the limit: %v, want ErrTooLarge", err)
	}
	if _, err := Read(strings.NewReader(body), -1, 99); err != ErrTooLarge {
		t.Errorf("unannounced past the limit: %v, want ErrTooLarge", err)
	}
	for _, length := range []int64{100, -1} {
		if got, err := Read(strings.NewReader(body), length, 100); err != nil || string(got) != body {
			t.Errorf("length %d at the limit: %d bytes (%v)", length, len(got), err)
		}
	}
}
