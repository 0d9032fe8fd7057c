package mysql

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dualkey/dualkey/shared/rotation"
)

// DefaultPort is MySQL's port, used when the secret has none.
const DefaultPort = 3306

// User name limits, in characters: MySQL 5.7.8 and later allow 32, MariaDB
// 80. AltUsername applies the one of the secret's engine.
const (
	MaxUserLengthMySQL   = 32
	MaxUserLengthMariaDB = 80
)

// maxDBNameLength is the limit on a database name, in characters.
const maxDBNameLength = 64

// CloneSuffix is AWS's suffix for the alternate user.
const CloneSuffix = "_clone"

// Engine values this package accepts: AWS's for RDS MySQL, Aurora MySQL and
// RDS MariaDB.
const (
	EngineMySQL       = "mysql"
	EngineAuroraMySQL = "aurora-mysql"
	EngineMariaDB     = "mariadb"
)

// Engines lists the "engine" values this package accepts.
var Engines = []string{EngineMySQL, EngineAuroraMySQL, EngineMariaDB}

// TLSMode says how a connection uses TLS.
type TLSMode string

// TLS modes. The default verifies the server; the other two are named so
// that nobody picks them by accident.
const (
	// TLSVerifyFull encrypts and verifies the server's certificate chain
	// and that the certificate names the host (MySQL's VERIFY_IDENTITY).
	TLSVerifyFull TLSMode = "verify-full"
	// TLSInsecureSkipVerify encrypts but accepts any certificate, so an
	// attacker on the path can read the login (MySQL's REQUIRED).
	TLSInsecureSkipVerify TLSMode = "insecure-skip-verify"
	// TLSInsecureDisable sends everything unencrypted (MySQL's DISABLED).
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

// Secret is a database credential in AWS's format for RDS MySQL and
// MariaDB secrets. Its String and GoString methods hide the password.
type Secret struct {
	Engine    string
	Host      string
	Port      int // DefaultPort when the secret has none
	Username  string
	Password  string
	DBName    string // "" when the secret has none: no default database
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

// GoString implements fmt.GoStringer without the password.
func (s Secret) GoString() string { return "mysql.Secret" + s.String() }

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

const secretShape = `store the credential as {"engine": "mysql", "host": "...", "port": 3306, "username": "...", "password": "..."} (engine "mariadb" for MariaDB)`

// Parse decodes and validates a secret value (AWSCURRENT, AWSPENDING or a
// master secret with a host). Errors name the field and the fix and never
// contain a value. Fields it does not know are ignored here; the rotation
// keeps them (see WithCredentials).
func Parse(value string) (*Secret, error) { return parse(value, true) }

// ParseCredentials is Parse for a master secret that may hold only
// "username" and "password" (an RDS-managed master secret): engine, host
// and port are optional. Use CheckMaster before logging in with it.
func ParseCredentials(value string) (*Secret, error) { return parse(value, false) }

func parse(value string, full bool) (*Secret, error) {
	var w wire
	if err := rotation.DecodeSecret(value, &w); err != nil {
		return nil, err
	}
	s := &Secret{Port: DefaultPort}
	switch {
	case w.Engine != nil && *w.Engine != "":
		if !contains(Engines, *w.Engine) {
			return nil, rotation.SecretFieldError("engine", fmt.Sprintf("is not a MySQL or MariaDB engine (%s)", strings.Join(Engines, ", ")), "use the rotation function of the secret's engine, or fix engine")
		}
		s.Engine = *w.Engine
	case full:
		return nil, rotation.SecretFieldError("engine", "is missing or empty", secretShape)
	}
	if w.Host != nil {
		s.Host = *w.Host
	}
	switch {
	case s.Host == "" && full:
		return nil, rotation.SecretFieldError("host", "is missing or empty", secretShape)
	case s.Host != "":
		if err := checkHost(s.Host); err != nil {
			return nil, err
		}
	}
	if w.Port != nil {
		p, err := parsePort(w.Port)
		if err != nil {
			return nil, err
		}
		s.Port = p
	}
	if w.Username == nil || *w.Username == "" {
		return nil, rotation.SecretFieldError("username", "is missing or empty", secretShape)
	}
	s.Username = *w.Username
	if err := checkIdentifier("username", s.Username, MaxUserLengthMariaDB); err != nil {
		return nil, err
	}
	if w.Password == nil || *w.Password == "" {
		return nil, rotation.SecretFieldError("password", "is missing or empty", secretShape)
	}
	s.Password = *w.Password
	if strings.ContainsRune(s.Password, 0) {
		return nil, rotation.SecretFieldError("password", "contains a NUL character", "set a new password without it")
	}
	if w.DBName != nil && *w.DBName != "" {
		s.DBName = *w.DBName
		if err := checkIdentifier("dbname", s.DBName, maxDBNameLength); err != nil {
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

func parsePort(v any) (int, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, rotation.SecretFieldError("port", "must be a number", "set port to the database's TCP port, such as 3306")
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, rotation.SecretFieldError("port", "is not a TCP port (1 to 65535)", "set port to the database's TCP port, such as 3306")
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

func checkIdentifier(field, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return rotation.SecretFieldError(field, "is not valid UTF-8", "fix "+field)
	case strings.ContainsRune(v, 0):
		return rotation.SecretFieldError(field, "contains a NUL character", "fix "+field)
	case utf8.RuneCountInString(v) > max:
		return rotation.SecretFieldError(field, fmt.Sprintf("is longer than %d characters", max), "use the name as the server stores it")
	}
	return nil
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
// "<user>_clone" for "<user>", and "<user>" for "<user>_clone". It fails when
// the clone's name would exceed the engine's limit (MySQL 32 characters,
// MariaDB 80).
func AltUsername(user, engine string) (string, error) {
	if base, ok := strings.CutSuffix(user, CloneSuffix); ok && base != "" {
		return base, nil
	}
	max := MaxUserLengthMySQL
	if engine == EngineMariaDB {
		max = MaxUserLengthMariaDB
	}
	alt := user + CloneSuffix
	if utf8.RuneCountInString(alt) > max {
		return "", rotation.SecretFieldError("username", fmt.Sprintf("is too long for an alternate user: with %q appended it exceeds the %s limit of %d characters", CloneSuffix, engine, max),
			fmt.Sprintf("use a user name of at most %d characters, or the single-user strategy", max-len(CloneSuffix)))
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

// CheckMaster refuses a master secret that points somewhere else than the
// user's secret: logging in with the master credential sends it to the
// user secret's host, so a user secret edited to point at another host must
// not receive it (AWS's functions make the same check). A master secret
// without a host (an RDS-managed master secret) is refused: its host would
// have to come from the RDS API, not from the user's secret.
func CheckMaster(user, master *Secret) error {
	switch {
	case master.Host == "":
		return rotation.SecretFieldError("host", "is missing from the master secret (an RDS-managed master secret holds only username and password)",
			"store the master credential in a secret of AWS's format with engine, host and port, and point masterarn at it")
	case master.Engine != "" && (master.Engine == EngineMariaDB) != (user.Engine == EngineMariaDB):
		return rotation.SecretFieldError("engine", "of the secret and of the master secret name different servers (MariaDB and MySQL)", "fix engine")
	case !strings.EqualFold(strings.TrimSuffix(master.Host, "."), strings.TrimSuffix(user.Host, ".")):
		return rotation.SecretFieldError("host", "of the secret differs from the master secret's host",
			"point masterarn at the master secret of the same database, or fix host")
	case master.Port != user.Port:
		return rotation.SecretFieldError("port", "of the secret differs from the master secret's port", "fix port")
	}
	return nil
}
