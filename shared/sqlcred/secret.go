package sqlcred

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dualkey/dualkey/shared/rotation"
)

// CloneSuffix is AWS's suffix for the alternate user.
const CloneSuffix = "_clone"

// TLSMode says how a connection uses TLS.
type TLSMode string

// TLS modes. The default verifies the server; the other two are named so
// that nobody picks them by accident.
const (
	// TLSVerifyFull encrypts and verifies the server's certificate chain
	// and that the certificate names the host.
	TLSVerifyFull TLSMode = "verify-full"
	// TLSInsecureSkipVerify encrypts but accepts any certificate, so an
	// attacker on the path can read the login.
	TLSInsecureSkipVerify TLSMode = "insecure-skip-verify"
	// TLSInsecureDisable sends everything unencrypted.
	TLSInsecureDisable TLSMode = "insecure-disable"
)

// ParseTLSMode validates a TLS mode; "" means TLSVerifyFull.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(s); m {
	case "":
		return TLSVerifyFull, nil
	case TLSVerifyFull, TLSInsecureSkipVerify, TLSInsecureDisable:
		return m, nil
	}
	return "", fmt.Errorf("TLS mode must be %q (the default), %q or %q", TLSVerifyFull, TLSInsecureSkipVerify, TLSInsecureDisable)
}

// Stricter returns the stricter of two TLS modes.
func Stricter(a, b TLSMode) TLSMode {
	rank := map[TLSMode]int{TLSInsecureDisable: 0, TLSInsecureSkipVerify: 1, TLSVerifyFull: 2, "": 2}
	if rank[a] >= rank[b] {
		return a
	}
	return b
}

// Secret is a database credential in AWS's format for RDS secrets. The
// providers define their Secret types on it (type Secret sqlcred.Secret),
// with String and GoString methods that hide the password.
type Secret struct {
	Engine    string
	Host      string
	Port      int // the engine's default port when the secret has none
	Username  string
	Password  string
	DBName    string // the engine's default database when the secret has none
	MasterARN string // the master secret, for the alternating-users strategy
	// TLSMode comes from "tls_mode", or from AWS's "ssl" (true:
	// verify-full; false: insecure-disable); TLSVerifyFull by default.
	TLSMode TLSMode
}

// String implements fmt.Stringer without the password.
func (s Secret) String() string {
	return fmt.Sprintf("{Engine:%s Host:%s Port:%d Username:%s Password:%s DBName:%s MasterARN:%s TLSMode:%s}",
		s.Engine, s.Host, s.Port, s.Username, rotation.Redaction, s.DBName, s.MasterARN, s.TLSMode)
}

// Syntax is what differs between the engines' secrets: accepted engines,
// defaults, name limits and the words of their errors.
type Syntax struct {
	// Engines lists the accepted "engine" values.
	Engines []string
	// EngineProblem and EngineFix are the error of an engine not in
	// Engines.
	EngineProblem, EngineFix string
	// DefaultPort and DefaultDBName fill a secret without them.
	DefaultPort   int
	DefaultDBName string
	// Shape is the fix of a missing field: the secret's format.
	Shape string
	// PasswordNUL is the problem of a password with a NUL character.
	PasswordNUL string
	// CheckLength refuses a user name (field "username") or database name
	// (field "dbname") the server cannot hold; it returns a
	// rotation.SecretFieldError naming field.
	CheckLength func(field, v string) error
	// Kind, when set, names the kind of server an engine value runs
	// ("mariadb" or "mysql"): a rotation and its master secret stay on one
	// kind. KindMismatch is the problem of a master secret of another kind.
	Kind         func(engine string) string
	KindMismatch string
}

// wire is the JSON shape. Numbers arrive as json.Number (DecodeSecret uses
// UseNumber), and AWS's "ssl" may be a boolean or a string.
type wire struct {
	Engine    *string `json:"engine"`
	Host      *string `json:"host"`
	Port      any     `json:"port"`
	Username  *string `json:"username"`
	Password  *string `json:"password"`
	DBName    *string `json:"dbname"`
	MasterARN *string `json:"masterarn"`
	SSL       any     `json:"ssl"`
	TLSMode   *string `json:"tls_mode"`
}

