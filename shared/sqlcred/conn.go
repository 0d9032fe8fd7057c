package sqlcred

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultConnectTimeout bounds each connection attempt (AWS's functions use
// 5 seconds); a context deadline that leaves less time shortens it.
const DefaultConnectTimeout = 5 * time.Second

// EnvCABundle names the environment variable that holds the path of a PEM
// file of CA certificates the providers trust besides the system's roots
// (for Amazon RDS: the global bundle, packaged with the function). A
// relative path is taken from the function's package directory
// ($LAMBDA_TASK_ROOT).
const EnvCABundle = "DUALKEY_DB_CA_BUNDLE"

// CallHook wraps each request a connection makes to the server: the login,
// and every statement with its whole reply (for a query, every row). send
// makes the request; the hook must call it at most once and return its
// error, or an error of its own (the caller then sees the request fail).
// Tests use it to count SQL calls and inject faults (rotationtest's
// Transport.Call); production code leaves it nil.
type CallHook func(send func() error) error

// CAPool returns the system's roots plus the certificates in extraPEM (for
// example Amazon RDS's global bundle). name is the provider's, the prefix
// of the error.
func CAPool(name string, extraPEM []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(extraPEM) > 0 && !pool.AppendCertsFromPEM(extraPEM) {
		return nil, errors.New(name + ": the CA bundle holds no PEM certificate")
	}
	return pool, nil
}

// CABundleFromEnv returns the system's roots plus the certificates of the
// file EnvCABundle names (nil, nil when it is unset: the system's roots).
func CABundleFromEnv(name string, getenv func(string) string) (*x509.CertPool, error) {
	path := getenv(EnvCABundle)
	if path == "" {
		return nil, nil
	}
	if !filepath.IsAbs(path) {
		if root := getenv("LAMBDA_TASK_ROOT"); root != "" {
			path = filepath.Join(root, path)
		}
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("environment variable %s=%q: cannot read the CA bundle: %w; package the PEM file with the function (for Amazon RDS, the global bundle from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) or unset it to trust only the system's roots",
			EnvCABundle, getenv(EnvCABundle), err)
	}
	pool, err := CAPool(name, pem)
	if err != nil {
		return nil, fmt.Errorf("environment variable %s=%q: %w; it must name a PEM file of CA certificates", EnvCABundle, getenv(EnvCABundle), err)
	}
	return pool, nil
}

// ConnectTimeout fits the configured timeout (DefaultConnectTimeout when
// max is not positive) into what the context leaves, keeping a margin so
// that the step can still report a clear error before the Lambda's own
// deadline.
func ConnectTimeout(ctx context.Context, max time.Duration) time.Duration {
	if max <= 0 {
		max = DefaultConnectTimeout
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return max
	}
	left := time.Until(dl)
	margin := time.Second
	if left < 3*time.Second {
		margin = left / 3
	}
	if t := left - margin; t < max {
		max = t
	}
	if max < 50*time.Millisecond {
		max = 50 * time.Millisecond
	}
	return max
}

// FirstLogin tries the candidates in order with connect and returns an open
// session of the first that logs in, with its index. It moves on only when
// a candidate's password is refused (ErrAuth) or its login switched off
// (locked, the engine's kind); any other failure ends the search, since
// another password cannot help. When none works the error lists each
// attempt.
func FirstLogin[Cfg any, C any](ctx context.Context, connect func(context.Context, Cfg) (C, error), locked error, candidates []Cfg) (C, int, error) {
	var errs []error
	for i, cfg := range candidates {
		c, err := connect(ctx, cfg)
		if err == nil {
			return c, i, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, ErrAuth) && !errors.Is(err, locked) {
			break
		}
	}
	var zero C
	return zero, -1, errors.Join(errs...)
}
