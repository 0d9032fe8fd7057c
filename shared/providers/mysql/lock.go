package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// pairLockWait is how long a session waits for the pair's lock.
const pairLockWait = 10

// pairLockName is the name of the user lock (GET_LOCK) that serialises
// every change dualkey makes to the users of one alternating pair; names are
// at most 64 characters, so the base user is hashed.
func pairLockName(base string) string {
	sum := sha256.Sum256([]byte(base))
	return "dualkey-pair-" + hex.EncodeToString(sum[:20])
}

// lockPair takes the pair's lock for the session and returns its release:
// SetAlternate, LockCredential and UnlockCredential of the same pair never
// run at the same time (a retire run switching the previous user off while
// a rotation gives that user its next password).
func (c *Conn) lockPair(ctx context.Context, base string) (func(), error) {
	op := fmt.Sprintf("lock the user pair of %q", base)
	name := pairLockName(base)
	var got sql.NullInt64
	if err := c.conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, pairLockWait).Scan(&got); err != nil {
		return nil, classifyExec(op, c.cfg.User, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, newError(op, ErrServer, fmt.Sprintf("another session held the pair's lock for %d s (a rotation or a switch-off of the same users)", pairLockWait),
			"the step is retried", nil)
	}
	return func() {
		_, _ = c.conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", name)
	}, nil
}

// LockResponse says what LockCredential found.
type LockResponse struct {
	// AlreadyLocked is true when the account was locked before: nothing was
	// changed.
	AlreadyLocked bool
}

// LockCredential switches off the credential cred describes, and only that
// one: under the pair's lock it proves that cred logs in (so its account
// still has this password, not one a newer rotation gave it) and then locks
// the account (ALTER USER ... ACCOUNT LOCK). Sessions already open continue.
// An account that is already locked is left as it is. When cred does not log
// in for any other reason the error says why and nothing is changed. It
// refuses the session's own user.
func (c *Conn) LockCredential(ctx context.Context, cred ConnConfig) (*LockResponse, error) {
	op := "lock " + strconv.Quote(cred.User)
	if cred.User == c.cfg.User {
		return nil, newError(op, ErrPrivilege, "refusing to lock the session's own user", "", nil)
	}
	release, err := c.lockPair(ctx, BaseUsername(cred.User))
	if err != nil {
		return nil, err
	}
	defer release()
	a, err := c.Account(ctx, cred.User)
	if err != nil {
		return nil, err
	}
	locked, err := c.Locked(ctx, a)
	if err != nil {
		return nil, err
	}
	if locked {
		return &LockResponse{AlreadyLocked: true}, nil
	}
	if err := Login(ctx, cred); err != nil {
		var e *Error
		if errors.As(err, &e) && (errors.Is(err, ErrAuth) || errors.Is(err, ErrLocked)) {
			return nil, newError(op, e.Kind, "its credential does not log in, so it is not the account's live credential (a newer rotation may have given it another password, "+
				"or this function may not log in as it from where it runs): nothing was locked",
				"if a rotation is under way this resolves itself; otherwise check that this function reaches the database as the rotation function does: "+err.Error(), err, cred.Password)
		}
		return nil, fmt.Errorf("%s: prove the credential before locking it: %w", op, err)
	}
	if err := c.exec(ctx, op, nil, "ALTER USER "+a.String()+" ACCOUNT LOCK"); err != nil {
		return nil, err
	}
	return &LockResponse{}, nil
}

// UnlockCredential switches the credential cred describes on again: under
// the pair's lock it unlocks the account (ACCOUNT UNLOCK), then proves that
// cred logs in. When it does not (a newer rotation gave the account another
// password) the error says so: a rollback to that credential is impossible.
func (c *Conn) UnlockCredential(ctx context.Context, cred ConnConfig) error {
	op := "unlock " + strconv.Quote(cred.User)
	if cred.User == c.cfg.User {
		return newError(op, ErrPrivilege, "refusing to unlock the session's own user", "", nil)
	}
	release, err := c.lockPair(ctx, BaseUsername(cred.User))
	if err != nil {
		return err
	}
	defer release()
	a, err := c.Account(ctx, cred.User)
	if err != nil {
		return err
	}
	locked, err := c.Locked(ctx, a)
	if err != nil {
		return err
	}
	if locked {
		if err := c.exec(ctx, op, nil, "ALTER USER "+a.String()+" ACCOUNT UNLOCK"); err != nil {
			return err
		}
	}
	if err := Login(ctx, cred); err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(err, ErrAuth) {
			return newError(op, ErrAuth, "the account may log in again, but this credential's password is not the account's (a newer rotation replaced it), so it cannot come back",
				"rotate the secret instead of rolling back", err, cred.Password)
		}
		return fmt.Errorf("%s: prove the credential after unlocking it: %w", op, err)
	}
	return nil
}
