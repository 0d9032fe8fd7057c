// Package proc runs the external tools dualkey's tests and demo start on
// loopback — Prism, stripe-mock, the Lambda Runtime Interface Emulator — the
// one way: find the executable (an environment variable, the module root, or
// PATH; at a pinned version where it matters), start it with its output kept
// within a bound, wait until it is ready, exits or takes too long, and kill
// it (its whole process group, where asked) and wait for it on Close.
package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ModuleRoot finds the directory holding go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Candidates returns where to look for a tool, in order: $env when set,
// inRoot (a slash-separated path) below the module root, and name on PATH.
// A candidate need not exist.
func Candidates(env, inRoot, name string) []string {
	var out []string
	if p := os.Getenv(env); p != "" {
		out = append(out, p)
	}
	if root, err := ModuleRoot(); err == nil {
		out = append(out, filepath.Join(root, filepath.FromSlash(inRoot)))
	}
	if p, err := exec.LookPath(name); err == nil {
		out = append(out, p)
	}
	return out
}

// FindPinned returns the first candidate that exists and whose version, as
// version reads it, is want. When there is none, refused describes every
// candidate that exists but was turned down ("PATH is V", or "PATH (why)"
// when its version could not be read); it is empty when none exists.
func FindPinned(candidates []string, want string, version func(path string) (string, error)) (path string, refused []string) {
	for _, p := range candidates {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		v, err := version(p)
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		if v != want {
			refused = append(refused, fmt.Sprintf("%s is %s", p, v))
			continue
		}
		return p, nil
	}
	return "", refused
}

// FirstExisting returns the first candidate that exists, or "".
func FirstExisting(candidates []string) string {
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Options says how Start runs a command.
type Options struct {
	// Name names the process in errors, e.g. "stripe-mock".
	Name string
	// Group runs the command in a process group of its own, which Close (and
	// the cancellation of a command made with exec.CommandContext) kills as
	// a whole, and has the kernel kill it when the starting thread dies.
	// Without it only the process itself is killed.
	Group bool
	// MaxLog bounds the output kept for Logs to its last MaxLog bytes; zero
	// keeps everything.
	MaxLog int
	// Line, when set, sees every line of standard output, which is then read
	// to its end (a tool that prints a line per request would block on a
	// full pipe otherwise); the line goes to the log when Line returns true.
	// Without Line, standard output goes to the log as it is.
	Line func(line string) (keep bool)
	// MaxLine bounds the lines Line sees; bufio's default (64 KiB) when
	// zero.
	MaxLine int
}

// Process is a command started by Start.
type Process struct {
	name  string
	cmd   *exec.Cmd
	group bool
	log   *Log
	done  chan struct{}
	once  sync.Once
}

// Start starts cmd as o says (cmd's Stdout and Stderr must be unset). Its
// standard error always goes to the log.
func Start(cmd *exec.Cmd, o Options) (*Process, error) {
	p := &Process{name: o.Name, cmd: cmd, group: o.Group, log: &Log{Max: o.MaxLog}, done: make(chan struct{})}
	if o.Group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if cmd.Cancel != nil { // made by exec.CommandContext
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		}
	}
	cmd.Stderr = p.log
	var stdout io.ReadCloser
	if o.Line == nil {
		cmd.Stdout = p.log
	} else {
		var err error
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, fmt.Errorf("%s stdout: %w", o.Name, err)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", o.Name, cmd.Path, err)
	}
	go func() {
		if stdout != nil {
			sc := bufio.NewScanner(stdout)
			if o.MaxLine > 0 {
				sc.Buffer(make([]byte, 64<<10), o.MaxLine)
			}
			for sc.Scan() {
				if line := sc.Text(); o.Line(line) {
					_, _ = p.log.Write([]byte(line + "\n"))
				}
			}
			_, _ = io.Copy(io.Discard, stdout)
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Await waits for the first value on ready and returns it. When the process
// exits first, or timeout passes (then the process is closed), it returns an
// error that says what the process was waited for (waitingFor, e.g. "listen")
// and quotes its log.
func Await[T any](p *Process, ready <-chan T, timeout time.Duration, waitingFor string) (T, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var zero T
	select {
	case v := <-ready:
		return v, nil
	case <-p.done:
		return zero, fmt.Errorf("%s exited at start: %s", p.name, p.Logs())
	case <-timer.C:
		_ = p.Close()
		return zero, fmt.Errorf("%s did not %s within %v: %s", p.name, waitingFor, timeout, p.Logs())
	}
}

// AwaitDial waits until addr accepts TCP connections, as Await does.
func (p *Process) AwaitDial(addr string, timeout time.Duration) error {
	ready := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				ready <- struct{}{}
				return
			}
			select {
			case <-stop:
				return
			case <-p.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	_, err := Await(p, ready, timeout, "listen on "+addr)
	return err
}

// Pid returns the process id (of the group leader with Options.Group).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and its output is read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Logs returns the output kept so far.
func (p *Process) Logs() string { return p.log.String() }

// ProcessState returns how the process exited; nil while it runs.
func (p *Process) ProcessState() *os.ProcessState {
	select {
	case <-p.done:
		return p.cmd.ProcessState
	default:
		return nil
	}
}

// Close kills the process (its process group with Options.Group) and waits
// until it has exited. It is safe to call more than once.
func (p *Process) Close() error {
	p.once.Do(func() {
		if p.cmd.Process == nil {
			return
		}
		if p.group {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		} else {
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.done
	return nil
}

// Log is an io.Writer safe for concurrent writers that keeps the last Max
// bytes written to it (everything when Max is zero).
type Log struct {
	Max int

	mu sync.Mutex
	b  []byte
}

// Write implements io.Writer.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if over := len(l.b) - l.Max; l.Max > 0 && over > 0 {
		l.b = append(l.b[:0], l.b[over:]...)
	}
	return len(p), nil
}

// String returns what the log holds.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

var _ io.Writer = (*Log)(nil)
