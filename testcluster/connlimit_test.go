package testcluster

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/httpapi"
)

// One client address holding many idle connections cannot starve the
// agent: past its cap new connections from it are closed at once, other
// clients are served, and the cap frees up as the connections close.
func TestConnectionsPerClientAreCapped(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, HTTP: httpapi.Options{MaxConnsPerClient: 20}})
	addr := strings.TrimPrefix(c.Member(0).URL, "http://")
	var hog []net.Conn
	defer func() {
		for _, h := range hog {
			h.Close()
		}
	}()
	for range 40 { // a slow client: connections that never send a request
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hog = append(hog, conn)
	}
	get := func(from string) error {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
		hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get("127.0.0.2"); err != nil {
		t.Fatalf("another client was not served while one held 40 connections: %v", err)
	}
	if err := get("127.0.0.1"); err == nil {
		t.Fatal("the hog's address got a 41st connection served")
	}
	// The closed excess connections see EOF; the 20 admitted ones stay.
	closed := 0
	for _, h := range hog {
		h.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := h.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed != 20 {
		t.Errorf("%d of 40 connections were closed at once, want the 20 over the cap", closed)
	}
	for _, h := range hog {
		h.Close()
	}
	hog = nil
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := Eventually(ctx, func() error { return get("127.0.0.1") }); err != nil {
		t.Fatalf("the address was not served again after closing its connections: %v", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
