package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// pairLockClass is the first key of the advisory lock that serialises every
// change dualkey makes to the users of one alternating pair ("dk").
const pairLockClass = 0x646b

// lockPair takes the transaction-scoped advisory lock of the pair whose base
// user is base: SetAlternate, LockCredential and UnlockCredential of the same
// pair never run at the same time (a retire run switching the previous user
// off while a rotation gives that user its next password).
func (c *Conn) lockPair(ctx context.Context, tx pgx.Tx, base string) error {
	h := fnv.New32a()
	h.Write([]byte(base))
	if err := c.exec(ctx, tx, "SELECT pg_advisory_xact_lock($1::int4, $2::int4)", int32(pairLockClass), int32(h.Sum32())); err != nil {
		return classifyExec(fmt.Sprintf("lock the user pair of %q", base), c.cfg.User, err)
	}
	return nil
}

// LockResponse says what LockCredential found.
type LockResponse struct {
	// AlreadyLocked is true when the user could not log in before
	// (NOLOGIN): nothing was changed.
	AlreadyLocked bool
}

// LockCredential switches off the credential cred describes, and only that
// one: under the pair's advisory lock it proves that cred logs in (so its
// user still has this password, not one a newer rotation gave it) and then
// locks its user (ALTER ROLE ... NOLOGIN). Sessions already open continue.
// A user that is already locked is left as it is. When cred does not log in
// for any other reason the error says why and nothing is changed: a locked
// user that a rotation is about to promote would be an outage, a user that
// was never locked a silent gap. It refuses the session's own user.
func (c *Conn) LockCredential(ctx context.Context, cred ConnConfig) (*LockResponse, error) {
	op := "lock " + strconv.Quote(cred.User)
	if cred.User == c.cfg.User {
		return nil, newError(op, ErrPrivilege, "refusing to lock the session's own user", "", nil)
	}
	tx, err := c.begin(ctx)
	if err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	defer c.rollback(ctx, tx)
	if err := c.lockPair(ctx, tx, BaseUsername(cred.User)); err != nil {
		return nil, err
	}
	r, err := c.role(ctx, tx, cred.User)
	if err != nil {
		return nil, err
	}
	if !r.CanLogin {
		return &LockResponse{AlreadyLocked: true}, nil
	}
	if err := Login(ctx, cred); err != nil {
		var e *Error
		if errors.As(err, &e) && (errors.Is(err, ErrAuth) || errors.Is(err, ErrLocked)) {
			return nil, newError(op, e.Kind, "its credential does not log in, so it is not the user's live credential (a newer rotation may have given the user another password): nothing was locked",
				"if a rotation is under way this resolves itself; otherwise compare the secret's versions with the user: "+err.Error(), err, cred.Password)
		}
		return nil, fmt.Errorf("%s: prove the credential before locking it: %w", op, err)
	}
	if err := c.exec(ctx, tx, "ALTER ROLE "+quoteIdent(cred.User)+" NOLOGIN"); err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	if err := c.commit(ctx, tx); err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	return &LockResponse{}, nil
}

// UnlockCredential switches the credential cred describes on again: under
// the pair's advisory lock it unlocks the user (ALTER ROLE ... LOGIN, when
// it was locked), then proves that cred logs in. When it does not (a newer
// rotation gave the user another password) the error says so: a rollback
// to that credential is impossible.
func (c *Conn) UnlockCredential(ctx context.Context, cred ConnConfig) error {
	op := "unlock " + strconv.Quote(cred.User)
	if cred.User == c.cfg.User {
		return newError(op, ErrPrivilege, "refusing to unlock the session's own user", "", nil)
	}
	tx, err := c.begin(ctx)
	if err != nil {
		return classifyExec(op, c.cfg.User, err)
	}
	defer c.rollback(ctx, tx)
	if err := c.lockPair(ctx, tx, BaseUsername(cred.User)); err != nil {
		return err
	}
	r, err := c.role(ctx, tx, cred.User)
	if err != nil {
		return err
	}
	if !r.CanLogin {
		if err := c.exec(ctx, tx, "ALTER ROLE "+quoteIdent(cred.User)+" LOGIN"); err != nil {
			return classifyExec(op, c.cfg.User, err)
		}
	}
	if err := c.commit(ctx, tx); err != nil {
		return classifyExec(op, c.cfg.User, err)
	}
	if err := Login(ctx, cred); err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(err, ErrAuth) {
			return newError(op, ErrAuth, "the user may log in again, but this credential's password is no longer the user's (a newer rotation replaced it), so it cannot come back",
				"rotate the secret instead of rolling back", err, cred.Password)
		}
		return fmt.Errorf("%s: prove the credential after unlocking it: %w", op, err)
	}
	return nil
}
