package awsemu_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// laggingConn is a client connection on a loaded machine, where the
// goroutines of the Transport and the SDK run late and in any order. The
// response arrives in pieces of at most 1 KiB. After writing a request's
// body, the Transport's writer gets the CPU back only once the response's
// body is being read (the connection has delivered more than the
// Transport's 4 KiB read buffer holds), and the body's reader in turn waits
// for the writer's next step, which may be to close the connection, for up
// to 50 ms. Every wait ends after a second at most. BenchmarkSweep ran into
// this at load averages of 8-20 on two cores.
type laggingConn struct {
	net.Conn
	closed    chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	read      int           // bytes read since the last body was written
	bodyRead  chan struct{} // closed once read passes 4 KiB
	resumed   chan struct{} // closed when the writer goes on
	triggered bool
}

func (c *laggingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p[:min(len(p), 1024)])
	c.mu.Lock()
	var resumed chan struct{}
	if c.bodyRead != nil && !c.triggered {
		if c.read += n; c.read > 4096 {
			c.triggered = true
			close(c.bodyRead)
			resumed = c.resumed
		}
	}
	c.mu.Unlock()
	if resumed != nil {
		select {
		case <-resumed:
		case <-time.After(time.Second):
		}
		select {
		case <-c.closed:
		case <-time.After(50 * time.Millisecond):
		}
	}
	return n, err
}

func (c *laggingConn) Write(p []byte) (int, error) {
	if bytes.HasSuffix(p, []byte("\r\n\r\n")) {
		// Headers sent ahead of their body: the server answers only once
		// the body has arrived.
		return c.Conn.Write(p)
	}
	bodyRead, resumed := make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.read, c.bodyRead, c.resumed, c.triggered = 0, bodyRead, resumed, false
	c.mu.Unlock()
	n, err := c.Conn.Write(p)
	if err == nil {
		select {
		case <-bodyRead:
		case <-time.After(time.Second):
		}
	}
	close(resumed)
	return n, err
}

func (c *laggingConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// laggingHTTPClient is the SDK's default HTTP client over laggingConns.
func laggingHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &laggingConn{Conn: c, closed: make(chan struct{})}, nil
		}
	})
}

// TestListSecretsPagesOnceEachThroughTheSDK pages ListSecrets with the real
// SDK client through thousands of secrets, as the retire sweep does, from a
// client whose writer lags as under load: with ClientConfig's HTTP client
// exactly one request per page reaches the emulator and none fails. The
// bare SDK client loses attempts on the same connections ("deserialization
// failed ... use of closed network connection": it closes a connection
// whose response it is still reading), which BenchmarkSweep saw as about
// 10% more ListSecrets calls than pages and, when three attempts in a row
// lost, as a failed sweep; that case shows the test reproduces the failure.
func TestListSecretsPagesOnceEachThroughTheSDK(t *testing.T) {
	const n, unmanaged = 2550, 50 // 26 pages, the last one half full
	e := startEmu(t, awsemu.Config{})
	for i := range n + unmanaged {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("fleet/servicekey/%06d", i)), SecretString: aws.String(`{"api_key":"k"}`)}
		if i%((n+unmanaged)/unmanaged) != 0 {
			in.Tags = []types.Tag{{Key: aws.String("dualkey:managed"), Value: aws.String("true")}, {Key: aws.String("dualkey:provider"), Value: aws.String("servicekey")}}
		}
		must(e.sm.CreateSecret(ctx, in)).ok(t)
	}
	wantPages := (n + 99) / 100

	tests := []struct {
		name   string
		client func(aws.HTTPClient) aws.HTTPClient
		// retries: the SDK's own (ClientConfig's default, 3 attempts), so a
		// lost attempt shows only as an extra request; or none, so that
		// every lost attempt is an error the test counts.
		sdkRetries bool
		wantExact  bool
	}{
		{name: "ClientConfig's HTTP client", client: awsemu.HTTPClient, sdkRetries: true, wantExact: true},
		{name: "bare SDK client", client: func(c aws.HTTPClient) aws.HTTPClient { return c }, wantExact: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := awsemu.ClientConfig(e.url)
			cfg.HTTPClient = tt.client(laggingHTTPClient())
			if !tt.sdkRetries {
				cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
			}
			sm := secretsmanager.NewFromConfig(cfg)
			e.srv.ResetStats()
			in := &secretsmanager.ListSecretsInput{Filters: []types.Filter{
				{Key: types.FilterNameStringTypeTagKey, Values: []string{"dualkey:managed"}},
				{Key: types.FilterNameStringTypeTagValue, Values: []string{"true"}},
			}}
			listed, pages, failed := map[string]bool{}, 0, []error{}
			for len(failed) < 3*wantPages {
				out, err := sm.ListSecrets(ctx, in)
				if err != nil {
					failed = append(failed, err) // the same page again
					continue
				}
				pages++
				for _, s := range out.SecretList {
					if listed[aws.ToString(s.Name)] {
						t.Fatalf("page %d lists %s again", pages, aws.ToString(s.Name))
					}
					listed[aws.ToString(s.Name)] = true
				}
				if out.NextToken == nil {
					break
				}
				in.NextToken = out.NextToken
			}
			calls := e.srv.Stats()["ListSecrets"]
			t.Logf("%d pages, %d secrets, %d ListSecrets requests, %d failed calls", pages, len(listed), calls, len(failed))
			if !tt.wantExact {
				if len(failed) == 0 && calls == pages {
					t.Fatalf("the bare SDK client lost no attempt (%d requests for %d pages): the test no longer reproduces the race it guards against", calls, pages)
				}
				return
			}
			if len(failed) > 0 {
				t.Fatalf("%d ListSecrets calls failed, the first: %v", len(failed), failed[0])
			}
			if pages != wantPages || len(listed) != n {
				t.Fatalf("listed %d secrets in %d pages, want %d in %d", len(listed), pages, n, wantPages)
			}
			if calls != wantPages {
				t.Fatalf("%d ListSecrets requests reached the emulator for %d pages: attempts failed and were retried", calls, wantPages)
			}
		})
	}
}
