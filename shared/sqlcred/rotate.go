package sqlcred

import (
	"context"
	"errors"
	"fmt"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Create implements rotation.Provider: the pending value is AWSCURRENT's
// with a new password from GetRandomPassword (Dialect.PasswordSpec) and,
// for alternating users, the other user of the pair. Every other field is
// kept. Nothing changes at the database (setSecret does that), so nothing
// can be orphaned here.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := p.parseVersion("AWSCURRENT", req.Current)
	if err != nil {
		return nil, err
	}
	strategy, err := StrategyOf(req.Current.Value)
	if err != nil {
		return nil, err
	}
	user := cur.Username
	if strategy == StrategyAlternating {
		if user, err = p.d.AltUsername(cur.Username, cur.Engine); err != nil {
			return nil, err
		}
	}
	pw, err := req.Passwords.RandomPassword(ctx, p.d.PasswordSpec)
	if err != nil {
		return nil, err
	}
	if err := p.d.CheckPassword(pw); err != nil {
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
// current one's alternate with the pending password (Session.SetAlternate).
//
// Single user (AWS's single-user setSecret): the first of AWSPENDING,
// AWSCURRENT and AWSPREVIOUS that logs in changes the user's own password
// to the pending one, so a crash at any point is recovered by the retry.
func (p *Provider) Set(ctx context.Context, req *rotation.SetRequest) error {
	cur, pending, strategy, err := p.pending(ctx, req.Pending, req.Versions)
	if err != nil {
		return err
	}
	if strategy == StrategySingle {
		return p.setSingle(ctx, req.Versions, cur, pending)
	}
	err = p.e.Login(ctx, login(pending, "AWSPENDING"))
	if err == nil {
		p.log.Info("pending user already logs in with the pending password", "user", pending.Username)
		return nil
	}
	if !errors.Is(err, ErrAuth) && !errors.Is(err, p.d.ErrLocked) {
		return err
	}
	if err := p.e.Login(ctx, login(cur, "AWSCURRENT")); err != nil {
		return fmt.Errorf("AWSCURRENT must log in before its alternate user is changed (the guard against a confused deputy: a secret edited to name another user gets nothing): %w", err)
	}
	m, err := p.master(ctx, req.Versions, cur)
	if err != nil {
		return err
	}
	defer closeSession(ctx, m)
	res, err := m.SetAlternate(ctx, &AlternateRequest{Current: cur.Username, Pending: pending.Username, Password: pending.Password})
	if err != nil {
		return err
	}
	p.log.Info("alternate user set", append([]any{"user", pending.Username, "current_user", cur.Username}, res.Attrs...)...)
	if res.Warning != "" {
		p.log.Warn(res.Warning, append([]any{"user", pending.Username}, res.WarningAttrs...)...)
	}
	return nil
}

// pending decodes AWSPENDING and AWSCURRENT and checks that the pending
// version is the user the strategy rotates, on the same server and
// database as AWSCURRENT.
func (p *Provider) pending(ctx context.Context, pendingV *rotation.Version, versions rotation.VersionReader) (cur, pending *Secret, strategy Strategy, err error) {
	if pending, err = p.parseVersion("AWSPENDING", pendingV); err != nil {
		return nil, nil, "", err
	}
	cur, curV, err := p.current(ctx, versions)
	if err != nil {
		return nil, nil, "", err
	}
	if err := p.d.Syntax.SameServer("AWSPENDING", cur, pending); err != nil {
		return nil, nil, "", err
	}
	if strategy, err = StrategyOf(curV.Value); err != nil {
		return nil, nil, "", err
	}
	if err := p.checkUser(strategy, cur, pending); err != nil {
		return nil, nil, "", err
	}
	return cur, pending, strategy, nil
}

// checkUser refuses a pending version whose user the strategy would not
// give a password: the current user's alternate, or the current user itself
// for a single-user secret.
func (p *Provider) checkUser(strategy Strategy, cur, pending *Secret) error {
	if strategy == StrategySingle {
		if pending.Username != cur.Username {
			return rotation.SecretFieldError("username", fmt.Sprintf("of AWSPENDING (%q) differs from AWSCURRENT's (%q), but a single-user rotation changes the current user's own password", Printable(pending.Username), Printable(cur.Username)),
				"cancel the rotation with dualkey cancel and rotate again")
		}
		return nil
	}
	alt, err := p.d.AltUsername(cur.Username, cur.Engine)
	if err != nil {
		return err
	}
	if pending.Username != alt {
		return rotation.SecretFieldError("username", fmt.Sprintf("of AWSPENDING (%q) is not the alternate user of AWSCURRENT's %q (%q)", Printable(pending.Username), Printable(cur.Username), Printable(alt)),
			"cancel the rotation with dualkey cancel and rotate again")
	}
	return nil
}

func (p *Provider) setSingle(ctx context.Context, versions rotation.VersionReader, cur, pending *Secret) error {
	c, err := p.e.Connect(ctx, login(pending, "AWSPENDING"))
	if err == nil {
		closeSession(ctx, c)
		p.log.Info("user already logs in with the pending password", "user", pending.Username)
		return nil
	}
	if !errors.Is(err, ErrAuth) {
		return err
	}
	errs := []error{err}
	c, err = p.e.Connect(ctx, login(cur, "AWSCURRENT"))
	if err != nil && errors.Is(err, ErrAuth) {
		// A crash after an earlier password change and a completed
		// rotation since? Try AWSPREVIOUS last, as AWS's function does.
		errs = append(errs, err)
		prevV, perr := versions.Stage(ctx, rotation.StagePrevious)
		if perr != nil && !errors.Is(perr, rotation.ErrNoVersion) {
			return perr
		}
		if perr == nil {
			if prev, perr := p.parseVersion("AWSPREVIOUS", prevV); perr == nil && prev.Username == cur.Username && p.d.Syntax.SameServer("AWSPREVIOUS", cur, prev) == nil {
				c, err = p.e.Connect(ctx, login(prev, "AWSPREVIOUS"))
			}
		}
	}
	if err != nil {
		errs = append(errs, err)
		return fmt.Errorf("none of AWSPENDING, AWSCURRENT and AWSPREVIOUS logs in, so the password cannot be changed: %w", errors.Join(errs...))
	}
	defer closeSession(ctx, c)
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
	_, pending, _, err := p.pending(ctx, req.Pending, req.Versions)
	if err != nil {
		return err
	}
	return p.e.Login(ctx, login(pending, "AWSPENDING"))
}
