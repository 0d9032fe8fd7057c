package sqlcredtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// StaticVersions is a VersionReader over fixed versions.
type StaticVersions []*rotation.Version

// Stage implements rotation.VersionReader.
func (s StaticVersions) Stage(_ context.Context, stage string) (*rotation.Version, error) {
	for _, v := range s {
		for _, st := range v.Stages {
			if st == stage {
				return v, nil
			}
		}
	}
	return nil, rotation.ErrNoVersion
}

// Created implements rotation.VersionReader.
func (s StaticVersions) Created(context.Context, string) (time.Time, error) {
	return time.Time{}, rotation.ErrNoVersion
}

// Admin implements rotation.VersionReader.
func (s StaticVersions) Admin(context.Context) (*rotation.Admin, error) { return nil, nil }

// StepKit is an engine's provider, for the step scenarios that need no
// database.
type StepKit struct {
	// Engine is the "engine" value of the secrets.
	Engine string
	// New returns a provider with the zero Config.
	New func() rotation.Provider
}

func (k StepKit) value(m map[string]any) string {
	m["engine"] = k.Engine
	b, _ := json.Marshal(m)
	return string(b)
}

// TestStepTimeoutInsideDeadline: a server that never answers (a security
// group that drops packets looks like this from inside a VPC) fails the
// step with ErrUnreachable inside the step's deadline, not at Lambda's
// timeout.
func TestStepTimeoutInsideDeadline(t *testing.T, k StepKit) {
	port := BlackHole(t)
	value := func(pw string) string {
		return k.value(map[string]any{"host": "127.0.0.1", "port": port, "username": "app", "password": pw})
	}
	cur := &rotation.Version{ID: "v1", Stages: []string{rotation.StageCurrent}, Value: value("Current-password-1234")}
	pend := &rotation.Version{ID: "v2", Stages: []string{rotation.StagePending}, Value: value("Pending-password-1234")}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := k.New().Test(ctx, &rotation.TestRequest{SecretID: "s", Token: "v2", Pending: pend, Versions: StaticVersions{cur}})
	if ctx.Err() != nil {
		t.Fatalf("the step's deadline passed before the connection attempt gave up: %v", err)
	}
	if !errors.Is(err, sqlcred.ErrUnreachable) || !strings.Contains(err.Error(), "no answer before the connect timeout") {
		t.Fatalf("Test against a silent server: %v, want ErrUnreachable saying no answer came", err)
	}
}

// TestPendingMustMatchCurrent: Set and Test refuse a pending version that
// is not the strategy's user on the same server and database, before any
// login.
func TestPendingMustMatchCurrent(t *testing.T, k StepKit) {
	value := func(user, host string, port int, db, master string) string {
		m := map[string]any{"host": host, "port": port, "username": user, "password": "Some-password-12345", "dbname": db}
		if master != "" {
			m["masterarn"] = master
		}
		return k.value(m)
	}
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:m"
	port := ClosedPort(t)
	p := k.New()
	for _, tc := range []struct {
		name, cur, pend, want string
	}{
		{"alternate of another user", value("app", "127.0.0.1", port, "d", arn), value("other_clone", "127.0.0.1", port, "d", arn), "is not the alternate user"},
		{"the current user itself", value("app", "127.0.0.1", port, "d", arn), value("app", "127.0.0.1", port, "d", arn), "is not the alternate user"},
		{"single user renamed", value("app", "127.0.0.1", port, "d", ""), value("other", "127.0.0.1", port, "d", ""), "differs from AWSCURRENT's"},
		{"another host", value("app", "127.0.0.1", port, "d", arn), value("app_clone", "db.example", port, "d", arn), `"host"`},
		{"another port", value("app", "127.0.0.1", port, "d", arn), value("app_clone", "127.0.0.1", port+1, "d", arn), `"port"`},
		{"another database", value("app", "127.0.0.1", port, "d", arn), value("app_clone", "127.0.0.1", port, "e", arn), `"dbname"`},
	} {
		cur := &rotation.Version{ID: "v1", Stages: []string{rotation.StageCurrent}, Value: tc.cur}
		pend := &rotation.Version{ID: "v2", Stages: []string{rotation.StagePending}, Value: tc.pend}
		errSet := p.Set(context.Background(), &rotation.SetRequest{Pending: pend, Versions: StaticVersions{cur}})
		errTest := p.Test(context.Background(), &rotation.TestRequest{Pending: pend, Versions: StaticVersions{cur}})
		for _, err := range []error{errSet, errTest} {
			var fe *rotation.FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) || errors.Is(err, sqlcred.ErrUnreachable) {
				t.Errorf("%s: %v, want a field error saying %q before any login", tc.name, err, tc.want)
			}
		}
	}
}
