package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers every request with handle and counts the
// connections its clients opened.
func countingServer(t *testing.T, handle http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(handle)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestRawClientSendsTheRequestAndReadsTheAnswer(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPut || r.URL.RequestURI() != "/registry-svc/instance?x=a+b" ||
			r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" ||
			string(body) != `{"url":"u"}` {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+string(body), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		// Larger than one read, so the body is read in several.
		json.NewEncoder(w).Encode(map[string]string{"id": "i1", "pad": strings.Repeat("x", 200<<10)})
	})
	h := &rawClient{}
	defer h.closeIdle()
	for range 3 {
		var got struct{ ID string }
		code, err := h.do(context.Background(), http.MethodPut, srv.URL+"/registry-svc/instance?x=a+b", "tok", []byte(`{"url":"u"}`),
			func(r io.Reader) error { return json.NewDecoder(r).Decode(&got) })
		if err != nil || code != http.StatusCreated || got.ID != "i1" {
			t.Fatalf("code %d, err %v, id %q", code, err, got.ID)
		}
	}
	// A GET without a body, answered with an error status: read whole, kept.
	code, err := h.do(context.Background(), http.MethodGet, srv.URL+"/other", "", nil, nil)
	if err != nil || code != http.StatusBadRequest {
		t.Fatalf("GET: code %d, err %v", code, err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for four requests, want one kept alive", n)
	}
}

func TestRawClientSendsAgainWhenTheNodeClosedAnIdleConnection(t *testing.T) {
	var requests atomic.Int64
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusCreated)
	})
	h := &rawClient{}
	defer h.closeIdle()
	if code, err := h.do(context.Background(), http.MethodPut, srv.URL+"/a", "", []byte("{}"), nil); err != nil || code != http.StatusCreated {
		t.Fatalf("first: %d %v", code, err)
	}
	// The node drops the idle connection, as an idle timeout does.
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond) // the FIN reaches the client's socket
	if code, err := h.do(context.Background(), http.MethodPut, srv.URL+"/a", "", []byte("{}"), nil); err != nil || code != http.StatusCreated {
		t.Fatalf("after the close: %d %v", code, err)
	}
	if r, c := requests.Load(), conns.Load(); r != 2 || c != 2 {
		t.Fatalf("%d requests on %d connections, want 2 on 2", r, c)
	}
}

func TestRawClientOpensANewConnectionAfterConnectionClose(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "ok")
	})
	h := &rawClient{}
	defer h.closeIdle()
	for i := range 3 {
		if code, err := h.do(context.Background(), http.MethodGet, srv.URL+"/", "", nil, nil); err != nil || code != http.StatusOK {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
		if n := len(h.idle[strings.TrimPrefix(srv.URL, "http://")]); n != 0 {
			t.Fatalf("request %d: %d connections kept that the node closed", i, n)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3: the node asked to close each", n)
	}
}

func TestRawClientStopsWaitingWhenCancelled(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	h := &rawClient{}
	defer h.closeIdle()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := h.do(ctx, http.MethodGet, srv.URL+"/", "", nil, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled request succeeded")
		}
	case <-time.After(opTimeout / 2):
		t.Fatal("a cancelled request still waits for its answer")
	}
}

func TestATimedLoadEndsWithoutErrors(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		io.WriteString(w, `{"instances":[]}`)
	})
	res, err := Load(context.Background(), LoadConfig{Addrs: []string{srv.URL}, Mode: ModeRead, Clients: 32,
		Duration: 300 * time.Millisecond, InstancesPerSlug: 1, Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	// Requests in flight when the clock ends the run are not failures.
	if res.Errors != 0 || res.Ops == 0 {
		t.Fatalf("%d ops, %d errors %v (%s)", res.Ops, res.Errors, res.ErrorsByCode, res.FirstError)
	}
}

func TestRawClientRefusesEndlessHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Read the request first: a socket closed with unread bytes is
		// reset, and the reset would throw away what the client has not
		// read yet.
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Pad: ")
		pad := []byte(strings.Repeat("a", 64<<10))
		for range 64 { // 4 MB of one header line
			if _, err := c.Write(pad); err != nil {
				return
			}
		}
	}()
	h := &rawClient{}
	defer h.closeIdle()
	_, err = h.do(context.Background(), http.MethodGet, "http://"+ln.Addr().String()+"/", "", nil, nil)
	if !errors.Is(err, errAnswerHead) {
		t.Fatalf("err %v, want %v", err, errAnswerHead)
	}
}

func TestRawClientReadsPastInformationalAnswers(t *testing.T) {
	var n atomic.Int64
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated + int(n.Add(1)) - 1) // 201, then 202
	})
	h := &rawClient{}
	defer h.closeIdle()
	for _, want := range []int{http.StatusCreated, http.StatusAccepted} {
		code, err := h.do(context.Background(), http.MethodPut, srv.URL+"/", "", []byte("{}"), nil)
		if err != nil || code != want {
			t.Fatalf("code %d, err %v; want %d: each request gets its own final answer", code, err, want)
		}
	}
}

func TestLoadSendsItsToken(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	res, err := Load(context.Background(), LoadConfig{Addrs: []string{srv.URL}, Mode: ModeRegister, Clients: 4, Total: 20, Token: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 20 || res.Errors != 0 {
		t.Fatalf("%d ops, %d errors %v", res.Ops, res.Errors, res.ErrorsByCode)
	}
}
