package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// CallHook wraps each request a connection makes to the server: the login,
// and every statement with its whole reply (for a query, every row); see
// sqlcred.CallHook. Production code leaves it nil.
type CallHook = sqlcred.CallHook

// queryer is what statements run on: a connection or a transaction.
type queryer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// call runs one request through the hook, if any.
func (c *Conn) call(send func() error) error {
	if c.cfg.Hook == nil {
		return send()
	}
	return c.cfg.Hook(send)
}

// exec runs a statement.
func (c *Conn) exec(ctx context.Context, q queryer, sql string, args ...any) error {
	return c.call(func() error {
		_, err := q.Exec(ctx, sql, args...)
		return err
	})
}

// scanRow runs a query that returns one row and scans it into dest.
func (c *Conn) scanRow(ctx context.Context, q queryer, dest []any, sql string, args ...any) error {
	return c.call(func() error { return q.QueryRow(ctx, sql, args...).Scan(dest...) })
}

// forEach runs a query and calls each for every row, all in one request.
func (c *Conn) forEach(ctx context.Context, q queryer, each func(pgx.Rows) error, sql string, args ...any) error {
	return c.call(func() error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// begin starts a transaction.
func (c *Conn) begin(ctx context.Context) (pgx.Tx, error) {
	var tx pgx.Tx
	err := c.call(func() error {
		var err error
		tx, err = c.pg.Begin(ctx)
		return err
	})
	return tx, err
}

// commit commits a transaction.
func (c *Conn) commit(ctx context.Context, tx pgx.Tx) error {
	return c.call(func() error { return tx.Commit(ctx) })
}

// rollback ends a transaction that was not committed (a no-op after a
// commit), for defer.
func (c *Conn) rollback(ctx context.Context, tx pgx.Tx) {
	_ = c.call(func() error { return tx.Rollback(context.WithoutCancel(ctx)) })
}
