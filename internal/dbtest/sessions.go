package dbtest

import (
	"context"
	"fmt"
	"time"
)

// Sessions returns how many sessions of user the server lists
// (pg_stat_activity, or MariaDB's process list), counted as the admin.
func (s *Server) Sessions(ctx context.Context, user string) (int, error) {
	var n int
	if s.Engine == EngineMariaDB {
		db, err := s.mariaAdmin()
		if err != nil {
			return 0, err
		}
		defer db.Close()
		err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", user).Scan(&n)
		return n, err
	}
	conn, err := s.pgAdmin(ctx, "postgres")
	if err != nil {
		return 0, fmt.Errorf("connect as admin: %w", err)
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", user).Scan(&n)
	return n, err
}

// WaitNoSessions waits until the server lists no session of user, checking
// every 50 ms, for at most limit. A client's Close returns before the
// server has ended its session: a test that closes a session and then
// expects the server not to list it waits here first.
func (s *Server) WaitNoSessions(ctx context.Context, user string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		n, err := s.Sessions(ctx, user)
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("sessions of %q: %w", user, err)
			}
			return fmt.Errorf("the server still lists %d sessions of %q after %s", n, user, limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
