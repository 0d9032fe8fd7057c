package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFindPinned(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, good, broken, absent := mk("old"), mk("good"), mk("broken"), filepath.Join(dir, "absent")
	version := func(p string) (string, error) {
		switch p {
		case old:
			return "1.0", nil
		case good:
			return "2.0", nil
		}
		return "", errors.New("no version")
	}
	tests := []struct {
		name        string
		candidates  []string
		want        string
		wantRefused []string
	}{
		{"first pinned wins", []string{absent, old, broken, good}, good, nil},
		{"none exists", []string{absent}, "", nil},
		{"none pinned", []string{old, broken, absent}, "", []string{old + " is 1.0", broken + " (no version)"}},
		{"no candidates", nil, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, refused := FindPinned(tc.candidates, "2.0", version)
			if got != tc.want || !slices.Equal(refused, tc.wantRefused) {
				t.Fatalf("FindPinned = %q %q, want %q %q", got, refused, tc.want, tc.wantRefused)
			}
		})
	}
	if got := FirstExisting([]string{absent, old, good}); got != old {
		t.Fatalf("FirstExisting = %q, want %q", got, old)
	}
	if got := FirstExisting([]string{absent}); got != "" {
		t.Fatalf("FirstExisting = %q, want none", got)
	}
}

func TestCandidates(t *testing.T) {
	bin := t.TempDir()
	tool := filepath.Join(bin, "dualkey-proc-test-tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	t.Setenv("DUALKEY_PROC_TEST", "/somewhere/tool")
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("ModuleRoot %s has no go.mod", root)
	}
	got := Candidates("DUALKEY_PROC_TEST", "bin/dualkey-proc-test-tool", "dualkey-proc-test-tool")
	want := []string{"/somewhere/tool", filepath.Join(root, "bin", "dualkey-proc-test-tool"), tool}
	if !slices.Equal(got, want) {
		t.Fatalf("Candidates = %q, want %q", got, want)
	}
	t.Setenv("DUALKEY_PROC_TEST", "")
	t.Setenv("PATH", "")
	if got := Candidates("DUALKEY_PROC_TEST", "bin/x", "dualkey-proc-test-tool"); !slices.Equal(got, []string{filepath.Join(root, "bin", "x")}) {
		t.Fatalf("Candidates without env and PATH = %q", got)
	}
}

func TestLog(t *testing.T) {
	tests := []struct {
		max    int
		writes []string
		want   string
	}{
		{0, []string{"abc", "def"}, "abcdef"},
		{4, []string{"abc", "def"}, "cdef"},
		{4, []string{"abcdefgh"}, "efgh"},
		{10, []string{"abc"}, "abc"},
	}
	for _, tc := range tests {
		l := &Log{Max: tc.max}
		for _, w := range tc.writes {
			if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if got := l.String(); got != tc.want {
			t.Fatalf("Max %d %q: %q, want %q", tc.max, tc.writes, got, tc.want)
		}
	}
}

func sh(script string) *exec.Cmd { return exec.Command("/bin/sh", "-c", script) }

// TestStartAwaitLine: Line sees every line of standard output, keeps what it
// returns true for, and the value it sends ends Await; standard error is kept.
func TestStartAwaitLine(t *testing.T) {
	ready := make(chan string, 1)
	seen := 0
	line := func(l string) bool {
		seen++
		if a, ok := strings.CutPrefix(l, "READY "); ok {
			ready <- a
		}
		return !strings.HasPrefix(l, "noise")
	}
	p, err := Start(sh("echo noise; echo oops >&2; echo 'READY at 1'; echo after"), Options{Name: "t", Line: line})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := Await(p, ready, time.Minute, "get ready")
	if err != nil || got != "at 1" {
		t.Fatalf("Await = %q, %v", got, err)
	}
	<-p.Done()
	logs := p.Logs()
	if strings.Contains(logs, "noise") || !strings.Contains(logs, "READY at 1\n") || !strings.Contains(logs, "oops\n") || !strings.Contains(logs, "after\n") {
		t.Fatalf("logs %q", logs)
	}
	if seen != 3 || p.ProcessState() == nil {
		t.Fatalf("Line saw %d lines, state %v", seen, p.ProcessState())
	}
}

func TestAwaitExitAndTimeout(t *testing.T) {
	never := make(chan struct{})
	p, err := Start(sh("echo bad config >&2; exit 3"), Options{Name: "tool"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Await(p, never, time.Minute, "listen")
	if err == nil || err.Error() != "tool exited at start: bad config\n" {
		t.Fatalf("exit: %v", err)
	}
	p, err = Start(sh("echo starting; exec sleep 60"), Options{Name: "tool"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Await(p, never, 200*time.Millisecond, "listen")
	if err == nil || !strings.HasPrefix(err.Error(), "tool did not listen within 200ms: starting") {
		t.Fatalf("timeout: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("a process that timed out is still running")
	}
}

func TestStartFails(t *testing.T) {
	_, err := Start(exec.Command(filepath.Join(t.TempDir(), "missing")), Options{Name: "tool"})
	if err == nil || !strings.HasPrefix(err.Error(), "start tool ") {
		t.Fatalf("err = %v", err)
	}
}

// TestClose: Close kills the process, waits for it and is safe to call
// twice.
func TestClose(t *testing.T) {
	p, err := Start(sh("exec sleep 60"), Options{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if p.ProcessState() != nil {
		t.Fatal("process state known while it runs")
	}
	for range 2 {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		st := p.ProcessState()
		if st == nil {
			t.Fatal("process state unknown after Close")
		}
		if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("process ended with %v, want SIGKILL", st)
		}
	}
}

// TestGroupKillsChildren: with Group, Close and the cancellation of the
// command's context kill the process's children too.
func TestGroupKillsChildren(t *testing.T) {
	for _, how := range []string{"Close", "context"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan string, 1)
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "sleep 60 & echo $!; wait")
			p, err := Start(cmd, Options{Name: "t", Group: true, Line: func(l string) bool { ready <- l; return true }})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			child, err := Await(p, ready, time.Minute, "start its child")
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(child)
			if !alive(pid) {
				t.Fatalf("child %d not running", pid)
			}
			if how == "Close" {
				_ = p.Close()
			} else {
				cancel()
				<-p.Done()
			}
			// SIGKILL is delivered asynchronously: give the child time to
			// die, without timing anything.
			for i := 0; alive(pid); i++ {
				if i == 1000 {
					t.Fatalf("child %d alive 10 s after the group was killed", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestAwaitDial: AwaitDial returns once the address accepts connections.
// (Its failures are Await's, tested above.)
func TestAwaitDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	p, err := Start(sh("exec sleep 60"), Options{Name: "tool"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.AwaitDial(addr, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// alive reports whether pid runs: it exists and is not a zombie waiting for
// a parent that is gone to be reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z'
}
