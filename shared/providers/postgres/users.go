package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// quoteIdent quotes a role or database name (pgx doubles embedded quotes).
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// Role is a role as pg_roles and pg_auth_members describe it.
type Role struct {
	Name        string
	CanLogin    bool
	Superuser   bool
	CreateRole  bool
	CreateDB    bool
	Replication bool
	BypassRLS   bool
	Inherit     bool
	// MemberOf lists the roles it is a direct member of.
	MemberOf []Membership
}

// Membership is one direct role membership.
type Membership struct {
	Role string
	// Inherit is true when the member uses the role's privileges without
	// SET ROLE (PostgreSQL 16's INHERIT option; before 16, the member's
	// rolinherit).
	Inherit bool
	Admin   bool
}

// memberOf returns the membership in role, or nil.
func (r *Role) memberOf(role string) *Membership {
	for i := range r.MemberOf {
		if r.MemberOf[i].Role == role {
			return &r.MemberOf[i]
		}
	}
	return nil
}

// major returns the server's major version (15 for "15.18 (Debian ...)").
func (c *Conn) major() int {
	v := c.ServerVersion()
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

// Role returns the role called name, or an error wrapping ErrNoSuchUser.
func (c *Conn) Role(ctx context.Context, name string) (*Role, error) {
	return c.role(ctx, c.pg, name)
}

func (c *Conn) role(ctx context.Context, q queryer, name string) (*Role, error) {
	op := fmt.Sprintf("look up role %q", name)
	r := &Role{Name: name}
	err := c.scanRow(ctx, q, []any{&r.CanLogin, &r.Superuser, &r.CreateRole, &r.CreateDB, &r.Replication, &r.BypassRLS, &r.Inherit},
		`SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit
		FROM pg_catalog.pg_roles WHERE rolname = $1`, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, newError(op, ErrNoSuchUser, fmt.Sprintf("role %q does not exist", name), "", err)
	}
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	inherit := "m.inherit_option"
	if c.major() < 16 {
		inherit = "r.rolinherit"
	}
	err = c.forEach(ctx, q, func(rows pgx.Rows) error {
		var m Membership
		if err := rows.Scan(&m.Role, &m.Inherit, &m.Admin); err != nil {
			return err
		}
		r.MemberOf = append(r.MemberOf, m)
		return nil
	}, `SELECT g.rolname, `+inherit+`, m.admin_option
		FROM pg_catalog.pg_auth_members m
		JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
		JOIN pg_catalog.pg_roles r ON r.oid = m.member
		WHERE r.rolname = $1 ORDER BY g.rolname`, name)
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	return r, nil
}

// CheckAlternate applies dualkey's rule for recognising the alternate user
// a rotation made. AWS's function makes it with
//
//	CREATE ROLE "<base>_clone" WITH LOGIN PASSWORD ...; GRANT "<base>" TO "<base>_clone"
//
// and dualkey does the same, so a role named "<base>_clone" is accepted as
// the rotation's clone only when:
//
//  1. it is a direct member of "<base>" and inherits its privileges;
//  2. it has no role attribute "<base>" lacks (SUPERUSER, CREATEROLE,
//     CREATEDB, REPLICATION, BYPASSRLS);
//  3. it is a direct member of no other role that "<base>" is not itself a
//     direct member of.
//
// (PostgreSQL refuses circular memberships, so "<base>" cannot also be a
// member of its clone.)
//
// Anything else is someone else's role, or a clone whose privileges drifted
// from the base user's: handing out its password would give the secret's
// holders different privileges than the current user's (or take some away).
// The error wraps ErrNotClone, says which rule failed and how to fix it.
// Privileges granted directly on objects to the clone are not examined.
func (c *Conn) CheckAlternate(ctx context.Context, base, clone string) error {
	return c.checkAlternate(ctx, c.pg, base, clone)
}

func (c *Conn) checkAlternate(ctx context.Context, q queryer, base, clone string) error {
	b, err := c.role(ctx, q, base)
	if err != nil {
		return err
	}
	cl, err := c.role(ctx, q, clone)
	if err != nil {
		return err
	}
	return alternateProblem(b, cl)
}

func alternateProblem(b, cl *Role) error {
	op := fmt.Sprintf("check alternate user %q of %q", cl.Name, b.Name)
	fail := func(detail, fix string) error {
		return newError(op, ErrNotClone, detail, fix, nil)
	}
	m := cl.memberOf(b.Name)
	if m == nil {
		return fail(fmt.Sprintf("role %q exists but is not a member of %q, so a rotation did not make it", cl.Name, b.Name),
			fmt.Sprintf("drop or rename it if it is someone else's; if it is meant to be the alternate user, GRANT %s TO %s", quoteIdent(b.Name), quoteIdent(cl.Name)))
	}
	if !m.Inherit {
		return fail(fmt.Sprintf("role %q is a member of %q without inheriting its privileges", cl.Name, b.Name),
			fmt.Sprintf("GRANT %s TO %s WITH INHERIT TRUE (PostgreSQL 16+) or ALTER ROLE %s INHERIT", quoteIdent(b.Name), quoteIdent(cl.Name), quoteIdent(cl.Name)))
	}
	var extra []string
	for _, a := range []struct {
		name          string
		clone, baseOK bool
	}{
		{"SUPERUSER", cl.Superuser, b.Superuser},
		{"CREATEROLE", cl.CreateRole, b.CreateRole},
		{"CREATEDB", cl.CreateDB, b.CreateDB},
		{"REPLICATION", cl.Replication, b.Replication},
		{"BYPASSRLS", cl.BypassRLS, b.BypassRLS},
	} {
		if a.clone && !a.baseOK {
			extra = append(extra, a.name)
		}
	}
	if len(extra) > 0 {
		return fail(fmt.Sprintf("role %q has attributes %q lacks: %s", cl.Name, b.Name, strings.Join(extra, ", ")),
			fmt.Sprintf("ALTER ROLE %s NO%s if the clone should match", quoteIdent(cl.Name), strings.Join(extra, " NO")))
	}
	var roles []string
	for _, mm := range cl.MemberOf {
		if mm.Role != b.Name && b.memberOf(mm.Role) == nil {
			roles = append(roles, strconv.Quote(mm.Role))
		}
	}
	if len(roles) > 0 {
		return fail(fmt.Sprintf("role %q is also a member of %s, which %q is not", cl.Name, strings.Join(roles, ", "), b.Name),
			fmt.Sprintf("grant those roles to %q (the clone inherits them) or revoke them from %q", b.Name, cl.Name))
	}
	return nil
}

// AlternateRequest asks SetAlternate to make the pending user of an
// alternating pair log in with a new password and hold the current user's
// privileges.
type AlternateRequest = sqlcred.AlternateRequest

// AlternateResponse says what SetAlternate changed.
type AlternateResponse struct {
	// Created is true when the clone did not exist and was created.
	Created bool
	// Unlocked is true when the pending user had been switched off
	// (NOLOGIN) and may log in again.
	Unlocked bool
	// Settings counts the per-role settings (ALTER ROLE ... SET) copied
	// from the base user to the clone or removed from the clone.
	Settings int
	// SettingsSkipped names the settings the master user may not copy
	// (settings only a superuser may set, such as log_statement): the
	// rotation goes on without them; the glue should log a warning.
	SettingsSkipped []string
}

// SetAlternate makes req.Pending usable, in one transaction on the master
// session c (AWS's setSecret for the alternating-users strategy, plus
// dualkey's checks):
//
//   - when the pending user is the clone and does not exist, it is created
//     as AWS does (CREATE ROLE ... WITH LOGIN PASSWORD ...; GRANT "<base>"
//     TO "<clone>");
//   - otherwise the pair must pass CheckAlternate, and the pending user gets
//     the password and LOGIN in one statement, so a user switched off by
//     dualkey's lifecycle is switched on again as its new password is set;
//   - per-role settings (search_path and the like, which membership does
//     not pass on) are copied from the base user to the clone; those only a
//     superuser may set are skipped and named in the response.
//
// The password is sent as a SCRAM-SHA-256 verifier (or an MD5 hash when the
// server's password_encryption is md5), never in clear text. It holds the
// pair's advisory lock (see LockCredential), so it never interleaves with a
// switch-off of the same pair. Calling it again with the same request
// changes nothing a client could notice.
func (c *Conn) SetAlternate(ctx context.Context, req *AlternateRequest) (*AlternateResponse, error) {
	op := fmt.Sprintf("set alternate user %q", req.Pending)
	alt, err := AltUsername(req.Current)
	if err != nil {
		return nil, err
	}
	if req.Pending != alt {
		return nil, newError(op, ErrNotClone, fmt.Sprintf("the pending user is neither %q's alternate (%q) nor its base user", req.Current, alt),
			"a rotation only sets the password of the current user's alternate; fix the AWSPENDING version's username", nil)
	}
	if req.Pending == c.cfg.User {
		return nil, newError(op, ErrNotClone, "the pending user is the master user itself", "use a master secret of another user", nil)
	}
	if err := checkPassword(req.Password); err != nil {
		return nil, newError(op, ErrUnsafePassword, err.Error(), "", nil, req.Password)
	}
	base, clone := BaseUsername(req.Current), BaseUsername(req.Current)+CloneSuffix
	secrets := []string{req.Password}
	tx, err := c.begin(ctx)
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err, secrets...)
	}
	defer c.rollback(ctx, tx)
	if err := c.lockPair(ctx, tx, base); err != nil {
		return nil, err
	}
	method, iterations, err := c.passwordMethod(ctx, tx)
	if err != nil {
		return nil, err
	}
	baseRole, err := c.role(ctx, tx, base)
	if err != nil {
		return nil, err
	}
	resp := &AlternateResponse{}
	pendingRole, err := c.role(ctx, tx, req.Pending)
	switch {
	case errors.Is(err, ErrNoSuchUser) && req.Pending == clone:
		hash, err := hashPassword(method, clone, req.Password, iterations)
		if err != nil {
			return nil, newError(op, ErrUnsafePassword, err.Error(), "", nil, secrets...)
		}
		lit, err := hashLiteral(hash)
		if err != nil {
			return nil, newError(op, ErrUnsafePassword, err.Error(), "", nil, secrets...)
		}
		secrets = append(secrets, hash)
		if err := c.exec(ctx, tx, "CREATE ROLE "+quoteIdent(clone)+" WITH LOGIN PASSWORD "+lit); err != nil {
			return nil, classifyExec("create role "+strconv.Quote(clone), c.cfg.User, err, secrets...)
		}
		if err := c.exec(ctx, tx, "GRANT "+quoteIdent(base)+" TO "+quoteIdent(clone)); err != nil {
			return nil, classifyExec(fmt.Sprintf("grant %q to %q", base, clone), c.cfg.User, err, secrets...)
		}
		resp.Created = true
	case err != nil:
		return nil, err
	default:
		cloneRole := pendingRole
		if req.Pending == base {
			if cloneRole, err = c.role(ctx, tx, clone); err != nil {
				return nil, err
			}
		}
		if err := alternateProblem(baseRole, cloneRole); err != nil {
			return nil, err
		}
		hash, err := hashPassword(method, req.Pending, req.Password, iterations)
		if err != nil {
			return nil, newError(op, ErrUnsafePassword, err.Error(), "", nil, secrets...)
		}
		lit, err := hashLiteral(hash)
		if err != nil {
			return nil, newError(op, ErrUnsafePassword, err.Error(), "", nil, secrets...)
		}
		secrets = append(secrets, hash)
		if err := c.exec(ctx, tx, "ALTER ROLE "+quoteIdent(req.Pending)+" WITH LOGIN PASSWORD "+lit); err != nil {
			return nil, classifyExec("set password of "+strconv.Quote(req.Pending), c.cfg.User, err, secrets...)
		}
		resp.Unlocked = !pendingRole.CanLogin
	}
	n, skipped, err := c.syncSettings(ctx, tx, base, clone)
	if err != nil {
		return nil, err
	}
	resp.Settings, resp.SettingsSkipped = n, skipped
	if err := c.commit(ctx, tx); err != nil {
		return nil, classifyExec(op, c.cfg.User, err, secrets...)
	}
	return resp, nil
}

