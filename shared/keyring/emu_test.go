package keyring_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// smProxy sits between the keyring's SDK client and the real Secrets
// Manager emulator. It counts the calls that arrive per operation and can
// hold them (a slow Secrets Manager) or drop the connection (an unreachable
// one). The emulator itself is untouched: every answer is its own.
type smProxy struct {
	emu *awsemu.Server

	mu      sync.Mutex
	calls   map[string]int
	hold    chan struct{}   // non-nil: requests wait until it is closed
	down    map[string]bool // operations ("" = all) whose connection is closed
	arrived chan string     // every arrival is announced here (buffered)
}

func (p *smProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	p.mu.Lock()
	p.calls[op]++
	hold, down := p.hold, p.down[""] || p.down[op]
	p.mu.Unlock()
	select {
	case p.arrived <- op:
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if down {
		// Unreachable: the connection closes without an answer.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	p.emu.ServeHTTP(w, r)
}

// Calls returns how many calls of op arrived.
func (p *smProxy) Calls(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// Hold makes arriving requests wait until the returned release is called.
func (p *smProxy) Hold() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			if p.hold == ch {
				p.hold = nil
			}
			p.mu.Unlock()
			close(ch)
		})
	}
}

// SetDown makes Secrets Manager unreachable (true) or reachable again; with
// ops, only for those operations.
func (p *smProxy) SetDown(down bool, ops ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(ops) == 0 {
		ops = []string{""}
	}
	for _, op := range ops {
		p.down[op] = down
	}
}

// emuSecret is a secret in the real emulator, managed with an admin client
// that bypasses the proxy (so its calls are not counted).
type emuSecret struct {
	t     *testing.T
	admin *secretsmanager.Client
	proxy *smProxy
	// api is the keyring's client: through the proxy, one attempt per call
	// so a dropped connection fails at once instead of backing off in real
	// time.
	api *secretsmanager.Client
	arn string
}

// startEmuSecret starts the emulator and a proxy in front of it, and
// creates a secret whose first version (AWSCURRENT) holds firstKey.
func startEmuSecret(t *testing.T, firstKey string) *emuSecret {
	t.Helper()
	return startEmuSecretWith(t, awsemu.Config{}, firstKey)
}

// startEmuSecretWith is startEmuSecret with an emulator configuration (for
// example an Invoker standing in for the rotation Lambda).
func startEmuSecretWith(t *testing.T, cfg awsemu.Config, firstKey string) *emuSecret {
	t.Helper()
	emu, err := awsemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	p := &smProxy{emu: emu, calls: map[string]int{}, down: map[string]bool{}, arrived: make(chan string, 1024)}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { p.mu.Lock(); h := p.hold; p.hold = nil; p.mu.Unlock(); closeQuietly(h) })

	s := &emuSecret{
		t:     t,
		admin: secretsmanager.NewFromConfig(awsemu.ClientConfig(url)),
		proxy: p,
		api: secretsmanager.NewFromConfig(awsemu.ClientConfig(ts.URL), func(o *secretsmanager.Options) {
			o.RetryMaxAttempts = 1
		}),
	}
	out, err := s.admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name:         aws.String("svc/api-key"),
		SecretString: aws.String(secretJSON(firstKey)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.arn = aws.ToString(out.ARN)
	return s
}

func closeQuietly(ch chan struct{}) {
	if ch == nil {
		return
	}
	defer func() { _ = recover() }() // already closed by a release
	close(ch)
}

func secretJSON(key string) string {
	b, _ := json.Marshal(map[string]string{"api_key": key, "username": "svc"})
	return string(b)
}

// versionOf returns the id of the version carrying stage ("" if none).
func (s *emuSecret) versionOf(stage string) string {
	s.t.Helper()
	out, err := s.admin.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.arn)})
	if err != nil {
		s.t.Fatal(err)
	}
	for id, stages := range out.VersionIdsToStages {
		for _, st := range stages {
			if st == stage {
				return id
			}
		}
	}
	return ""
}

// put adds a version holding key with the given stages (none: AWSCURRENT,
// which moves AWSPREVIOUS along as Secrets Manager does) and returns its id.
func (s *emuSecret) put(key string, stages ...string) string {
	s.t.Helper()
	out, err := s.admin.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId:      aws.String(s.arn),
		SecretString:  aws.String(secretJSON(key)),
		VersionStages: stages,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// putRaw adds a version with a raw SecretString and the given stages.
func (s *emuSecret) putRaw(secretString string, stages ...string) string {
	s.t.Helper()
	out, err := s.admin.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId:      aws.String(s.arn),
		SecretString:  aws.String(secretString),
		VersionStages: stages,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// removeLabel takes stage off its version: what retire does to AWSPREVIOUS
// and what an emergency rotation does to the compromised key's label.
func (s *emuSecret) removeLabel(stage string) {
	s.t.Helper()
	id := s.versionOf(stage)
	if id == "" {
		s.t.Fatalf("no version carries %s", stage)
	}
	if _, err := s.admin.UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(s.arn),
		VersionStage:        aws.String(stage),
		RemoveFromVersionId: aws.String(id),
	}); err != nil {
		s.t.Fatal(err)
	}
}

// promotePending is finishSecret: AWSCURRENT moves to the AWSPENDING
// version (AWSPREVIOUS follows the old current) and AWSPENDING is removed.
func (s *emuSecret) promotePending() {
	s.t.Helper()
	ctx := context.Background()
	pending, current := s.versionOf("AWSPENDING"), s.versionOf("AWSCURRENT")
	if _, err := s.admin.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(s.arn), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: aws.String(pending), RemoveFromVersionId: aws.String(current),
	}); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.admin.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(s.arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(pending),
	}); err != nil {
		s.t.Fatal(err)
	}
}
