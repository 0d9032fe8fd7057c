package demosvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/keyring"
)

// Client defaults applied by Run to zero ClientConfig fields.
const (
	DefaultInterval     = 5 * time.Millisecond
	DefaultRefreshEvery = 50 * time.Millisecond
	DefaultWorkers      = 1
	defaultHTTPTimeout  = 5 * time.Second
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// API reads the secret (AWSCURRENT only). Required.
	API keyring.ValueGetter
	// SecretID is the secret's name or ARN. Required.
	SecretID string
	// Field is the JSON field holding the key; default "api_key" (see
	// keyring.ExtractKey).
	Field string
	// URL is the full URL requested with GET, e.g. "http://127.0.0.1:8080/hello". Required.
	URL string
	// Interval is the pause between two requests of one worker; default 5ms.
	Interval time.Duration
	// RefreshEvery is how often the cached AWSCURRENT is re-read; default 50ms.
	RefreshEvery time.Duration
	// Workers is the number of concurrent request loops; default 1.
	Workers int
	// HTTPClient sends the requests; default a client with a 5s timeout.
	HTTPClient *http.Client
}

// KeyStats counts the requests made with one key.
type KeyStats struct {
	Sent, OK, Failed int64
}

// ClientStats is a snapshot of a Client's counters. Requests are counted when
// they complete; a request cut short because Run's context ended is not
// counted at all. There is no retry: every failed attempt counts.
type ClientStats struct {
	Sent   int64 // OK + Failed
	OK     int64 // 2xx responses
	Failed int64 // non-2xx responses and transport errors
	// Unauthorized is the subset of Failed that got 401.
	Unauthorized int64
	// KeyReads counts successful reads of AWSCURRENT; KeyReadErrors failed ones.
	KeyReads, KeyReadErrors int64
	// ByKey breaks the requests down by the fingerprint of the key used.
	ByKey map[string]KeyStats
}

// cachedKey is the client's copy of AWSCURRENT. A new pointer is stored on
// every (attempted) re-read.
type cachedKey struct {
	key         string
	fingerprint string
	readAt      time.Time
}

// Client is a steady stream of authenticated requests whose key is the
// AWSCURRENT version, cached and re-read every RefreshEvery — and at once
// after a 401, so the request after a 401 uses a freshly read key.
type Client struct {
	cfg  ClientConfig
	http *http.Client

	reloadMu sync.Mutex // serialises re-reads of AWSCURRENT
	cur      atomic.Pointer[cachedKey]

	mu    sync.Mutex // guards stats
	stats ClientStats
}

// NewClient returns a Client; the configuration is checked by Run.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Field == "" {
		cfg.Field = keyring.DefaultField
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = DefaultRefreshEvery
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &Client{cfg: cfg, http: hc, stats: ClientStats{ByKey: map[string]KeyStats{}}}
}

// Run reads AWSCURRENT, then sends requests from Workers goroutines until ctx
// is done, and returns nil. It returns an error without sending anything if
// the configuration is invalid or the first read of AWSCURRENT fails. Run
// must not be called concurrently with itself.
func (c *Client) Run(ctx context.Context) error {
	if c.cfg.API == nil || c.cfg.SecretID == "" {
		return errors.New("demosvc: client needs API and SecretID")
	}
	if u, err := url.Parse(c.cfg.URL); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("demosvc: client URL %q is not an absolute URL", c.cfg.URL)
	}
	if err := c.reload(ctx, nil); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("demosvc: initial read of %s of secret %q: %w", keyring.StageCurrent, c.cfg.SecretID, err)
	}
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() { c.worker(ctx) })
	}
	wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.ByKey = maps.Clone(c.stats.ByKey)
	return s
}

func (c *Client) worker(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		c.once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once sends one request with the cached key.
func (c *Client) once(ctx context.Context) {
	k := c.cur.Load()
	if time.Since(k.readAt) >= c.cfg.RefreshEvery {
		_ = c.reload(ctx, k) // counted in KeyReadErrors; the old key is kept
		k = c.cur.Load()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.URL, nil)
	if err != nil {
		c.record(k.fingerprint, 0)
		return
	}
	req.Header.Set("Authorization", "Bearer "+k.key)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.record(k.fingerprint, 0)
		}
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	c.record(k.fingerprint, resp.StatusCode)
	if resp.StatusCode == http.StatusUnauthorized {
		// Re-read now so that this worker's next request uses the latest
		// AWSCURRENT. The 401 above still counts as failed.
		_ = c.reload(ctx, k)
	}
}

// record counts one completed attempt; status 0 means a transport error.
func (c *Client) record(fingerprint string, status int) {
	ok := status >= 200 && status < 300
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.stats.ByKey[fingerprint]
	c.stats.Sent++
	ks.Sent++
	if ok {
		c.stats.OK++
		ks.OK++
	} else {
		c.stats.Failed++
		ks.Failed++
		if status == http.StatusUnauthorized {
			c.stats.Unauthorized++
		}
	}
	c.stats.ByKey[fingerprint] = ks
}

// reload re-reads AWSCURRENT. If seen is non-nil and the cache no longer
// holds seen, another goroutine has re-read since the caller looked, and
// nothing is done. On failure the old key is kept (with a new read time, so
// a failing Secrets Manager is retried every RefreshEvery, not per request).
func (c *Client) reload(ctx context.Context, seen *cachedKey) error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	if seen != nil && c.cur.Load() != seen {
		return nil
	}
	key, err := c.readCurrent(ctx)
	c.mu.Lock()
	if err != nil {
		c.stats.KeyReadErrors++
	} else {
		c.stats.KeyReads++
	}
	c.mu.Unlock()
	if err != nil {
		if seen != nil {
			c.cur.Store(&cachedKey{key: seen.key, fingerprint: seen.fingerprint, readAt: time.Now()})
		}
		return err
	}
	c.cur.Store(&cachedKey{key: key, fingerprint: keyring.Fingerprint(key), readAt: time.Now()})
	return nil
}

func (c *Client) readCurrent(ctx context.Context) (string, error) {
	out, err := c.cfg.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(c.cfg.SecretID),
		VersionStage: aws.String(keyring.StageCurrent),
	})
	if err != nil {
		return "", fmt.Errorf("get %s: %w", keyring.StageCurrent, err)
	}
	if out == nil || out.SecretString == nil {
		return "", fmt.Errorf("%s has no SecretString", keyring.StageCurrent)
	}
	key, err := keyring.ExtractKey(*out.SecretString, c.cfg.Field)
	if err != nil {
		return "", fmt.Errorf("%s version %s: %w", keyring.StageCurrent, aws.ToString(out.VersionId), err)
	}
	return key, nil
}
