package oneshot

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/oneshot/oneshottest"
)

// answer writes size bytes with their length, holding the connection's
// writes when hold is set, as httpapi's writeJSON does.
func answer(hold bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if hold {
			release := Hold(r)
			defer release() //nolint:errcheck
		}
		_, _ = w.Write(body)
		if hold {
			w.(http.Flusher).Flush()
		}
	}
}

// serve starts a server whose connections are counted and wrapped, over
// TLS when tlsOn; h2 is left off as agent's server does not offer it over
// plain HTTP and the test of HTTP/2 turns it on itself.
func serve(t *testing.T, h http.Handler, tlsOn, h2 bool) (*httptest.Server, *oneshottest.Listener) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	counted := &oneshottest.Listener{Listener: srv.Listener}
	srv.Listener = Listener{Listener: counted}
	srv.Config.ConnContext = ConnContext
	switch {
	case tlsOn:
		srv.EnableHTTP2 = h2
		srv.StartTLS()
	default:
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, counted
}

// get reads n answers of size bytes on one kept-alive connection and
// returns how many writes reached the connection for them.
func get(t *testing.T, srv *httptest.Server, counted *oneshottest.Listener, size, n int, wantProto int) int {
	t.Helper()
	hc := srv.Client()
	before := counted.Writes()
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for range n {
		resp, err := hc.Get(srv.URL + "/?size=" + strconv.Itoa(size))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want) {
			t.Fatalf("answer of %d bytes read as %d bytes, different", len(want), len(body))
		}
		if resp.ProtoMajor != wantProto {
			t.Fatalf("HTTP/%d, want HTTP/%d", resp.ProtoMajor, wantProto)
		}
	}
	return counted.Writes() - before
}

func TestAHeldAnswerLeavesInOneWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tlsOn bool
		// the writes a 40 KB answer costs without holding: the
		// connection's 4 KB buffer and the rest, or over TLS one a
		// record besides
		atLeastWithout int
	}{
		{"plain", false, 2},
		{"tls", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 10
			srv, counted := serve(t, answer(false), tc.tlsOn, false)
			get(t, srv, counted, 40<<10, 1, 1) // the handshake, if any
			if w := get(t, srv, counted, 40<<10, n, 1); w < tc.atLeastWithout*n {
				t.Fatalf("without holding, %d answers took %d writes: the premise (at least %d each) no longer holds", n, w, tc.atLeastWithout)
			}
			srv, counted = serve(t, answer(true), tc.tlsOn, false)
			get(t, srv, counted, 40<<10, 1, 1)
			if w := get(t, srv, counted, 40<<10, n, 1); w != n {
				t.Fatalf("holding, %d answers of 40 KB took %d writes, want one each", n, w)
			}
			// A small answer: nothing held, the bytes come after the
			// handler's flush in the same one write.
			if w := get(t, srv, counted, 512, n, 1); w != n {
				t.Fatalf("holding, %d answers of 512 bytes took %d writes, want one each", n, w)
			}
		})
	}
}

// An answer past maxHeld leaves in pieces of about maxHeld and arrives
// whole: over TLS, written a record (16 KB) at a time, the held bytes go
// out each time they would pass maxHeld instead of growing to the answer's
// size.
func TestAHugeAnswerIsNotHeldWhole(t *testing.T) {
	srv, counted := serve(t, answer(true), true, false)
	get(t, srv, counted, 512, 1, 1) // the handshake
	const size, n = 1 << 20, 3
	w := get(t, srv, counted, size, n, 1)
	if w < n*(size/maxHeld) || w > n*(size/maxHeld+2) {
		t.Fatalf("%d answers of 1 MB took %d writes, want %d to %d", n, w, n*(size/maxHeld), n*(size/maxHeld+2))
	}
}

// HTTP/2 streams share the connection and its writer goroutine: a handler
// that holds and has not returned must not hold another stream's answer.
func TestHTTP2IsNotHeld(t *testing.T) {
	held, unblock := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		release := Hold(r)
		defer release() //nolint:errcheck
		_, _ = w.Write(make([]byte, 40<<10))
		w.(http.Flusher).Flush()
		close(held)
		<-unblock
	})
	mux.Handle("/", answer(true))
	srv, _ := serve(t, mux, true, true)
	slow := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/slow")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		slow <- err
	}()
	<-held
	// The same client, so the same HTTP/2 connection.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			resp, err := srv.Client().Get(srv.URL + "/?size=40960")
			if err != nil {
				t.Error(err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || len(body) != 40<<10 || resp.ProtoMajor != 2 {
				t.Errorf("HTTP/%d, %d bytes, %v; want HTTP/2, 40960 bytes", resp.ProtoMajor, len(body), err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("an answer on another stream waited for the slow handler")
	}
	close(unblock)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	<-done
}

// Hold on a request whose connection was not accepted by Listener (no
// ConnContext value) does nothing and release succeeds.
func TestHoldWithoutAConnDoesNothing(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := Hold(r)(); err != nil {
		t.Fatal(err)
	}
}
