package rietest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

// DatabaseUsers are the database and the three logins a database function's
// test created on its real server before RotateDatabase.
type DatabaseUsers struct {
	DB               string
	Master, MasterPW string // may create users and change their passwords
	App, AppPW       string // rotated by alternating users (with the master secret)
	Single, SinglePW string // rotated in place (single user)
}

// NewDatabaseUsers names the database and the three logins with unique
// (dbtest.UniqueName) and gives them fixed test passwords.
func NewDatabaseUsers(unique func(prefix string) string) DatabaseUsers {
	return DatabaseUsers{
		DB: unique("rie"), App: unique("app"), Master: unique("m"), Single: unique("one"),
		AppPW: "Rie-app-0123456789abcdefghij", MasterPW: "Rie-master-0123456789abcdefgh", SinglePW: "Rie-one-0123456789abcdefghijk",
	}
}

// Database is what RotateDatabase needs to know of the engine.
type Database struct {
	Engine   string // the secrets' "engine" field
	Provider string // the dualkey:provider tag
	Host     string
	Port     int
	Users    DatabaseUsers
	// Login logs in to the server with the credentials of a secret value,
	// trusting the server's test CA.
	Login func(ctx context.Context, secret string) error
	// ErrAuth is what Login returns for a refused password.
	ErrAuth error
}

// RotateDatabase proves a database function end to end: a malformed event
// is refused naming the field; the alternating-users secret rotates twice,
// each time in at most 11 Secrets Manager calls, with AWSCURRENT and
// AWSPREVIOUS both logging in; the single-user secret rotates, its new
// password logs in and the replaced one does not; no password of any
// version reaches the function's output, and the alternate user is logged
// by name.
func (f *Function) RotateDatabase(d Database) {
	t, u := f.T, d.Users
	t.Helper()
	value := func(m map[string]any) string {
		m["engine"], m["host"], m["port"], m["dbname"] = d.Engine, d.Host, d.Port, u.DB
		b, _ := json.Marshal(m)
		return string(b)
	}
	masterARN := f.CreateSecret("rie/master", value(map[string]any{"username": u.Master, "password": u.MasterPW}), "")
	multi := f.CreateSecret("rie/app", value(map[string]any{"username": u.App, "password": u.AppPW, "masterarn": masterARN}), d.Provider)
	one := f.CreateSecret("rie/single", value(map[string]any{"username": u.Single, "password": u.SinglePW}), d.Provider)

	f.MustRefuseMalformedEvent(multi)

	login := func(arn, stage string) error { return d.Login(f.Ctx, f.Value(arn, stage)) }
	for i := 1; i <= 2; i++ {
		calls, _ := f.CountedRotation(multi)
		t.Logf("alternating users, rotation %d: %d Secrets Manager calls", i, calls)
		if calls > 11 {
			t.Fatalf("rotation %d made %d Secrets Manager calls, want at most 11 (AWS's function makes 14)", i, calls)
		}
		for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious} {
			if err := login(multi, stage); err != nil {
				t.Fatalf("rotation %d: %s: %v", i, stage, err)
			}
		}
	}
	f.MustRotate(one)
	if err := login(one, rotation.StageCurrent); err != nil {
		t.Fatalf("single user: AWSCURRENT: %v", err)
	}
	if err := login(one, rotation.StagePrevious); !errors.Is(err, d.ErrAuth) {
		t.Fatalf("single user: the replaced password: %v, want ErrAuth", err)
	}

	// Nothing secret in anything the function printed.
	red := rotation.NewRedactor()
	red.Add(u.AppPW, u.MasterPW, u.SinglePW)
	f.RedactAllVersions(red, multi, one)
	f.MustNotLog(red, "a password")
	f.MustLog("log line naming the alternate user", `"msg":"alternate user set"`, u.App+"_clone")
}

// MustRefuseUnreadableCABundle runs functions/<function> with envCABundle
// naming a file that does not exist and fails the test unless an
// invocation fails with a ConfigError that names the variable.
func MustRefuseUnreadableCABundle(t testing.TB, function, envCABundle string) {
	t.Helper()
	p := StartBare(t, function, append(awsemu.FunctionEnv("http://127.0.0.1:1"), envCABundle+"=/nonexistent/rds-global-bundle.pem")...)
	_, err := p.Invoke(context.Background(), []byte(`{"Step":"createSecret","SecretId":"s","ClientRequestToken":"`+strings.Repeat("a", 36)+`"}`))
	var ie *lambdarie.InvokeError
	if !errors.As(err, &ie) || ie.Type != "ConfigError" || !strings.Contains(ie.Message, envCABundle) {
		t.Fatalf("invocation of a function with an unreadable CA bundle: %v, want a ConfigError naming %s", err, envCABundle)
	}
}
