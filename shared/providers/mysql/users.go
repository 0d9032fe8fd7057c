package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// hosts lists the host parts of the accounts (not roles) named user.
func (c *Conn) hosts(ctx context.Context, user string) ([]string, error) {
	q := "SELECT Host FROM mysql.user WHERE User = ? ORDER BY Host"
	if c.flavor == FlavorMariaDB {
		q = "SELECT Host FROM mysql.user WHERE User = ? AND is_role = 'N' ORDER BY Host"
	}
	rows, err := c.conn.QueryContext(ctx, q, user)
	if err != nil {
		return nil, classifyExec("look up user "+strconv.Quote(user), c.cfg.User, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, classifyExec("look up user "+strconv.Quote(user), c.cfg.User, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Account returns the one account named user. A user name with accounts
// for several hosts is ambiguous (AWS's functions assume host '%'; dualkey
// takes the only one there is and refuses to guess between several).
func (c *Conn) Account(ctx context.Context, user string) (Account, error) {
	hosts, err := c.hosts(ctx, user)
	if err != nil {
		return Account{}, err
	}
	op := "look up user " + strconv.Quote(user)
	switch len(hosts) {
	case 0:
		return Account{}, newError(op, ErrNoSuchUser, fmt.Sprintf("no account named %q exists", user), "", nil)
	case 1:
		return Account{User: user, Host: hosts[0]}, nil
	}
	return Account{}, newError(op, ErrServer, fmt.Sprintf("user %q has accounts for several hosts (%s), so it is ambiguous which one the secret means", user, strings.Join(quoteAll(hosts), ", ")),
		"keep one account per user name for rotated users", nil)
}

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strconv.Quote(s)
	}
	return out
}

// grantsOf runs SHOW GRANTS FOR the account and parses it. The lines hold
// the account's password hash; they never reach an error message.
func (c *Conn) grantsOf(ctx context.Context, a Account) ([]grant, error) {
	return c.showGrants(ctx, "SHOW GRANTS FOR "+a.String(), "read the grants of "+a.String())
}

func (c *Conn) showGrants(ctx context.Context, query, op string) ([]grant, error) {
	rows, err := c.conn.QueryContext(ctx, query)
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	defer rows.Close()
	var out []grant
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, classifyExec(op, c.cfg.User, err)
		}
		g, err := parseGrant(line)
		if err != nil {
			return nil, newError(op, ErrServer, err.Error(), "", nil)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	return out, nil
}

// accountInfo is what mysql.user says about an account beyond its grants.
type accountInfo struct {
	plugin                   string
	sslType                  string
	cipher, issuer, subject  string
	maxQuestions, maxUpdates int64
	maxConnections           int64
	maxUserConnections       int64
	maxStatementTime         string // MariaDB only
}

func (c *Conn) info(ctx context.Context, a Account) (*accountInfo, error) {
	op := "read the account " + a.String()
	var i accountInfo
	var cipher, issuer, subject []byte
	var err error
	if c.flavor == FlavorMariaDB {
		err = c.conn.QueryRowContext(ctx, `SELECT plugin, ssl_type, ssl_cipher, x509_issuer, x509_subject,
			max_questions, max_updates, max_connections, max_user_connections, max_statement_time
			FROM mysql.user WHERE User = ? AND Host = ?`, a.User, a.Host).
			Scan(&i.plugin, &i.sslType, &cipher, &issuer, &subject, &i.maxQuestions, &i.maxUpdates, &i.maxConnections, &i.maxUserConnections, &i.maxStatementTime)
	} else {
		err = c.conn.QueryRowContext(ctx, `SELECT plugin, ssl_type, ssl_cipher, x509_issuer, x509_subject,
			max_questions, max_updates, max_connections, max_user_connections
			FROM mysql.user WHERE User = ? AND Host = ?`, a.User, a.Host).
			Scan(&i.plugin, &i.sslType, &cipher, &issuer, &subject, &i.maxQuestions, &i.maxUpdates, &i.maxConnections, &i.maxUserConnections)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, newError(op, ErrNoSuchUser, "the account does not exist", "", err)
	}
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	i.cipher, i.issuer, i.subject = string(cipher), string(issuer), string(subject)
	if i.plugin == "" {
		i.plugin = pluginNative // MariaDB's old-style accounts
	}
	return &i, nil
}

// requireAndLimits renders the account's TLS requirements and resource
// limits as ALTER USER clauses (AWS's function copies the former).
func (c *Conn) requireAndLimits(i *accountInfo) (string, []any, error) {
	var b strings.Builder
	var args []any
	switch strings.ToUpper(i.sslType) {
	case "":
		b.WriteString(" REQUIRE NONE")
	case "ANY":
		b.WriteString(" REQUIRE SSL")
	case "X509":
		b.WriteString(" REQUIRE X509")
	case "SPECIFIED":
		var parts []string
		for _, p := range []struct{ kw, v string }{{"CIPHER", i.cipher}, {"ISSUER", i.issuer}, {"SUBJECT", i.subject}} {
			if p.v != "" {
				parts = append(parts, p.kw+" ?")
				args = append(args, p.v)
			}
		}
		if len(parts) == 0 {
			b.WriteString(" REQUIRE X509")
		} else {
			b.WriteString(" REQUIRE " + strings.Join(parts, " AND "))
		}
	default:
		return "", nil, fmt.Errorf("unknown ssl_type %q", i.sslType)
	}
	fmt.Fprintf(&b, " WITH MAX_QUERIES_PER_HOUR %d MAX_UPDATES_PER_HOUR %d MAX_CONNECTIONS_PER_HOUR %d MAX_USER_CONNECTIONS %d",
		i.maxQuestions, i.maxUpdates, i.maxConnections, i.maxUserConnections)
	if c.flavor == FlavorMariaDB && i.maxStatementTime != "" {
		f, err := strconv.ParseFloat(i.maxStatementTime, 64)
		if err != nil {
			return "", nil, fmt.Errorf("unexpected max_statement_time")
		}
		b.WriteString(" MAX_STATEMENT_TIME " + strconv.FormatFloat(f, 'f', -1, 64))
	}
	return b.String(), args, nil
}

// identified renders the IDENTIFIED clause that gives an account the
// password with its authentication plugin. For mysql_native_password and
// MariaDB's ed25519 it sends the stored form dualkey computed, so the
// password never reaches the server. With plain set, it sends the password
// for the server to hash (MySQL's caching_sha2_password, whose stored form
// is salted by the server, and the fallback for MariaDB servers whose
// strict_password_validation refuses hashes); MySQL masks such passwords in
// its logs. secrets lists what the clause reveals, for redaction.
func (c *Conn) identified(plugin, password string, plain bool) (clause string, args []any, secrets []string, err error) {
	switch {
	case plugin == pluginNative && !plain:
		h := nativeHash(password)
		return "IDENTIFIED WITH mysql_native_password AS ?", []any{h}, []string{h}, nil
	case plugin == pluginNative:
		return "IDENTIFIED BY ?", []any{password}, nil, nil
	case plugin == pluginEd25519 && c.flavor == FlavorMariaDB && !plain:
		h, err := ed25519Hash(password)
		if err != nil {
			return "", nil, nil, err
		}
		return "IDENTIFIED VIA ed25519 USING ?", []any{h}, []string{h}, nil
	case plugin == pluginEd25519 && c.flavor == FlavorMariaDB:
		return "IDENTIFIED VIA ed25519 USING PASSWORD(?)", []any{password}, nil, nil
	case (plugin == pluginSHA2 || plugin == pluginSHA256) && c.flavor == FlavorMySQL:
		return "IDENTIFIED WITH " + plugin + " BY ?", []any{password}, nil, nil
	}
	return "", nil, nil, fmt.Errorf("%w: the account authenticates with %q, which has no password dualkey can set", ErrPlugin, plugin)
}

func passwordPlugin(plugin string) bool {
	switch plugin {
	case pluginNative, pluginEd25519, pluginSHA2, pluginSHA256:
		return true
	}
	return false
}

// AlternateRequest asks SetAlternate to make the pending user of an
// alternating pair log in with a new password and hold exactly the current
// user's privileges.
type AlternateRequest = sqlcred.AlternateRequest

// AlternateResponse says what SetAlternate changed.
type AlternateResponse struct {
	// Account is the pending account (same host as the current one).
	Account Account
	// Created is true when the account did not exist and was created.
	Created bool
	// Unlocked is true when the account had been locked (switched off)
	// and is unlocked now.
	Unlocked bool
	// Grants counts the GRANT, REVOKE and SET DEFAULT ROLE statements
	// replayed.
	Grants int
}

// SetAlternate makes req.Pending usable on the master session c: AWS's
// setSecret for the alternating-users strategy, made crash-safe and strict.
//
//  1. The pending account gets the current account's host. When it does not
//     exist it is created with the new password but locked (CREATE USER ...
//     ACCOUNT LOCK), so that a crash before the end leaves nothing anyone
//     can log in with.
//  2. When it exists it must hold no privilege the current account lacks
//     (dualkey's rule for telling a rotation's clone from someone else's
//     account, or from a clone whose privileges drifted: a REVOKE on the
//     current user that never reached the other one). It must authenticate
//     with a password plugin.
//  3. Every grant of SHOW GRANTS FOR the current account is replayed on the
//     pending one (privileges WITH GRANT OPTION, roles WITH ADMIN OPTION,
//     PROXY, partial revokes, the default role).
//  4. One last ALTER USER sets the password with the current account's
//     authentication plugin, its TLS requirements (REQUIRE SSL/X509/...) and
//     resource limits, and ACCOUNT UNLOCK, so a user switched off by the
//     lifecycle is switched on as its password is set. Only then does the
//     pending credential work.
//
// It holds the pair's lock (see LockCredential), so it never interleaves
// with a switch-off of the same pair. Calling it again with the same request
// changes nothing a client could notice.
func (c *Conn) SetAlternate(ctx context.Context, req *AlternateRequest) (*AlternateResponse, error) {
	op := fmt.Sprintf("set alternate user %q", req.Pending)
	engine := EngineMySQL
	if c.flavor == FlavorMariaDB {
		engine = EngineMariaDB
	}
	alt, err := AltUsername(req.Current, engine)
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
	release, err := c.lockPair(ctx, BaseUsername(req.Current))
	if err != nil {
		return nil, err
	}
	defer release()
	src, err := c.Account(ctx, req.Current)
	if err != nil {
		return nil, err
	}
	srcGrants, err := c.grantsOf(ctx, src)
	if err != nil {
		return nil, err
	}
	srcInfo, err := c.info(ctx, src)
	if err != nil {
		return nil, err
	}
	if !passwordPlugin(srcInfo.plugin) {
		return nil, newError(op, ErrPlugin, fmt.Sprintf("the current account %s authenticates with %q", src, srcInfo.plugin), "rotate only password accounts", nil)
	}
	tgt := Account{User: req.Pending, Host: src.Host}
	resp := &AlternateResponse{Account: tgt}
	exists, tgtGrants, err := c.checkTarget(ctx, src, srcGrants, tgt)
	if err != nil {
		return nil, err
	}
	secrets := []string{req.Password}
	if exists {
		if resp.Unlocked, err = c.Locked(ctx, tgt); err != nil {
			return nil, err
		}
	} else {
		plain, err := c.hashesRefused(ctx)
		if err != nil {
			return nil, err
		}
		clause, args, s, err := c.identified(srcInfo.plugin, req.Password, plain)
		if err != nil {
			return nil, newError(op, ErrPlugin, err.Error(), "", nil, secrets...)
		}
		secrets = append(secrets, s...)
		if err := c.exec(ctx, "create user "+tgt.String(), secrets, "CREATE USER "+tgt.String()+" "+clause+" ACCOUNT LOCK", args...); err != nil {
			return nil, err
		}
		resp.Created = true
	}
	n, err := c.replayGrants(ctx, srcGrants, tgtGrants, tgt)
	if err != nil {
		return nil, err
	}
	resp.Grants = n
	if err := c.finish(ctx, op, srcInfo, tgt, req.Password); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkTarget reports whether the pending account exists (and its grants)
// and applies the rule that tells a rotation's clone from anything else.
func (c *Conn) checkTarget(ctx context.Context, src Account, srcGrants []grant, tgt Account) (bool, []grant, error) {
	op := fmt.Sprintf("check alternate user %q of %q", tgt.User, src.User)
	hosts, err := c.hosts(ctx, tgt.User)
	if err != nil {
		return false, nil, err
	}
	switch {
	case len(hosts) == 0:
		return false, nil, nil
	case len(hosts) > 1 || hosts[0] != tgt.Host:
		return false, nil, newError(op, ErrNotClone, fmt.Sprintf("user %q exists for host(s) %s, not only for the current account's host %q, so a rotation did not make it",
			tgt.User, strings.Join(quoteAll(hosts), ", "), tgt.Host), "drop or rename it if it is someone else's", nil)
	}
	info, err := c.info(ctx, tgt)
	if err != nil {
		return false, nil, err
	}
	if !passwordPlugin(info.plugin) {
		return false, nil, newError(op, ErrNotClone, fmt.Sprintf("account %s authenticates with %q, not a password, so a rotation did not make it", tgt, info.plugin),
			"drop or rename it if it is someone else's", nil)
	}
	tgtGrants, err := c.grantsOf(ctx, tgt)
	if err != nil {
		return false, nil, err
	}
	if extra := items(tgtGrants).minus(items(srcGrants)); len(extra) > 0 {
		shown := extra
		if len(shown) > 10 {
			shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(extra)-10))
		}
		return false, nil, newError(op, ErrNotClone, fmt.Sprintf("account %s holds privileges %s lacks: %s", tgt, src, strings.Join(shown, "; ")),
			fmt.Sprintf("if it is the rotation's other user, revoke them from %s or grant them to %s (a REVOKE must reach both users); if it is someone else's account, drop or rename it", tgt, src), nil)
	}
	return true, tgtGrants, nil
}

// CheckAlternate applies SetAlternate's rule without changing anything:
// nil when pending does not exist or is recognisably the rotation's other
// user of current.
func (c *Conn) CheckAlternate(ctx context.Context, current, pending string) error {
	src, err := c.Account(ctx, current)
	if err != nil {
		return err
	}
	srcGrants, err := c.grantsOf(ctx, src)
	if err != nil {
		return err
	}
	_, _, err = c.checkTarget(ctx, src, srcGrants, Account{User: pending, Host: src.Host})
	return err
}

// replayGrants gives tgt every grant in src (which tgt already holds
// are granted again, harmlessly) and sets its default role.
func (c *Conn) replayGrants(ctx context.Context, src, tgt []grant, to Account) (int, error) {
	op := "copy grants to " + to.String()
	var stmts []string
	var revokes []string
	defaultRole := ""
	for _, g := range src {
		switch g.kind {
		case kindPriv:
			if strings.EqualFold(g.privs, "USAGE") && !g.option {
				continue
			}
			s := "GRANT " + g.privs + " ON " + g.object + " TO " + to.String()
			if g.option {
				s += " WITH GRANT OPTION"
			}
			stmts = append(stmts, s)
		case kindRole:
			s := "GRANT " + g.privs + " TO " + to.String()
			if g.option {
				s += " WITH ADMIN OPTION"
			}
			stmts = append(stmts, s)
		case kindRevoke:
			revokes = append(revokes, "REVOKE "+g.privs+" ON "+g.object+" FROM "+to.String())
		case kindDefaultRole:
			defaultRole = g.privs
		}
	}
	stmts = append(stmts, revokes...)
	tgtDefault := ""
	for _, g := range tgt {
		if g.kind == kindDefaultRole {
			tgtDefault = g.privs
		}
	}
	if c.flavor == FlavorMariaDB && defaultRole != tgtDefault {
		if defaultRole == "" {
			stmts = append(stmts, "SET DEFAULT ROLE NONE FOR "+to.String())
		} else {
			stmts = append(stmts, "SET DEFAULT ROLE "+defaultRole+" FOR "+to.String())
		}
	}
	for _, s := range stmts {
		// The statements hold identifiers SHOW GRANTS quoted and no value
		// of ours: they run as they are, without placeholders.
		if _, err := c.conn.ExecContext(ctx, s); err != nil {
			return 0, classifyExec(op, c.cfg.User, err)
		}
	}
	return len(stmts), nil
}

// finish is the last statement of SetAlternate: password, TLS requirements,
// limits and unlock at once.
func (c *Conn) finish(ctx context.Context, op string, src *accountInfo, tgt Account, password string) error {
	req, reqArgs, err := c.requireAndLimits(src)
	if err != nil {
		return newError(op, ErrServer, err.Error(), "", nil)
	}
	plain, err := c.hashesRefused(ctx)
	if err != nil {
		return err
	}
	clause, args, secrets, err := c.identified(src.plugin, password, plain)
	if err != nil {
		return newError(op, ErrPlugin, err.Error(), "", nil, password)
	}
	secrets = append(secrets, password)
	return c.exec(ctx, "set the password of "+tgt.String(), secrets,
		"ALTER USER "+tgt.String()+" "+clause+req+" ACCOUNT UNLOCK", append(args, reqArgs...)...)
}

// hashesRefused reports whether the server refuses pre-hashed passwords:
// MariaDB does when a password-validation plugin (simple_password_check,
// cracklib_password_check, password_reuse_check) is active and
// strict_password_validation is on, since it cannot validate a hash. The
// password is then sent for the server to hash. The answer is cached for
// the session.
func (c *Conn) hashesRefused(ctx context.Context) (bool, error) {
	if c.flavor != FlavorMariaDB {
		return false, nil
	}
	if c.plainOnly != nil {
		return *c.plainOnly, nil
	}
	var strict, plugins int
	err := c.conn.QueryRowContext(ctx, `SELECT @@global.strict_password_validation,
		(SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_TYPE = 'PASSWORD VALIDATION' AND PLUGIN_STATUS = 'ACTIVE')`).Scan(&strict, &plugins)
	if err != nil {
		return false, classifyExec("read strict_password_validation", c.cfg.User, err)
	}
	refused := strict == 1 && plugins > 0
	c.plainOnly = &refused
	return refused, nil
}

// SetPasswordRequest asks SetPassword to change a user's password.
type SetPasswordRequest = sqlcred.SetPasswordRequest

// SetPassword changes a user's password and nothing else (AWS's
// single-user strategy). When the session is the user itself it changes its
// own password (which needs no privilege): on MariaDB with SET PASSWORD and
// the stored form computed here; on MySQL with ALTER USER CURRENT_USER()
// IDENTIFIED BY, which MySQL masks in its logs. Otherwise (a master session)
// it runs ALTER USER with the account's plugin.
func (c *Conn) SetPassword(ctx context.Context, req *SetPasswordRequest) error {
	op := "set password of " + strconv.Quote(req.User)
	if err := checkPassword(req.Password); err != nil {
		return newError(op, ErrUnsafePassword, err.Error(), "", nil, req.Password)
	}
	secrets := []string{req.Password}
	if req.User != c.cfg.User {
		a, err := c.Account(ctx, req.User)
		if err != nil {
			return err
		}
		info, err := c.info(ctx, a)
		if err != nil {
			return err
		}
		plain, err := c.hashesRefused(ctx)
		if err != nil {
			return err
		}
		clause, args, s, err := c.identified(info.plugin, req.Password, plain)
		if err != nil {
			return newError(op, ErrPlugin, err.Error(), "", nil, secrets...)
		}
		return c.exec(ctx, op, append(secrets, s...), "ALTER USER "+a.String()+" "+clause, args...)
	}
	if c.flavor == FlavorMySQL {
		return c.exec(ctx, op, secrets, "ALTER USER CURRENT_USER() IDENTIFIED BY ?", req.Password)
	}
	plugin, err := c.ownPlugin(ctx)
	if err != nil {
		return err
	}
	var stored, plainExpr string
	switch plugin {
	case pluginNative:
		stored, plainExpr = nativeHash(req.Password), "PASSWORD(?)"
	case pluginEd25519:
		if stored, err = ed25519Hash(req.Password); err != nil {
			return newError(op, ErrServer, err.Error(), "", nil, secrets...)
		}
		plainExpr = "PASSWORD(?)"
	default:
		return newError(op, ErrPlugin, fmt.Sprintf("the account authenticates with %q, which has no password dualkey can set", plugin), "", nil, secrets...)
	}
	secrets = append(secrets, stored)
	plain, err := c.hashesRefused(ctx)
	if err != nil {
		return err
	}
	if plain {
		return c.exec(ctx, op, secrets, "SET PASSWORD = "+plainExpr, req.Password)
	}
	return c.exec(ctx, op, secrets, "SET PASSWORD = ?", stored)
}

// ownPlugin reads the session user's authentication plugin from SHOW
// GRANTS (MariaDB prints it in the USAGE line), which needs no privilege.
func (c *Conn) ownPlugin(ctx context.Context) (string, error) {
	rows, err := c.conn.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return "", classifyExec("read own grants", c.cfg.User, err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", classifyExec("read own grants", c.cfg.User, err)
		}
		mask := quoteMask(line)
		if i := index(line, mask, " IDENTIFIED VIA ", 0); i >= 0 {
			f := strings.Fields(line[i+len(" IDENTIFIED VIA "):])
			if len(f) > 0 {
				return strings.Trim(f[0], "`'"), nil
			}
		}
		if index(line, mask, " IDENTIFIED BY PASSWORD ", 0) >= 0 {
			return pluginNative, nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", classifyExec("read own grants", c.cfg.User, err)
	}
	return pluginNative, nil
}

// Lock switches an account off reversibly (ALTER USER ... ACCOUNT LOCK):
// new logins fail with ErrLocked, its password and grants stay, and
// sessions already open continue. It succeeds when the account is already
// locked, and refuses to lock the session's own user.
func (c *Conn) Lock(ctx context.Context, user string) error { return c.setLock(ctx, user, true) }

// Unlock switches a locked account on again (ACCOUNT UNLOCK). It succeeds
// when the account is not locked.
func (c *Conn) Unlock(ctx context.Context, user string) error { return c.setLock(ctx, user, false) }

func (c *Conn) setLock(ctx context.Context, user string, lock bool) error {
	op, clause := "unlock "+strconv.Quote(user), "ACCOUNT UNLOCK"
	if lock {
		op, clause = "lock "+strconv.Quote(user), "ACCOUNT LOCK"
	}
	if user == c.cfg.User {
		return newError(op, ErrPrivilege, "refusing to lock or unlock the session's own user", "", nil)
	}
	a, err := c.Account(ctx, user)
	if err != nil {
		return err
	}
	return c.exec(ctx, op, nil, "ALTER USER "+a.String()+" "+clause)
}

// Locked reports whether an account is locked, from SHOW CREATE USER
// (which MySQL 5.7+ and MariaDB 10.4+ both print ACCOUNT LOCK in).
func (c *Conn) Locked(ctx context.Context, a Account) (bool, error) {
	var stmt string
	if err := c.conn.QueryRowContext(ctx, "SHOW CREATE USER "+a.String()).Scan(&stmt); err != nil {
		return false, classifyExec("read the account "+a.String(), c.cfg.User, err)
	}
	return index(stmt, quoteMask(stmt), " ACCOUNT LOCK", 0) >= 0, nil
}

// Session is one session of a user, as the process list shows it. The
// statement text (INFO) is never read.
type Session struct {
	ID int64
	// Host is the process list's HOST: "address:port", or "localhost" for
	// a socket.
	Host string
	// ClientAddr is the client's IP address; invalid for socket sessions.
	ClientAddr netip.Addr
	ClientPort int
	Database   string
	Command    string // "Sleep" when idle, "Query", ...
	// Seconds is how long the session has been in its current state (for
	// a sleeping session: since its last statement).
	Seconds int64
	// ProgramName is the client's program_name connection attribute, when
	// performance_schema is on and readable; "" otherwise.
	ProgramName string
}

// Sessions lists the sessions of user other than this one: the usage
// evidence the lifecycle needs before it switches a previous user off. It
// needs the PROCESS privilege (without it the process list silently shows
// only the session's own user, which would look like "unused"), and fails
// with ErrPrivilege when the master user lacks it.
func (c *Conn) Sessions(ctx context.Context, user string) ([]Session, error) {
	op := "list sessions of " + strconv.Quote(user)
	ok, err := c.hasGlobal(ctx, "PROCESS")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, newError(op, ErrPrivilege, fmt.Sprintf("user %q lacks the PROCESS privilege, so the process list hides other users' sessions", c.cfg.User),
			"GRANT PROCESS ON *.* TO the master user", nil)
	}
	const base = `SELECT p.ID, p.HOST, COALESCE(p.DB, ''), COALESCE(p.COMMAND, ''), COALESCE(p.TIME, 0)`
	const where = ` FROM information_schema.PROCESSLIST p WHERE p.USER = ? AND p.ID <> CONNECTION_ID() ORDER BY p.ID`
	rows, err := c.conn.QueryContext(ctx, base+`, COALESCE((SELECT a.ATTR_VALUE FROM performance_schema.session_connect_attrs a
		WHERE a.PROCESSLIST_ID = p.ID AND a.ATTR_NAME = 'program_name' LIMIT 1), '')`+where, user)
	if err != nil {
		// performance_schema off or not readable: no program names.
		rows, err = c.conn.QueryContext(ctx, base+`, ''`+where, user)
	}
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var s Session
		if err := rows.Scan(&s.ID, &s.Host, &s.Database, &s.Command, &s.Seconds, &s.ProgramName); err != nil {
			return nil, classifyExec(op, c.cfg.User, err)
		}
		if ap, err := netip.ParseAddrPort(s.Host); err == nil {
			s.ClientAddr, s.ClientPort = ap.Addr(), int(ap.Port())
		} else if a, err := netip.ParseAddr(s.Host); err == nil {
			s.ClientAddr = a
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	return out, nil
}

// hasGlobal reports whether the session holds a global privilege, directly
// or through its current role, from SHOW GRANTS.
func (c *Conn) hasGlobal(ctx context.Context, priv string) (bool, error) {
	grants, err := c.showGrants(ctx, "SHOW GRANTS", "read own grants")
	if err != nil {
		return false, err
	}
	for _, g := range grants {
		if g.kind != kindPriv || g.object != "*.*" {
			continue
		}
		for _, p := range privItems(g.privs) {
			if p == priv || p == "ALL PRIVILEGES" || p == "ALL" {
				return true, nil
			}
		}
	}
	return false, nil
}
