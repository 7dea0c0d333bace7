package health

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestTargetsRefuseWhatPointsInward(t *testing.T) {
	reachable := Targets{}
	local := Targets{Loopback: true}
	allow, err := ParseAllow([]string{"127.0.0.0/8", "169.254.10.10"})
	if err != nil {
		t.Fatal(err)
	}
	allowed := Targets{Allow: allow}
	for _, tc := range []struct {
		url                      string
		reachable, local, listed bool // accepted by each
	}{
		{"http://10.0.0.5:8080", true, true, true},
		{"https://user-service:8443", true, true, true}, // names are checked when dialled
		{"tcp://db.internal:5432", true, true, true},
		{"http://127.0.0.1:8080", false, true, true},
		{"http://localhost:8080", false, true, true},
		{"http://[::1]:8080", false, true, false},
		{"http://169.254.169.254/latest", false, false, false},
		{"http://169.254.10.10:80", false, false, true},
		{"http://[fe80::1]:80", false, false, false},
		{"http://0.0.0.0:80", false, false, false},
		{"http://[::]:80", false, false, false},
		{"http://239.1.1.1:80", false, false, false},
		{"gopher://10.0.0.5:70", false, false, false},
		{"file:///etc/passwd", false, false, false},
	} {
		for _, c := range []struct {
			name string
			t    Targets
			want bool
		}{{"reachable", reachable, tc.reachable}, {"loopback-only", local, tc.local}, {"--allow-target", allowed, tc.listed}} {
			if err := c.t.CheckURL(tc.url); (err == nil) != c.want {
				t.Errorf("%s agent, %s: %v, want accepted %v", c.name, tc.url, err, c.want)
			}
		}
	}
	if _, err := ParseAllow([]string{"not-a-cidr"}); err == nil || !strings.Contains(err.Error(), "--allow-target") {
		t.Fatalf("a bad --allow-target: %v", err)
	}
}

// A name that resolves to a forbidden address is refused when dialled.
func TestTargetsRefuseAtDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &net.Dialer{Timeout: time.Second, Control: Targets{}.Control}
	if _, err := d.Dial("tcp", net.JoinHostPort("localhost", port)); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("localhost from a reachable agent: %v", err)
	}
	d.Control = Targets{Loopback: true}.Control
	c, err := d.Dial("tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("localhost from a loopback-only agent: %v", err)
	}
	c.Close()
	if err := (Targets{}).CheckIP(netip.MustParseAddr("::ffff:169.254.169.254")); err == nil {
		t.Fatal("an IPv4-mapped link-local address passed")
	}
}
