package faultnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer accepts connections on loopback and echoes what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestNilSwitchIsAPlainDialer(t *testing.T) {
	var s *Switch
	addr := echoServer(t)
	c, err := s.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Block(addr) // no-op on nil
	if s.Blocked(addr) {
		t.Fatal("a nil switch blocks nothing")
	}
	roundTrip(t, c)
}

func TestBlockedDialTimesOutAndHealWakesIt(t *testing.T) {
	s := New()
	addr := echoServer(t)
	s.Block(addr)
	_, err := s.DialTimeout("tcp", addr, 100*time.Millisecond)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !op.Timeout() || !errors.Is(err, ErrBlocked) {
		t.Fatalf("blocked dial: %v, want a dial timeout caused by ErrBlocked", err)
	}
	// A dial waiting on the partition goes through once it heals.
	done := make(chan error, 1)
	go func() {
		c, err := s.DialTimeout("tcp", addr, 10*time.Second)
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.Heal()
	if err := <-done; err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
}

func TestBlockBreaksOpenConnectionsToThatAddressOnly(t *testing.T) {
	s := New()
	a, b := echoServer(t), echoServer(t)
	ca, err := s.DialTimeout("tcp", a, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := s.DialTimeout("tcp", b, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	s.Block(a)
	if _, err := ca.Write([]byte("x")); err == nil {
		t.Fatal("write to a blocked address succeeded")
	}
	_ = ca.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := ca.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a blocked address: %v, want broken", err)
	}
	roundTrip(t, cb)
	if !s.Blocked(a) || s.Blocked(b) {
		t.Fatal("Blocked disagrees with what was blocked")
	}
}

func TestSlowDelaysWrites(t *testing.T) {
	s := New()
	addr := echoServer(t)
	c, err := s.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Slow(80*time.Millisecond, addr)
	if s.Delay(addr) != 80*time.Millisecond {
		t.Fatalf("delay %v", s.Delay(addr))
	}
	start := time.Now()
	roundTrip(t, c)
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Fatalf("round trip through a slowed link took %v, want at least the 80ms delay", took)
	}
	s.Slow(0, addr)
	if s.Delay(addr) != 0 {
		t.Fatal("Slow(0) kept the delay")
	}
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}
