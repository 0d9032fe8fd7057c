// Package dbtest starts throwaway database servers for dualkey's tests: a
// real PostgreSQL and a real MariaDB from Debian's packages (postgresql,
// mariadb-server), each initialised in a temporary directory, listening on
// 127.0.0.1 on a free port with TLS on (a certificate signed by a throwaway
// CA, whose PEM the Server exposes), and stopped and removed when the test
// that started it ends.
//
// Two ways to get a server:
//
//   - StartPostgres(t) / StartMariaDB(t): a server of the test's own, stopped
//     by t.Cleanup.
//
//   - SharedPostgres(t) / SharedMariaDB(t): one server per test binary,
//     started on first use and stopped when the package's tests are done.
//     The package's TestMain must call dbtest.Main:
//
//     func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
//
// Tests that share a server create their own users and databases with
// UniqueName, so they can run in parallel.
//
// When the server binaries are missing, a test fails with the command that
// installs them when the CI environment variable is set, and is skipped with
// the same message otherwise. `make tools` runs install-packages.sh, which
// installs them.
//
// Start-up is fast because the result of initdb and mariadb-install-db is
// cached (a template data directory per server version under the user's cache
// directory, $XDG_CACHE_HOME or ~/.cache, in dualkey-dbtest/) and copied for
// each server. Set DUALKEY_DBTEST_CACHE=off to initialise every server from
// scratch.
//
// Servers' directories go to /dev/shm when it is a tmpfs with at least 1 GiB
// free (copying onto a virtual disk is ten times slower), else to the
// temporary directory; DUALKEY_DBTEST_DIR overrides. DUALKEY_PG_BINDIR and
// DUALKEY_MARIADB_BINDIR point at other server binaries. As root, PostgreSQL
// runs as the postgres account (or nobody) and MariaDB with --user=root. A
// test process that dies leaves its servers behind; the next run stops them
// and removes their directories.
package dbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// InstallHint tells a developer how to get the database servers.
const InstallHint = "run `make tools` (it runs internal/dbtest/install-packages.sh), " +
	"or: sudo apt-get install -y --no-install-recommends postgresql mariadb-server"

// ErrNotInstalled is wrapped by the error returned when a server's binaries
// are missing.
var ErrNotInstalled = errors.New("database server not installed")

// Engine names.
const (
	EnginePostgres = "postgres"
	EngineMariaDB  = "mariadb"
)

// Options tune a server.
type Options struct {
	// LogStatements makes the server write every statement it runs to its
	// log (PostgreSQL log_statement=all, MariaDB's general query log), so a
	// test can prove that no password reaches the server's logs.
	LogStatements bool
}

// Server is a running throwaway database server.
type Server struct {
	Engine  string // EnginePostgres or EngineMariaDB
	Version string // as the server reports it, such as "15.18 (Debian 15.18-0+deb12u1)"
	Host    string // always "127.0.0.1"
	Port    int
	// AdminUser is a superuser (PostgreSQL "postgres", MariaDB "dbtest"
	// with ALL PRIVILEGES WITH GRANT OPTION) that tests use for set-up;
	// tests that need an RDS-like master user create one with less power.
	AdminUser     string
	AdminPassword string
	// CAPEM is the certificate of the CA that signed the server's
	// certificate (SAN 127.0.0.1, ::1, localhost).
	CAPEM []byte
	// CAFile is CAPEM on disk, for clients that want a path.
	CAFile string
	// Socket is the Unix socket (MariaDB) or socket directory (PostgreSQL).
	Socket string

	ca      *CA
	dir     string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	stopSig syscall.Signal
	stopped sync.Once
	stopErr error
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DSN returns a connection string for user that verifies the server: a
// libpq URL (PostgresURL) for PostgreSQL, a go-sql-driver DSN (MySQLDSN)
// for MariaDB. dbname may be "" (PostgreSQL: the postgres database).
func (s *Server) DSN(user, password, dbname string) string {
	if s.Engine == EngineMariaDB {
		return s.MySQLDSN(user, password, dbname)
	}
	if dbname == "" {
		dbname = "postgres"
	}
	return s.PostgresURL(user, password, dbname)
}

// CA returns the CA that signed the server's certificate.
func (s *Server) CA() *CA { return s.ca }

// Log returns what the server wrote to its log so far.
func (s *Server) Log() (string, error) {
	b, err := os.ReadFile(s.logPath)
	if s.Engine == EngineMariaDB {
		if g, gerr := os.ReadFile(filepath.Join(s.dir, "general.log")); gerr == nil {
			b = append(b, g...)
		}
	}
	return string(b), err
}

// Stop stops the server and removes its directory. It is safe to call more
// than once.
func (s *Server) Stop() error {
	s.stopped.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(s.stopSig)
			select {
			case <-s.done:
			case <-time.After(15 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
				s.stopErr = fmt.Errorf("%s did not stop within 15s and was killed", s.Engine)
			}
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = err
		}
	})
	return s.stopErr
}

