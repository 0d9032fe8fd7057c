// Package bench measures what docs/benchmarks.md records: Secrets Manager
// calls per rotation; the start of the real bootstrap under the Lambda
// Runtime Interface Emulator to its first completed invoke, as a ratio to a
// minimal aws-lambda-go + SDK bootstrap measured in the same run; the
// bootstraps' sizes and peak RSS (read by PID from the process the
// benchmark's own RIE started); and the retire sweep over 1,000 to 100,000
// secrets (sweep_test.go). Run: bench/run.sh.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/demo"
	"github.com/dualkey/dualkey/internal/lambdarie"
)

type rig struct {
	emu       *awsemu.Full
	url       string
	rie       string
	bootstrap string // functions/servicekey, built as deployed
	minimal   string // bench/testdata/minimal, built the same way
	port      int
	sm        *secretsmanager.Client
}

func newRig(b *testing.B) *rig {
	b.Helper()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bs, err := lambdarie.Build(context.Background(), "servicekey", dir)
	if err != nil {
		b.Fatal(err)
	}
	minimal, err := buildMinimal(dir)
	if err != nil {
		b.Fatal(err)
	}
	port, err := lambdarie.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{"dualkey-servicekey": fmt.Sprintf("http://127.0.0.1:%d%s", port, lambdarie.InvokePath)}}, iamemu.Config{})
	if err != nil {
		b.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { emu.Close() })
	return &rig{emu: emu, url: url, rie: rie, bootstrap: bs, minimal: minimal, port: port, sm: demo.Client(url)}
}

// buildMinimal builds bench/testdata/minimal with the functions' flags
// (lambdarie.Build's) into dir/minimal/bootstrap.
func buildMinimal(dir string) (string, error) {
	root, err := lambdarie.ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "minimal", "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./bench/testdata/minimal")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bench/testdata/minimal: %w: %s", err, b)
	}
	return out, nil
}