// passwordMethod reads how the server hashes passwords.
func (c *Conn) passwordMethod(ctx context.Context, q queryer) (method string, iterations int, err error) {
	var enc, iter string
	if err := c.scanRow(ctx, q, []any{&enc, &iter}, `SELECT current_setting('password_encryption'), coalesce(current_setting('scram_iterations', true), '')`); err != nil {
		return "", 0, classifyExec("read password_encryption", c.cfg.User, err)
	}
	iterations, _ = strconv.Atoi(iter)
	if enc == methodMD5 || enc == "on" {
		return methodMD5, 0, nil
	}
	return methodSCRAM, iterations, nil
}

// SetPasswordRequest asks SetPassword to change a user's password.
type SetPasswordRequest = sqlcred.SetPasswordRequest

// SetPassword changes a user's password and nothing else (AWS's
// single-user strategy, where the session is the user itself, which may
// always change its own password). Like SetAlternate it sends a verifier,
// never the password.
func (c *Conn) SetPassword(ctx context.Context, req *SetPasswordRequest) error {
	op := "set password of " + strconv.Quote(req.User)
	secrets := []string{req.Password}
	method, iterations, err := c.passwordMethod(ctx, c.pg)
	if err != nil {
		return err
	}
	hash, err := hashPassword(method, req.User, req.Password, iterations)
	if err != nil {
		return newError(op, ErrUnsafePassword, err.Error(), "", nil, secrets...)
	}
	lit, err := hashLiteral(hash)
	if err != nil {
		return newError(op, ErrUnsafePassword, err.Error(), "", nil, secrets...)
	}
	secrets = append(secrets, hash)
	if err := c.exec(ctx, c.pg, "ALTER ROLE "+quoteIdent(req.User)+" WITH PASSWORD "+lit); err != nil {
		return classifyExec(op, c.cfg.User, err, secrets...)
	}
	return nil
}