// exited reports whether the server process has exited.
func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// logTail returns the end of the server log, for start-up errors.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return strings.TrimSpace(string(b))
}

// StartPostgres starts a PostgreSQL server for the test, stopped when the
// test ends.
func StartPostgres(t testing.TB) *Server { return startFor(t, EnginePostgres, Options{}) }

// StartPostgresWith is StartPostgres with options.
func StartPostgresWith(t testing.TB, opts Options) *Server {
	return startFor(t, EnginePostgres, opts)
}

// StartMariaDB starts a MariaDB server for the test, stopped when the test
// ends.
func StartMariaDB(t testing.TB) *Server { return startFor(t, EngineMariaDB, Options{}) }

// StartMariaDBWith is StartMariaDB with options.
func StartMariaDBWith(t testing.TB, opts Options) *Server {
	return startFor(t, EngineMariaDB, opts)
}

func startFor(t testing.TB, engine string, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), engine, opts)
	if err != nil {
		SkipOrFail(t, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop %s: %v", engine, err)
		}
	})
	return s
}

// SkipOrFail ends the test because of err: a skip when err wraps
// ErrNotInstalled and the CI environment variable is unset, a failure
// otherwise (CI must never skip silently).
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skip(err.Error())
		return
	}
	t.Fatal(err.Error())
}

// Start starts a server without a test (the caller stops it). Most tests
// want StartPostgres, StartMariaDB or the shared servers instead.
func Start(ctx context.Context, engine string, opts Options) (*Server, error) {
	sweepOnce.Do(sweep)
	switch engine {
	case EnginePostgres:
		return startPostgres(ctx, opts)
	case EngineMariaDB:
		return startMariaDB(ctx, opts)
	}
	return nil, fmt.Errorf("dbtest: unknown engine %q", engine)
}

var (
	caOnce sync.Once
	ca     *CA
	caErr  error
)

// testCA is the CA of every server this process starts.
func testCA() (*CA, error) {
	caOnce.Do(func() { ca, caErr = NewCA("dualkey dbtest CA") })
	return ca, caErr
}

// instancePrefix starts the name of every server's temporary directory; the
// sweeper looks for it.
const instancePrefix = "dualkey-dbtest-"

// instanceBase is where servers' directories go: $DUALKEY_DBTEST_DIR, else
// /dev/shm when it is a tmpfs with room to spare (copying a data directory
// onto a disk is ten times slower on the virtual disks CI machines have),
// else the temporary directory.
func instanceBase() string {
	if d := os.Getenv("DUALKEY_DBTEST_DIR"); d != "" {
		return d
	}
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic && st.Bavail*uint64(st.Bsize) >= 1<<30 {
		return "/dev/shm"
	}
	return os.TempDir()
}

// newInstanceDir makes the server's directory and records which process
// owns it, so that a later run can remove it if this one dies.
func newInstanceDir(engine string) (string, error) {
	dir, err := os.MkdirTemp(instanceBase(), instancePrefix+engine+"-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

var sweepOnce sync.Once

// sweep removes the directories of servers whose test process died without
// stopping them (a panic, a timeout, a kill), and stops such a server if it
// is still running. It only touches directories named by this package whose
// owner process is gone, and only signals a process whose command line
// names that directory.
func sweep() {
	var matches []string
	for _, base := range []string{instanceBase(), os.TempDir(), "/dev/shm"} {
		m, _ := filepath.Glob(filepath.Join(base, instancePrefix+"*"))
		matches = append(matches, m...)
	}
	for _, dir := range matches {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner == os.Getpid() || alive(owner) {
			continue
		}
		for _, pidFile := range []string{"data/postmaster.pid", "mariadbd.pid"} {
			pb, err := os.ReadFile(filepath.Join(dir, pidFile))
			if err != nil {
				continue
			}
			line, _, _ := strings.Cut(string(pb), "\n")
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil || pid <= 1 {
				continue
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err == nil && bytes.Contains(cmdline, []byte(dir)) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				time.Sleep(100 * time.Millisecond)
			}
		}
		_ = os.RemoveAll(dir)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runAs is the account a server runs as: PostgreSQL refuses to run as root,
// so when the tests run as root (CI, containers) it runs as the postgres
// account Debian's package creates, or nobody.
type runAs struct {
	uid, gid int
	name     string
	cred     *syscall.Credential // nil: run as ourselves
}

func postgresAccount() (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return runAs{uid: uid, gid: gid, name: name, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}, nil
	}
	return runAs{}, errors.New("dbtest: running as root and neither a postgres nor a nobody account exists; PostgreSQL refuses to run as root")
}

// chownTree gives a directory tree to the server's account.
func (r runAs) chownTree(dir string) error {
	if r.cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, r.uid, r.gid)
	})
}

// command builds a server command whose output goes to logPath and that is
// killed with sig if the test process dies.
func command(bin string, args []string, acct runAs, logFile *os.File, sig syscall.Signal) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig, Credential: acct.cred}
	return cmd
}