// Parse decodes and validates a secret value (AWSCURRENT, AWSPENDING or a
// master secret with a host); with full false it is a master secret that
// may hold only "username" and "password" (engine, host and port
// optional). Errors name the field and the fix and never contain a value.
// Fields it does not know are ignored here; the rotation keeps them (see
// WithCredentials).
func (x *Syntax) Parse(value string, full bool) (*Secret, error) {
	var w wire
	if err := rotation.DecodeSecret(value, &w); err != nil {
		return nil, err
	}
	s := &Secret{Port: x.DefaultPort, DBName: x.DefaultDBName}
	switch {
	case w.Engine != nil && *w.Engine != "":
		if !contains(x.Engines, *w.Engine) {
			return nil, rotation.SecretFieldError("engine", x.EngineProblem, x.EngineFix)
		}
		s.Engine = *w.Engine
	case full:
		return nil, rotation.SecretFieldError("engine", "is missing or empty", x.Shape)
	}
	if w.Host != nil {
		s.Host = *w.Host
	}
	switch {
	case s.Host == "" && full:
		return nil, rotation.SecretFieldError("host", "is missing or empty", x.Shape)
	case s.Host != "":
		if err := checkHost(s.Host); err != nil {
			return nil, err
		}
	}
	if w.Port != nil {
		p, err := x.parsePort(w.Port)
		if err != nil {
			return nil, err
		}
		s.Port = p
	}
	if w.Username == nil || *w.Username == "" {
		return nil, rotation.SecretFieldError("username", "is missing or empty", x.Shape)
	}
	s.Username = *w.Username
	if err := x.checkIdentifier("username", s.Username); err != nil {
		return nil, err
	}
	if w.Password == nil || *w.Password == "" {
		return nil, rotation.SecretFieldError("password", "is missing or empty", x.Shape)
	}
	s.Password = *w.Password
	if strings.ContainsRune(s.Password, 0) {
		return nil, rotation.SecretFieldError("password", x.PasswordNUL, "set a new password without it")
	}
	if w.DBName != nil && *w.DBName != "" {
		s.DBName = *w.DBName
		if err := x.checkIdentifier("dbname", s.DBName); err != nil {
			return nil, err
		}
	}
	if w.MasterARN != nil {
		s.MasterARN = *w.MasterARN
		if s.MasterARN != "" && strings.IndexFunc(s.MasterARN, unicode.IsSpace) >= 0 {
			return nil, rotation.SecretFieldError("masterarn", "contains white space", "set masterarn to the ARN of the master user's secret")
		}
	}
	mode, err := tlsModeOf(w)
	if err != nil {
		return nil, err
	}
	s.TLSMode = mode
	return s, nil
}

// tlsModeOf reads "tls_mode" and AWS's "ssl". AWS's functions fall back to
// an unencrypted connection when "ssl" is absent; dualkey never does.
func tlsModeOf(w wire) (TLSMode, error) {
	var fromSSL TLSMode
	switch v := w.SSL.(type) {
	case nil:
	case bool:
		fromSSL = TLSInsecureDisable
		if v {
			fromSSL = TLSVerifyFull
		}
	case string:
		switch strings.ToLower(v) {
		case "true":
			fromSSL = TLSVerifyFull
		case "false":
			fromSSL = TLSInsecureDisable
		default:
			return "", rotation.SecretFieldError("ssl", `must be true or false`, `remove it, or use "tls_mode"`)
		}
	default:
		return "", rotation.SecretFieldError("ssl", `must be true or false`, `remove it, or use "tls_mode"`)
	}
	if w.TLSMode == nil {
		if fromSSL != "" {
			return fromSSL, nil
		}
		return TLSVerifyFull, nil
	}
	mode, err := ParseTLSMode(*w.TLSMode)
	if err != nil {
		return "", rotation.SecretFieldError("tls_mode", "is not a TLS mode: "+err.Error(), `remove it to verify the server (the default)`)
	}
	if fromSSL != "" && fromSSL != mode {
		return "", rotation.SecretFieldError("ssl", `contradicts "tls_mode"`, `remove "ssl" and keep "tls_mode"`)
	}
	return mode, nil
}

func (x *Syntax) parsePort(v any) (int, error) {
	fix := fmt.Sprintf("set port to the database's TCP port, such as %d", x.DefaultPort)
	var s string
	switch n := v.(type) {
	case json.Number:
		s = n.String()
	case string:
		s = n
	default:
		return 0, rotation.SecretFieldError("port", "must be a number", fix)
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, rotation.SecretFieldError("port", "is not a TCP port (1 to 65535)", fix)
	}
	return p, nil
}