// Lock switches a user off reversibly (ALTER ROLE ... NOLOGIN): new logins
// fail with ErrLocked, its password and privileges stay, and sessions already
// open continue. It succeeds when the user is already locked. It refuses to
// lock the session's own user.
func (c *Conn) Lock(ctx context.Context, user string) error { return c.setLogin(ctx, user, false) }

// Unlock switches a locked user on again (ALTER ROLE ... LOGIN). It
// succeeds when the user is not locked.
func (c *Conn) Unlock(ctx context.Context, user string) error { return c.setLogin(ctx, user, true) }

func (c *Conn) setLogin(ctx context.Context, user string, login bool) error {
	op, attr := "lock "+strconv.Quote(user), "NOLOGIN"
	if login {
		op, attr = "unlock "+strconv.Quote(user), "LOGIN"
	}
	if user == c.cfg.User {
		return newError(op, ErrPrivilege, "refusing to change the login of the session's own user", "", nil)
	}
	if _, err := c.role(ctx, c.pg, user); err != nil {
		return err
	}
	if err := c.exec(ctx, c.pg, "ALTER ROLE "+quoteIdent(user)+" "+attr); err != nil {
		return classifyExec(op, c.cfg.User, err)
	}
	return nil
}

// Locked reports whether a user may not log in (NOLOGIN).
func (c *Conn) Locked(ctx context.Context, user string) (bool, error) {
	r, err := c.role(ctx, c.pg, user)
	if err != nil {
		return false, err
	}
	return !r.CanLogin, nil
}