// run runs a set-up command (initdb, mariadb-install-db) and returns its
// output on failure.
func run(ctx context.Context, acct runAs, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 3000 {
			out = out[len(out)-3000:]
		}
		return fmt.Errorf("%s: %w\n%s", filepath.Base(bin), err, out)
	}
	return nil
}

// launch starts cmd and returns a channel closed when it exits.
func launch(cmd *exec.Cmd) (chan struct{}, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return done, nil
}

// launchOnFreePort starts bin (as acct, stopped with sig) with the
// arguments args gives for a free loopback port and waits until setUp
// succeeds; when the server exited because another process took the port
// meanwhile, it tries a new one, three times at most. It stops s when it
// fails; name names the server in errors.
func launchOnFreePort(ctx context.Context, s *Server, name, bin string, acct runAs, sig syscall.Signal,
	setUp func(context.Context, *Server) error, args func(port int) []string) (*Server, error) {
	fail := func(err error) (*Server, error) {
		_ = s.Stop()
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		s.Port = port
		logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fail(err)
		}
		s.cmd = command(bin, args(port), acct, logFile, sig)
		s.done, err = launch(s.cmd)
		logFile.Close()
		if err != nil {
			return fail(fmt.Errorf("start %s: %w", name, err))
		}
		err = waitUntil(ctx, s, 60*time.Second, func(ctx context.Context) error { return setUp(ctx, s) })
		if err == nil {
			return s, nil
		}
		if attempt < 3 && s.exited() && addrInUse(s.logTail()) {
			continue // another process took the port; try a new one
		}
		return fail(err)
	}
}

// cacheRoot returns the directory holding template data directories, or
// "" when caching is off or the directory is not safely ours.
func cacheRoot() string {
	if os.Getenv("DUALKEY_DBTEST_CACHE") == "off" {
		return ""
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	root := filepath.Join(base, "dualkey-dbtest")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return ""
	}
	if fi, err := os.Stat(root); err != nil || !ownedByUs(fi) {
		return ""
	}
	return root
}

// cachedTemplate returns the template data directory cached under key, or
// "" when there is none.
func cachedTemplate(key string) string {
	root := cacheRoot()
	if root == "" {
		return ""
	}
	final := filepath.Join(root, key)
	if _, err := os.Stat(filepath.Join(final, ".dbtest-complete")); err != nil {
		return ""
	}
	return filepath.Join(final, "data")
}

// storeTemplate copies a freshly initialised data directory (before its
// server first starts) into the cache under key. It copies into a fresh
// directory and renames it into place: a crash leaves only a stray build
// directory, and of two concurrent builders one wins the rename and the
// other discards its copy. Failing to cache is not an error.
func storeTemplate(ctx context.Context, key, data string) {
	root := cacheRoot()
	if root == "" {
		return
	}
	work, err := os.MkdirTemp(root, "build-")
	if err != nil {
		return
	}
	defer os.RemoveAll(work)
	if copyTree(ctx, data, filepath.Join(work, "data")) != nil {
		return
	}
	if os.WriteFile(filepath.Join(work, ".dbtest-complete"), nil, 0o600) != nil {
		return
	}
	_ = os.Rename(work, filepath.Join(root, key))
}

func ownedByUs(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// copyTree copies a template data directory, keeping modes and owners.
func copyTree(ctx context.Context, src, dst string) error {
	out, err := exec.CommandContext(ctx, "cp", "-a", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy template %s: %w: %s", src, err, out)
	}
	return nil
}

// binaryKey names a cache entry after a server binary, so that an upgraded
// package gets a new template.
func binaryKey(engine, bin string, acct runAs, extra string) string {
	fi, err := os.Stat(bin)
	stamp := "0"
	if err == nil {
		stamp = fmt.Sprintf("%d-%d", fi.Size(), fi.ModTime().Unix())
	}
	return fmt.Sprintf("%s-%s-%s-u%d%s", engine, filepath.Base(filepath.Dir(filepath.Dir(bin))), stamp, acct.uid, extra)
}

var nameSeq atomic.Uint64

// UniqueName returns a short name (a lower-case prefix, a sequence number
// and random hex) that no other test of this run uses, for users and
// databases on a shared server. prefix should be at most 6 characters so
// that the name plus AWS's "_clone" suffix stays within MySQL's 32.
func UniqueName(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d_%s", strings.ToLower(prefix), nameSeq.Add(1), hex.EncodeToString(b[:]))
}

// randomPassword returns a password for the admin account.
func randomPassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "Dbt-" + hex.EncodeToString(b[:])
}

// waitUntil polls ready until it returns nil, the process exits, or the
// deadline passes.
func waitUntil(ctx context.Context, s *Server, limit time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	for {
		if s.exited() {
			return fmt.Errorf("%s exited during start-up:\n%s", s.Engine, s.logTail())
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		last = ready(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v\n%s", s.Engine, limit, last, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// addrInUse reports whether a server failed because its port was taken
// between freePort and its bind.
func addrInUse(log string) bool {
	return strings.Contains(log, "Address already in use") || strings.Contains(log, "could not bind")
}