func checkHost(h string) error {
	switch {
	case strings.Contains(h, "://"):
		return rotation.SecretFieldError("host", "is a URL", "set host to the host name only, such as mydb.abc123.eu-west-1.rds.amazonaws.com")
	case strings.IndexFunc(h, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' || r == '@' }) >= 0:
		return rotation.SecretFieldError("host", "contains white space, a slash or an @", "set host to the host name only")
	case strings.Count(h, ":") == 1:
		return rotation.SecretFieldError("host", "contains a port", `put the port in "port" and only the host name in "host"`)
	case len(h) > 253:
		return rotation.SecretFieldError("host", "is longer than a host name can be", "set host to the database's host name")
	}
	return nil
}

func (x *Syntax) checkIdentifier(field, v string) error {
	switch {
	case !utf8.ValidString(v):
		return rotation.SecretFieldError(field, "is not valid UTF-8", "fix "+field)
	case strings.ContainsRune(v, 0):
		return rotation.SecretFieldError(field, "contains a NUL character", "fix "+field)
	}
	return x.CheckLength(field, v)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// AltUsername returns the other user of the alternating pair, AWS's way:
// "<user>_clone" for "<user>", and "<user>" for "<user>_clone". fits
// refuses a clone's name the server cannot hold.
func AltUsername(user string, fits func(alt string) error) (string, error) {
	if base, ok := strings.CutSuffix(user, CloneSuffix); ok && base != "" {
		return base, nil
	}
	alt := user + CloneSuffix
	if err := fits(alt); err != nil {
		return "", err
	}
	return alt, nil
}

// BaseUsername returns the base user of the pair ("app" for "app" and for
// "app_clone").
func BaseUsername(user string) string {
	if base, ok := strings.CutSuffix(user, CloneSuffix); ok && base != "" {
		return base
	}
	return user
}

// WithCredentials returns base (a secret value) with username and password
// replaced and every other field, known or not, kept as it was.
func WithCredentials(base, username, password string) (string, error) {
	return rotation.MergeSecret(base, map[string]any{"username": username, "password": password})
}

// sameHost compares host names as DNS does.
func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// CheckMaster refuses a master secret that points somewhere else than the
// user's secret: logging in with the master credential sends it to the
// user secret's host, so a user secret edited to point at another host must
// not receive it (AWS's functions make the same check). A master secret
// without a host (an RDS-managed master secret) is refused: its host would
// have to come from the RDS API, not from the user's secret.
func (x *Syntax) CheckMaster(user, master *Secret) error {
	switch {
	case master.Host == "":
		return rotation.SecretFieldError("host", "is missing from the master secret (an RDS-managed master secret holds only username and password)",
			"store the master credential in a secret of AWS's format with engine, host and port, and point masterarn at it")
	case x.Kind != nil && master.Engine != "" && x.Kind(master.Engine) != x.Kind(user.Engine):
		return rotation.SecretFieldError("engine", x.KindMismatch, "fix engine")
	case !sameHost(master.Host, user.Host):
		return rotation.SecretFieldError("host", "of the secret differs from the master secret's host",
			"point masterarn at the master secret of the same database, or fix host")
	case master.Port != user.Port:
		return rotation.SecretFieldError("port", "of the secret differs from the master secret's port", "fix port")
	}
	return nil
}

// SameServer refuses a version that points at another server or database
// than AWSCURRENT: its password must not be set or tried elsewhere.
func (x *Syntax) SameServer(what string, cur, s *Secret) error {
	const fix = "a rotation keeps host, port and dbname; cancel it with dualkey cancel and rotate again"
	switch {
	case !sameHost(cur.Host, s.Host):
		return rotation.SecretFieldError("host", what+" names another host than AWSCURRENT", fix)
	case cur.Port != s.Port:
		return rotation.SecretFieldError("port", what+" names another port than AWSCURRENT", fix)
	case cur.DBName != s.DBName:
		return rotation.SecretFieldError("dbname", what+" names another database than AWSCURRENT", fix)
	case x.Kind != nil && x.Kind(cur.Engine) != x.Kind(s.Engine):
		return rotation.SecretFieldError("engine", what+" names another kind of server than AWSCURRENT", "a rotation keeps engine, host, port and dbname; cancel it with dualkey cancel and rotate again")
	}
	return nil
}

// Strategy is how a secret's credential is rotated.
type Strategy string

// Strategies. A secret that names a master secret (masterarn, or dualkey's
// master_secret_arn) rotates with alternating users; any other secret with
// a single user, as AWS's two families of rotation functions do.
const (
	// StrategyAlternating: the master user gives "<user>_clone" (or, on the
	// next rotation, "<user>" again) a new password; the previous user keeps
	// working until dualkey's lifecycle switches it off.
	StrategyAlternating Strategy = "alternating-users"
	// StrategySingle: the user changes its own password; the old password
	// stops working at setSecret (no dual-key window).
	StrategySingle Strategy = "single-user"
)

// StrategyOf returns the strategy of a secret value. Errors name the field.
func StrategyOf(value string) (Strategy, error) {
	_, ref, err := rotation.AdminRef(value)
	if err != nil {
		return "", err
	}
	if ref != "" {
		return StrategyAlternating, nil
	}
	return StrategySingle, nil
}

// Printable bounds a name that goes into a log line or a message.
func Printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
