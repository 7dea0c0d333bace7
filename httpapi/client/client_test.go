package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// An answer past what the client reads is refused as too large, not cut
// short into JSON that fails to parse; one within it is read whole, with or
// without its length.
func TestAnAnswerPastTheLimitIsNamed(t *testing.T) {
	list := `{"instances":[` + strings.Repeat(`{"id":"inst-x"},`, 100) + `{"id":"inst-y"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			w.Write([]byte(list[:10]))
			w.(http.Flusher).Flush()
			w.Write([]byte(list[10:]))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(list)))
		w.Write([]byte(list))
	}))
	defer srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?chunked"} {
		var out struct{ Instances []struct{ ID string } }
		c.answerLimit = int64(len(list))
		if _, err := c.Do(context.Background(), http.MethodGet, "/registry-svc/instances"+q, nil, &out); err != nil || len(out.Instances) != 101 {
			t.Errorf("%q within the limit: %d instances, %v", q, len(out.Instances), err)
		}
		c.answerLimit = int64(len(list)) - 1
		_, err := c.Do(context.Background(), http.MethodGet, "/registry-svc/instances"+q, nil, &out)
		if err == nil || !strings.Contains(err.Error(), "is larger than") {
			t.Errorf("%q one byte past the limit: %v", q, err)
		}
	}
}
