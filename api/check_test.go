package api

import (
	"testing"
	"time"
)

// Every write validates its check on the node that takes it, on the leader
// and on each replica: a valid one allocates nothing.
func TestValidCheckValidatesWithoutAllocating(t *testing.T) {
	for _, c := range []*Check{
		{Type: CheckNone},
		{Type: CheckHTTP, Path: "/health", Interval: Duration(10 * time.Second), Timeout: Duration(2 * time.Second), FailuresBeforeUnhealthy: 3, SuccessesBeforeHealthy: 1},
	} {
		if err := ValidateCheck(c); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = ValidateCheck(c) }); n != 0 {
			t.Errorf("%s check: %v allocations a validation", c.Type, n)
		}
	}
	// A refusal still names the types the field applies to.
	err := ValidateCheck(&Check{Type: CheckNone, Path: "/x"})
	if e, ok := err.(*Error); !ok || e.Field != "check.path" || e.Message != "does not apply to none checks (only to [http])" {
		t.Errorf("path on a none check: %v", err)
	}
}