// Session is one session of a user, as pg_stat_activity shows it. The query
// text is never read.
type Session struct {
	PID             int
	Database        string
	ApplicationName string
	// ClientAddr is the client's IP address; invalid for Unix-socket
	// sessions and when Hidden.
	ClientAddr netip.Addr
	ClientPort int
	// BackendStart is when the session began; zero when Hidden.
	BackendStart time.Time
	// StateChange is when the session last changed state (its last
	// activity); zero when Hidden.
	StateChange time.Time
	State       string
	// Hidden is true when the master user may not see the session's
	// details: it needs the privileges of pg_read_all_stats (or pg_monitor)
	// for client addresses and times. Application names are always shown.
	Hidden bool
}

// Sessions lists the sessions of user other than this one: the usage
// evidence the lifecycle needs before it switches a previous user off.
func (c *Conn) Sessions(ctx context.Context, user string) ([]Session, error) {
	op := "list sessions of " + strconv.Quote(user)
	var out []Session
	err := c.forEach(ctx, c.pg, func(rows pgx.Rows) error {
		var s Session
		var addr *string
		var start, change *time.Time
		if err := rows.Scan(&s.PID, &s.Database, &s.ApplicationName, &addr, &s.ClientPort, &start, &change, &s.State, &s.Hidden); err != nil {
			return err
		}
		if addr != nil {
			if p, err := netip.ParsePrefix(*addr); err == nil {
				s.ClientAddr = p.Addr()
			} else if a, err := netip.ParseAddr(*addr); err == nil {
				s.ClientAddr = a
			}
		}
		if start != nil {
			s.BackendStart = *start
		}
		if change != nil {
			s.StateChange = *change
		}
		if s.Hidden {
			s.State = ""
		}
		out = append(out, s)
		return nil
	}, `SELECT pid, coalesce(datname, ''), coalesce(application_name, ''),
		client_addr::text, coalesce(client_port, 0), backend_start, state_change, coalesce(state, ''),
		backend_start IS NULL
		FROM pg_catalog.pg_stat_activity
		WHERE usename = $1 AND pid <> pg_backend_pid() AND (backend_type = 'client backend' OR backend_type IS NULL)
		ORDER BY backend_start NULLS LAST, pid`, user)
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	return out, nil
}

