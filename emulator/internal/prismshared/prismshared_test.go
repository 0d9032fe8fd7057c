package prismshared

import (
	"testing"

	"github.com/dualkey/dualkey/internal/prism"
)

func TestOnce(t *testing.T) {
	type env struct{ n int }
	var o Once[env]
	starts, stops := 0, 0
	start := func(g *prism.Group) (*env, error) {
		if g == nil {
			t.Fatal("start got no group")
		}
		starts++
		return &env{n: starts}, nil
	}
	stop := func(*env) { stops++ }
	o.Close(stop)
	if stops != 0 {
		t.Fatal("Close before Get stopped something")
	}
	a, b := o.Get(t, start), o.Get(t, start)
	if a != b || starts != 1 {
		t.Fatalf("two Gets started %d environments (same: %v), want one", starts, a == b)
	}
	o.Close(stop)
	o.Close(stop)
	if stops != 1 {
		t.Fatalf("Close stopped %d times, want 1", stops)
	}
	if c := o.Get(t, start); c.n != 2 {
		t.Fatalf("Get after Close = environment %d, want a new one (2)", c.n)
	}
}
