package mysql

import "context"

// SessionCipher returns the session's Ssl_cipher ("" without TLS), for the
// external tests.
func SessionCipher(ctx context.Context, c *Conn) (string, error) {
	var name, cipher string
	err := c.conn.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher)
	return cipher, err
}