// rieProcess is an aws-lambda-rie the benchmark started itself, so that it
// knows the RIE's PID and can find the bootstrap the RIE starts: its child.
type rieProcess struct {
	url  string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
	// listened is how long the RIE took from exec to accepting connections.
	listened time.Duration
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRIE runs rie with bootstrap on the loopback port (as lambdarie.Start
// does) and waits until it accepts connections.
func startRIE(rie, bootstrap string, port int, env []string) (*rieProcess, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	apiPort, err := lambdarie.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append(os.Environ(), env...)
	p := &rieProcess{url: "http://" + addr + lambdarie.InvokePath, cmd: cmd, logs: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", rie, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := start.Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			p.listened = time.Since(start)
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("aws-lambda-rie exited at start: %s", p.logs.String())
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.close()
			return nil, fmt.Errorf("aws-lambda-rie did not listen on %s", addr)
		}
	}
}

func (p *rieProcess) invoke(ctx context.Context, payload []byte) error {
	_, err := lambdarie.Invoke(ctx, p.url, payload)
	return err
}

func (p *rieProcess) close() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// bootstrapPID returns the PID of the bootstrap this RIE started: the
// process whose parent is the RIE (found in /proc by parent PID, never by
// name: other bootstraps may run on the machine).
func (p *rieProcess) bootstrapPID() (int, error) {
	rie := p.cmd.Process.Pid
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(rie) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child of aws-lambda-rie (pid %d) found", rie)
}

// peakRSS returns the VmHWM, in kB, of the bootstrap this RIE started.
func (p *rieProcess) peakRSS() (int, error) {
	pid, err := p.bootstrapPID()
	if err != nil {
		return 0, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, errors.New("no VmHWM in /proc/" + strconv.Itoa(pid) + "/status")
}

func (r *rig) start(b *testing.B, bootstrap string) *rieProcess {
	b.Helper()
	p, err := startRIE(r.rie, bootstrap, r.port, awsemu.FunctionEnv(r.url))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func (r *rig) secret(b *testing.B, name string) (arn, current string) {
	b.Helper()
	out, err := r.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"api_key":"bench-initial-key-0123456789abcdefghijkl"}`),
		Tags: []types.Tag{{Key: aws.String("dualkey:managed"), Value: aws.String("true")}, {Key: aws.String("dualkey:provider"), Value: aws.String("servicekey")}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.ARN), aws.ToString(out.VersionId)
}

func (r *rig) rotate(b *testing.B, arn string) {
	b.Helper()
	if _, err := r.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:dualkey-servicekey"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(90)},
	}); err != nil {
		b.Fatal(err)
	}
	recs := r.emu.Rotations()
	if last := recs[len(recs)-1]; !last.Succeeded {
		b.Fatalf("rotation failed at %s: %s", last.FailedStep, last.Error)
	}
}

// BenchmarkColdStart measures, for the real servicekey bootstrap and for a
// minimal aws-lambda-go + SDK bootstrap (bench/testdata/minimal, the
// floor), alternately in the same run: from starting aws-lambda-rie to the
// first completed invocation (an idempotent replay of a finished rotation:
// one DescribeSecret; the minimal bootstrap makes the same call). Reported:
// both times, their ratio, the RIE's own time to accept connections, both
// sizes and both peak RSS after the first invocation.
func BenchmarkColdStart(b *testing.B) {
	r := newRig(b)
	arn, _ := r.secret(b, "bench/cold")
	setup := r.start(b, r.bootstrap)
	r.rotate(b, arn)
	setup.close()
	d, err := r.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		b.Fatal(err)
	}
	var token string
	for id, st := range d.VersionIdsToStages {
		for _, s := range st {
			if s == "AWSCURRENT" {
				token = id
			}
		}
	}
	event := []byte(`{"Step":"finishSecret","SecretId":"` + arn + `","ClientRequestToken":"` + token + `"}`)
	type side struct {
		bootstrap       string
		total, listened time.Duration
		rss             int
	}
	sides := []*side{{bootstrap: r.minimal}, {bootstrap: r.bootstrap}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range sides {
			start := time.Now()
			p := r.start(b, s.bootstrap)
			if err := p.invoke(context.Background(), event); err != nil {
				b.Fatalf("invoke %s: %v\n%s", s.bootstrap, err, p.logs.String())
			}
			s.total += time.Since(start)
			s.listened += p.listened
			b.StopTimer()
			kb, err := p.peakRSS()
			if err != nil {
				b.Fatal(err)
			}
			s.rss = max(s.rss, kb)
			p.close()
			b.StartTimer()
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	minimal, service := sides[0], sides[1]
	b.ReportMetric(ms(service.total), "ms-to-first-invoke")
	b.ReportMetric(ms(minimal.total), "minimal-ms-to-first-invoke")
	b.ReportMetric(float64(service.total)/float64(minimal.total), "ratio-to-minimal")
	b.ReportMetric(ms(service.listened+minimal.listened)/2, "rie-listen-ms")
	b.ReportMetric(float64(service.rss), "first-invoke-peak-rss-kB")
	b.ReportMetric(float64(minimal.rss), "minimal-peak-rss-kB")
	for _, s := range []struct {
		path, unit string
	}{{r.bootstrap, "bootstrap-bytes"}, {r.minimal, "minimal-bytes"}} {
		if st, err := os.Stat(s.path); err == nil {
			b.ReportMetric(float64(st.Size()), s.unit)
		}
	}
}

// BenchmarkRotation measures one full rotation through RotateSecret and the
// bootstrap under the RIE: Secrets Manager calls and the peak RSS of the
// bootstrap this benchmark's RIE started.
func BenchmarkRotation(b *testing.B) {
	r := newRig(b)
	p := r.start(b, r.bootstrap)
	defer p.close()
	arn, _ := r.secret(b, "bench/rotation")
	r.emu.ResetStats()
	r.rotate(b, arn) // the first rotation of a fresh process: nothing cached
	first := 0
	for op, n := range r.emu.Stats() {
		if op != "RotateSecret" {
			first += n
		}
	}
	r.emu.ResetStats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.rotate(b, arn)
	}
	b.StopTimer()
	calls := 0
	for op, n := range r.emu.Stats() {
		if op != "RotateSecret" {
			calls += n
		}
	}
	b.ReportMetric(float64(calls)/float64(b.N), "sm-calls/warm-rotation")
	b.ReportMetric(float64(first), "sm-calls/cold-rotation")
	kb, err := p.peakRSS()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(kb), "peak-rss-kB")
}