// setting is one per-role setting: database ("" for all) and name=value.
type setting struct {
	db, name, value string
}

var gucName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$.]*$`)

// listGUCs are the settings whose stored value is a list of quoted
// elements (GUC_LIST_QUOTE); they are re-emitted element by element, as
// pg_dump does.
var listGUCs = map[string]bool{
	"search_path": true, "temp_tablespaces": true, "session_preload_libraries": true,
	"shared_preload_libraries": true, "local_preload_libraries": true, "unix_socket_directories": true,
}

func (c *Conn) settings(ctx context.Context, q queryer, role string) (map[string]setting, error) {
	out := map[string]setting{}
	err := c.forEach(ctx, q, func(rows pgx.Rows) error {
		var db, kv string
		if err := rows.Scan(&db, &kv); err != nil {
			return err
		}
		name, value, _ := strings.Cut(kv, "=")
		out[db+"\x00"+strings.ToLower(name)] = setting{db: db, name: name, value: value}
		return nil
	}, `SELECT coalesce(d.datname, ''), unnest(s.setconfig)
		FROM pg_catalog.pg_db_role_setting s
		JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
		LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
		WHERE r.rolname = $1`, role)
	if err != nil {
		return nil, classifyExec("read settings of "+strconv.Quote(role), c.cfg.User, err)
	}
	return out, nil
}

// syncSettings makes the clone's per-role settings equal to the base
// user's (settings are not inherited through membership, so a clone without
// the base user's search_path would see other tables). A setting the master
// user may not set (42501, settings reserved to superusers) is skipped and
// named, each statement in a savepoint of its own so that the transaction
// goes on.
func (c *Conn) syncSettings(ctx context.Context, tx pgx.Tx, base, clone string) (int, []string, error) {
	want, err := c.settings(ctx, tx, base)
	if err != nil {
		return 0, nil, err
	}
	have, err := c.settings(ctx, tx, clone)
	if err != nil {
		return 0, nil, err
	}
	type change struct{ name, stmt string }
	var changes []change
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w := want[k]
		if h, ok := have[k]; ok && h.value == w.value {
			continue
		}
		if !gucName.MatchString(w.name) {
			return 0, nil, newError(fmt.Sprintf("copy setting of %q", base), ErrServer, "a per-role setting has an unexpected name", "", nil)
		}
		changes = append(changes, change{w.name, "ALTER ROLE " + quoteIdent(clone) + inDatabase(w.db) + " SET " + w.name + " TO " + settingValue(w.name, w.value)})
	}
	for k, h := range have {
		if _, ok := want[k]; ok || !gucName.MatchString(h.name) {
			continue
		}
		changes = append(changes, change{h.name, "ALTER ROLE " + quoteIdent(clone) + inDatabase(h.db) + " RESET " + h.name})
	}
	n := 0
	var skipped []string
	for _, ch := range changes {
		if err := c.exec(ctx, tx, "SAVEPOINT dualkey_setting"); err != nil {
			return 0, nil, classifyExec("copy settings", c.cfg.User, err)
		}
		err := c.exec(ctx, tx, ch.stmt)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			n++
		case errors.As(err, &pgErr) && pgErr.Code == codeInsufficientPriv:
			if err := c.exec(ctx, tx, "ROLLBACK TO SAVEPOINT dualkey_setting"); err != nil {
				return 0, nil, classifyExec("copy settings", c.cfg.User, err)
			}
			skipped = append(skipped, ch.name)
		default:
			return 0, nil, classifyExec(fmt.Sprintf("copy settings of %q to %q", base, clone), c.cfg.User, err)
		}
		if err := c.exec(ctx, tx, "RELEASE SAVEPOINT dualkey_setting"); err != nil {
			return 0, nil, classifyExec("copy settings", c.cfg.User, err)
		}
	}
	return n, skipped, nil
}

func inDatabase(db string) string {
	if db == "" {
		return ""
	}
	return " IN DATABASE " + quoteIdent(db)
}

// settingValue renders a stored setting value as SET's argument.
func settingValue(name, value string) string {
	if !listGUCs[strings.ToLower(name)] {
		return quoteLiteral(value)
	}
	var parts []string
	for _, el := range splitGUCList(value) {
		parts = append(parts, quoteLiteral(el))
	}
	if len(parts) == 0 {
		return "''"
	}
	return strings.Join(parts, ", ")
}

// splitGUCList splits a stored list value (elements separated by commas,
// double-quoted where needed) into its elements, unquoted.
func splitGUCList(v string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case inQuote && ch == '"' && i+1 < len(v) && v[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"':
			inQuote = !inQuote
		case ch == ',' && !inQuote:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		case !inQuote && (ch == ' ' || ch == '\t') && cur.Len() == 0:
		default:
			cur.WriteByte(ch)
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" || len(out) > 0 {
		out = append(out, s)
	}
	return out
}

// quoteLiteral quotes a string as a SQL literal the way PostgreSQL's
// quote_literal does: quotes doubled, and an E-prefixed literal with doubled
// backslashes when there are backslashes, so the result means the same
// whatever standard_conforming_strings is. It is used for setting values
// read from the server, never for passwords.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}
