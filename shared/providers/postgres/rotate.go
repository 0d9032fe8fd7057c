package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Create implements rotation.Provider: the pending value is AWSCURRENT's
// with a new password from GetRandomPassword (PasswordSpec) and, for
// alternating users, the other user of the pair. Every other field is kept.
// Nothing changes at the database (setSecret does that), so nothing can be
// orphaned here.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := parseVersion("AWSCURRENT", req.Current)
	if err != nil {
		return nil, err
	}
	strategy, err := StrategyOf(req.Current.Value)
	if err != nil {
		return nil, err
	}
	user := cur.Username
	if strategy == StrategyAlternating {
		if user, err = AltUsername(cur.Username); err != nil {
			return nil, err
		}
	}
	pw, err := req.Passwords.RandomPassword(ctx, PasswordSpec())
	if err != nil {
		return nil, err
	}
	if err := checkPassword(pw); err != nil {
		return nil, fmt.Errorf("GetRandomPassword returned a password dualkey will not set: %w", err)
	}
	value, err := WithCredentials(req.Current.Value, user, pw)
	if err != nil {
		return nil, err
	}
	return &rotation.CreateResponse{Value: value}, nil
}

// Set implements rotation.Provider.
//
// Alternating users (AWS's multi-user setSecret, in its order): when the
// pending credential logs in, it is set; otherwise AWSCURRENT must log in
// (AWS's guard against a confused deputy: a secret edited to name another
// user gets nothing), and the master user makes the pending user the
// current one's alternate with the pending password (Conn.SetAlternate: one
// transaction, created or updated, unlocked, settings copied).
//
// Single user (AWS's single-user setSecret): the first of AWSPENDING,
// AWSCURRENT and AWSPREVIOUS that logs in changes the user's own password
// to the pending one, so a crash at any point is recovered by the retry.
func (p *Provider) Set(ctx context.Context, req *rotation.SetRequest) error {
	pending, err := parseVersion("AWSPENDING", req.Pending)
	if err != nil {
		return err
	}
	cur, curV, err := current(ctx, req.Versions)
	if err != nil {
		return err
	}
	if err := sameServer("AWSPENDING", cur, pending); err != nil {
		return err
	}
	strategy, err := StrategyOf(curV.Value)
	if err != nil {
		return err
	}
	if err := checkUser(strategy, cur, pending); err != nil {
		return err
	}
	if strategy == StrategySingle {
		return p.setSingle(ctx, req.Versions, cur, pending)
	}
	err = Login(ctx, p.conn(pending, "AWSPENDING"))
	if err == nil {
		p.log.Info("pending user already logs in with the pending password", "user", pending.Username)
		return nil
	}
	if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrLocked) {
		return err
	}
	if err := Login(ctx, p.conn(cur, "AWSCURRENT")); err != nil {
		return fmt.Errorf("AWSCURRENT must log in before its alternate user is changed (the guard against a confused deputy: a secret edited to name another user gets nothing): %w", err)
	}
	m, err := p.master(ctx, req.Versions, cur)
	if err != nil {
		return err
	}
	defer m.Close(context.WithoutCancel(ctx))
	resp, err := m.SetAlternate(ctx, &AlternateRequest{Current: cur.Username, Pending: pending.Username, Password: pending.Password})
	if err != nil {
		return err
	}
	p.log.Info("alternate user set", "user", pending.Username, "current_user", cur.Username, "created", resp.Created, "unlocked", resp.Unlocked, "settings_copied", resp.Settings)
	if len(resp.SettingsSkipped) > 0 {
		p.log.Warn("per-user settings only a superuser may set were not copied to the alternate user; set them yourself",
			"user", pending.Username, "settings", resp.SettingsSkipped)
	}
	return nil
}

// checkUser refuses a pending version whose user the strategy would not
// give a password: the current user's alternate, or the current user itself
// for a single-user secret.
func checkUser(strategy Strategy, cur, pending *Secret) error {
	if strategy == StrategySingle {
		if pending.Username != cur.Username {
			return rotation.SecretFieldError("username", fmt.Sprintf("of AWSPENDING (%q) differs from AWSCURRENT's (%q), but a single-user rotation changes the current user's own password", printable(pending.Username), printable(cur.Username)),
				"cancel the rotation with dualkey cancel and rotate again")
		}
		return nil
	}
	alt, err := AltUsername(cur.Username)
	if err != nil {
		return err
	}
	if pending.Username != alt {
		return rotation.SecretFieldError("username", fmt.Sprintf("of AWSPENDING (%q) is not the alternate user of AWSCURRENT's %q (%q)", printable(pending.Username), printable(cur.Username), printable(alt)),
			"cancel the rotation with dualkey cancel and rotate again")
	}
	return nil
}

func (p *Provider) setSingle(ctx context.Context, versions rotation.VersionReader, cur, pending *Secret) error {
	pc := p.conn(pending, "AWSPENDING")
	c, err := Connect(ctx, pc)
	if err == nil {
		c.Close(context.WithoutCancel(ctx))
		p.log.Info("user already logs in with the pending password", "user", pending.Username)
		return nil
	}
	if !errors.Is(err, ErrAuth) {
		return err
	}
	errs := []error{err}
	c, err = Connect(ctx, p.conn(cur, "AWSCURRENT"))
	if err != nil && errors.Is(err, ErrAuth) {
		// A crash after an earlier password change and a completed
		// rotation since? Try AWSPREVIOUS last, as AWS's function does.
		errs = append(errs, err)
		prevV, perr := versions.Stage(ctx, rotation.StagePrevious)
		if perr != nil && !errors.Is(perr, rotation.ErrNoVersion) {
			return perr
		}
		if perr == nil {
			if prev, perr := parseVersion("AWSPREVIOUS", prevV); perr == nil && prev.Username == cur.Username && sameServer("AWSPREVIOUS", cur, prev) == nil {
				c, err = Connect(ctx, p.conn(prev, "AWSPREVIOUS"))
			}
		}
	}
	if err != nil {
		errs = append(errs, err)
		return fmt.Errorf("none of AWSPENDING, AWSCURRENT and AWSPREVIOUS logs in, so the password cannot be changed: %w", errors.Join(errs...))
	}
	defer c.Close(context.WithoutCancel(ctx))
	if err := c.SetPassword(ctx, &SetPasswordRequest{User: pending.Username, Password: pending.Password}); err != nil {
		return err
	}
	p.log.Info("password changed in place (single-user strategy: the old password no longer works)", "user", pending.Username)
	return nil
}

// Test implements rotation.Provider: the pending credential logs in and runs
// a query, and it is the user the strategy rotates on the same server and
// database as AWSCURRENT.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	pending, err := parseVersion("AWSPENDING", req.Pending)
	if err != nil {
		return err
	}
	cur, curV, err := current(ctx, req.Versions)
	if err != nil {
		return err
	}
	if err := sameServer("AWSPENDING", cur, pending); err != nil {
		return err
	}
	strategy, err := StrategyOf(curV.Value)
	if err != nil {
		return err
	}
	if err := checkUser(strategy, cur, pending); err != nil {
		return err
	}
	return Login(ctx, p.conn(pending, "AWSPENDING"))
}
