package mysql

import (
	"context"
	"database/sql/driver"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// CallHook wraps each request a connection makes to the server: the login,
// and every statement (its reply, for a query the result set's header, has
// been read when send returns). The hook must call send at most once and
// return its error, or an error of its own (the caller then sees the
// statement fail). Tests use it to count SQL calls and inject faults
// (rotationtest's Transport.Call); production code leaves it nil.
type CallHook = sqlcred.CallHook

// hookConnector makes every connection of a database/sql pool go through
// the hook.
type hookConnector struct {
	driver.Connector
	hook CallHook
}

func (c hookConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var conn driver.Conn
	err := c.hook(func() error {
		var err error
		conn, err = c.Connector.Connect(ctx)
		return err
	})
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, err
	}
	return &hookedConn{inner: conn, hook: c.hook}, nil
}

// innerConn is what go-sql-driver's connection implements.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// hookedConn passes a connection's statements through the hook. Statements
// the driver cannot run without preparing them (driver.ErrSkip) are not
// wrapped a second time: dualkey's statements are all interpolated.
type hookedConn struct {
	inner driver.Conn
	hook  CallHook
}

var (
	_ driver.ConnBeginTx        = (*hookedConn)(nil)
	_ driver.ExecerContext      = (*hookedConn)(nil)
	_ driver.QueryerContext     = (*hookedConn)(nil)
	_ driver.ConnPrepareContext = (*hookedConn)(nil)
	_ driver.Pinger             = (*hookedConn)(nil)
	_ driver.SessionResetter    = (*hookedConn)(nil)
	_ driver.Validator          = (*hookedConn)(nil)
	_ driver.NamedValueChecker  = (*hookedConn)(nil)
)

func (c *hookedConn) ic() innerConn { return c.inner.(innerConn) }

func (c *hookedConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }
func (c *hookedConn) Close() error                              { return c.inner.Close() }

//nolint:staticcheck // driver.Conn requires Begin
func (c *hookedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *hookedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var tx driver.Tx
	err := c.hook(func() error {
		var err error
		tx, err = c.ic().BeginTx(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return hookedTx{inner: tx, hook: c.hook}, nil
}

func (c *hookedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.ic().PrepareContext(ctx, query)
}

func (c *hookedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	var res driver.Result
	err := c.hook(func() error {
		var err error
		res, err = c.ic().ExecContext(ctx, query, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *hookedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	var rows driver.Rows
	err := c.hook(func() error {
		var err error
		rows, err = c.ic().QueryContext(ctx, query, args)
		return err
	})
	if err != nil {
		if rows != nil {
			_ = rows.Close()
		}
		return nil, err
	}
	return rows, nil
}

func (c *hookedConn) Ping(ctx context.Context) error {
	return c.hook(func() error { return c.ic().Ping(ctx) })
}

func (c *hookedConn) ResetSession(ctx context.Context) error { return c.ic().ResetSession(ctx) }
func (c *hookedConn) IsValid() bool                          { return c.ic().IsValid() }
func (c *hookedConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.ic().CheckNamedValue(nv)
}

// hookedTx passes COMMIT and ROLLBACK through the hook.
type hookedTx struct {
	inner driver.Tx
	hook  CallHook
}

func (t hookedTx) Commit() error   { return t.hook(t.inner.Commit) }
func (t hookedTx) Rollback() error { return t.hook(t.inner.Rollback) }
