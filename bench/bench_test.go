// Package bench measures what docs/benchmarks.md records: Secrets Manager
// calls per rotation, process start to first completed invoke of the real
// bootstrap under the Lambda Runtime Interface Emulator, the bootstrap's
// size, and the bootstrap's peak RSS during a rotation. Run: bench/run.sh.
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
	bootstrap string
	port      int
	sm        *secretsmanager.Client
}

func newRig(b *testing.B) *rig {
	b.Helper()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		b.Fatal(err)
	}
	bs, err := lambdarie.Build(context.Background(), "servicekey", b.TempDir())
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
	return &rig{emu: emu, url: url, rie: rie, bootstrap: bs, port: port, sm: demo.Client(url)}
}

func (r *rig) start(b *testing.B) *lambdarie.Process {
	b.Helper()
	p, err := lambdarie.Start(context.Background(), r.rie, r.bootstrap, r.port, awsemu.FunctionEnv(r.url))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func (r *rig) secret(b *testing.B, name string) (arn, current string) {
	b.Helper()
	out, err := r.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"api_key":"bench-initial-key-0123456789abcdefghijkl"}`),
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

// BenchmarkColdStart measures from starting aws-lambda-rie with the real
// bootstrap to the first completed invocation (an idempotent replay of a
// finished rotation: one DescribeSecret).
func BenchmarkColdStart(b *testing.B) {
	r := newRig(b)
	arn, _ := r.secret(b, "bench/cold")
	setup := r.start(b)
	r.rotate(b, arn)
	setup.Close()
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
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p := r.start(b)
		if _, err := p.Invoke(context.Background(), event); err != nil {
			b.Fatalf("invoke: %v\n%s", err, p.Logs())
		}
		total += time.Since(start)
		b.StopTimer()
		p.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-invoke")
	if st, err := os.Stat(r.bootstrap); err == nil {
		b.ReportMetric(float64(st.Size()), "bootstrap-bytes")
	}
}

// BenchmarkRotation measures one full rotation through RotateSecret and the
// bootstrap under the RIE: Secrets Manager calls and the bootstrap's peak RSS.
func BenchmarkRotation(b *testing.B) {
	r := newRig(b)
	p := r.start(b)
	defer p.Close()
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
	if kb := bootstrapPeakRSS(b); kb > 0 {
		b.ReportMetric(float64(kb), "peak-rss-kB")
	}
}

// bootstrapPeakRSS reads VmHWM of the running bootstrap process.
func bootstrapPeakRSS(b *testing.B) int {
	out, err := exec.Command("pgrep", "-f", "/bootstrap$").Output()
	if err != nil {
		b.Logf("pgrep: %v", err)
		return 0
	}
	peak := 0
	for _, pid := range strings.Fields(string(out)) {
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				f := strings.Fields(line)
				if n, err := strconv.Atoi(f[1]); err == nil && n > peak {
					peak = n
				}
			}
		}
	}
	return peak
}
