package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// sweepSizes are the numbers of managed secrets BenchmarkSweep runs at:
// BENCH_SWEEP_SIZES (comma-separated), else 1,000, 10,000 and 100,000.
func sweepSizes(b *testing.B) []int {
	v := os.Getenv("BENCH_SWEEP_SIZES")
	if v == "" {
		return []int{1000, 10000, 100000}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("BENCH_SWEEP_SIZES=%q: want numbers such as 1000,10000", v)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkSweep measures one retire sweep (Lifecycle.Sweep, as the retire
// Lambda runs it) over N managed secrets, half servicekey and half iamkey,
// in the states a steady fleet is in: never rotated, retired (deleted),
// draining, deactivated within the grace period, held, and overdue. None
// has work to do in this run, so each is decided from its ListSecrets entry.
// The emulator runs in its own process (dualkey emulator --state), so the
// heap measured is the sweep's alone. Reported: time per sweep, Secrets
// Manager calls (ListSecrets and any other), the mean ListSecrets round
// trip the sweep saw, the peak heap in use and the bytes allocated.
// pace=default is the deployed pace (ListSecrets at 50 per second, half of
// AWS's quota); pace=none has no pace.
func BenchmarkSweep(b *testing.B) {
	bin := buildDualkey(b)
	for _, n := range sweepSizes(b) {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			now := time.Now().UTC()
			state := filepath.Join(b.TempDir(), "state.json")
			if err := writeFleet(state, n, now); err != nil {
				b.Fatal(err)
			}
			url, emuPID := startEmulator(b, bin, state)
			for _, pace := range []struct {
				name string
				p    lifecycle.Pace
			}{{"default", lifecycle.DefaultPace}, {"none", lifecycle.Unpaced}} {
				b.Run("pace="+pace.name, func(b *testing.B) { benchSweep(b, url, emuPID, n, pace.p) })
			}
		})
	}
}

func benchSweep(b *testing.B, url string, emuPID, n int, pace lifecycle.Pace) {
	cfg := awsemu.ClientConfig(url)
	timed := &timedList{SecretsAPI: secretsmanager.NewFromConfig(cfg)}
	lc, err := lifecycle.New(lifecycle.Config{
		SecretsManager: timed,
		Providers: map[string]rotation.Provider{
			"servicekey": servicekey.New(servicekey.DefaultSettings, nil),
			"iamkey":     iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{}),
		},
		Defaults:  lifecycle.DefaultSettings,
		LogWriter: io.Discard, MetricsWriter: io.Discard,
		Pace: &pace,
	})
	if err != nil {
		b.Fatal(err)
	}
	var peak peakHeap
	var listCalls, otherCalls, allocated, selfCPU, emuCPU, load float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		resetStats(b, url)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := peak.watch()
		cpu0, emu0 := processCPU(b, 0), processCPU(b, emuPID)
		b.StartTimer()
		res, err := lc.Sweep(context.Background(), lifecycle.Options{}, nil)
		b.StopTimer()
		selfCPU += processCPU(b, 0) - cpu0
		emuCPU += processCPU(b, emuPID) - emu0
		load += loadAverage(b)
		stop()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		allocated += float64(after.TotalAlloc - before.TotalAlloc)
		if err != nil || res.Listed != n || res.Idle != n || res.Worked != 0 {
			b.Fatalf("sweep: %v %+v", err, res)
		}
		calls := stats(b, url)
		// One ListSecrets request per page of 100: more means attempts
		// failed and the SDK retried them (see awsemu.HTTPClient).
		if pages := (n + 99) / 100; calls["ListSecrets"] != pages {
			b.Fatalf("sweep: %d ListSecrets requests for %d pages", calls["ListSecrets"], pages)
		}
		for op, c := range calls {
			if op == "ListSecrets" {
				listCalls += float64(c)
			} else {
				otherCalls += float64(c)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	N := float64(b.N)
	b.ReportMetric(listCalls/N, "list-calls/op")
	b.ReportMetric(otherCalls/N, "other-calls/op")
	b.ReportMetric(float64(timed.total.Load())/float64(timed.calls.Load())/1e6, "ms/list-call")
	b.ReportMetric(float64(peak.max.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(allocated/N/(1<<20), "alloc-MB/op")
	b.ReportMetric(selfCPU/N, "sweep-cpu-s/op")
	b.ReportMetric(emuCPU/N, "emulator-cpu-s/op")
	b.ReportMetric(load/N, "loadavg")
}

// processCPU returns the user+system CPU seconds a process has used: pid 0
// is this one (the sweep, with the benchmark's own bookkeeping).
func processCPU(b *testing.B, pid int) float64 {
	b.Helper()
	if pid == 0 {
		pid = os.Getpid()
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// After the command: state(0) ppid(1) ... utime(11) stime(12), in clock ticks.
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// loadAverage returns the machine's one-minute load average: the
// benchmarks share the machine, and the wall times depend on it.
func loadAverage(b *testing.B) float64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		b.Fatal(err)
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(raw))[0], 64)
	return v
}

// timedList times the ListSecrets round trips the sweep makes.
type timedList struct {
	lifecycle.SecretsAPI
	calls, total atomic.Int64
}

func (t *timedList) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	start := time.Now()
	out, err := t.SecretsAPI.ListSecrets(ctx, in, optFns...)
	t.total.Add(int64(time.Since(start)))
	t.calls.Add(1)
	return out, err
}

// peakHeap samples the heap in use (live and not yet swept objects) every
// 25 ms while a sweep runs (sampling costs a few ms of CPU a second,
// which the sweep-cpu-s figure includes).
type peakHeap struct{ max atomic.Uint64 }

func (p *peakHeap) watch() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > p.max.Load() {
				p.max.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

var (
	dualkeyOnce sync.Once
	dualkeyBin  string
	dualkeyErr  error
)

// buildDualkey builds the dualkey CLI once per benchmark process.
func buildDualkey(b *testing.B) string {
	b.Helper()
	dualkeyOnce.Do(func() {
		root, err := lambdarie.ModuleRoot()
		if err != nil {
			dualkeyErr = err
			return
		}
		dir, err := os.MkdirTemp("", "dualkey-bench-")
		if err != nil {
			dualkeyErr = err
			return
		}
		dualkeyBin = filepath.Join(dir, "dualkey")
		cmd := exec.Command("go", "build", "-o", dualkeyBin, "./cmd/dualkey")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			dualkeyErr = fmt.Errorf("go build ./cmd/dualkey: %w: %s", err, out)
		}
	})
	if dualkeyErr != nil {
		b.Fatal(dualkeyErr)
	}
	return dualkeyBin
}

// startEmulator runs dualkey emulator --state state on a loopback port
// until the benchmark ends, and returns its URL and PID.
func startEmulator(b *testing.B, bin, state string) (string, int) {
	b.Helper()
	port, err := lambdarie.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "emulator", "--addr", addr, "--state", state)
	logPath := filepath.Join(b.TempDir(), "emulator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if b.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				b.Logf("emulator log (last 4 KB):\n%s", tail(out, 4<<10))
			}
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(2 * time.Minute) // loading 100,000 secrets takes a while
	for {
		resp, err := http.Get(url + "/_dualkey/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, cmd.Process.Pid
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("emulator did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func resetStats(b *testing.B, url string) {
	b.Helper()
	resp, err := http.Post(url+"/_dualkey/stats/reset", "application/json", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

func stats(b *testing.B, url string) map[string]int {
	b.Helper()
	resp, err := http.Get(url + "/_dualkey/stats")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]int{}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		b.Fatal(err)
	}
	return m
}

// writeFleet writes an emulator state file (format version 1, see
// docs/emulator.md) holding n managed secrets in the idle states of a
// steady fleet, one secret at a time so that writing it costs little
// memory. Per 100 secrets: 60 never rotated, 20 retired, 10 draining, 8
// deactivated within their grace period, 1 held, 1 overdue.
func writeFleet(path string, n int, now time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	seq := int64(0)
	next := func() int64 { seq++; return seq }
	uuid := func(i, v int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, v) }
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	fmt.Fprintf(w, `{"version":1,"secrets":{`)
	for i := 0; i < n; i++ {
		provider, value := "servicekey", `{"api_key":"bench-key-0123456789abcdefghijklmnopqr"}`
		if i%2 == 1 {
			provider, value = "iamkey", fmt.Sprintf(`{"user_name":"bench-%06d","access_key_id":"AKIABENCH%011d","secret_access_key":"bench-secret-access-key-0123456789abcdefgh"}`, i, i)
		}
		name := fmt.Sprintf("bench/%s/%06d", provider, i)
		arn := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%06d", awsemu.DefaultRegion, awsemu.DefaultAccountID, name, i%1000000)
		tags := [][2]string{{"dualkey:managed", "true"}, {"dualkey:provider", provider}}
		type ver struct {
			ID      string   `json:"id"`
			String  string   `json:"string"`
			Stages  []string `json:"stages"`
			Created string   `json:"created"`
			Seq     int64    `json:"seq"`
		}
		old, cur := uuid(i, 1), uuid(i, 2)
		vers := map[string]ver{}
		var lastRotated *string
		nextRotation := at(20 * 24 * time.Hour)
		switch k := i % 100; {
		case k < 60 || k == 99: // never rotated (k == 99: and overdue)
			vers[cur] = ver{cur, value, []string{"AWSCURRENT"}, at(-40 * 24 * time.Hour), next()}
			if k == 99 {
				nextRotation = at(-3 * 24 * time.Hour)
			}
		default:
			rotated := at(-10 * 24 * time.Hour)
			if k >= 80 && k < 90 {
				rotated = at(-time.Hour)
			}
			lastRotated = &rotated
			vers[old] = ver{old, value, nil, at(-40 * 24 * time.Hour), next()}
			vers[cur] = ver{cur, value, []string{"AWSCURRENT"}, rotated, next()}
			switch {
			case k < 80: // retired: the old credential was deleted
				tags = append(tags, [2]string{"dualkey:state", "deleted"}, [2]string{"dualkey:state-version", old}, [2]string{"dualkey:state-since", at(-7 * 24 * time.Hour)})
			case k < 90: // draining for a day since an hour ago
				vers[old] = ver{old, value, []string{"AWSPREVIOUS"}, at(-40 * 24 * time.Hour), vers[old].Seq}
				tags = append(tags, [2]string{"dualkey:drain", "24h"}, [2]string{"dualkey:state", "draining"}, [2]string{"dualkey:state-version", old}, [2]string{"dualkey:state-since", rotated})
			case k < 98: // deactivated two hours ago: grace period running
				stages := []string{"DUALKEY_DEACTIVATED"}
				if provider == "iamkey" {
					stages = []string{"AWSPREVIOUS", "DUALKEY_DEACTIVATED"}
				}
				vers[old] = ver{old, value, stages, at(-40 * 24 * time.Hour), vers[old].Seq}
				tags = append(tags, [2]string{"dualkey:state", "deactivated"}, [2]string{"dualkey:state-version", old},
					[2]string{"dualkey:state-since", at(-2 * time.Hour)}, [2]string{"dualkey:state-deactivated-at", at(-2 * time.Hour)})
			default: // held after a rollback
				vers[old] = ver{old, value, []string{"AWSPREVIOUS"}, at(-40 * 24 * time.Hour), vers[old].Seq}
				tags = append(tags, [2]string{"dualkey:state", "held"}, [2]string{"dualkey:state-version", old},
					[2]string{"dualkey:state-since", at(-time.Hour)}, [2]string{"dualkey:state-note", "bench rollback"})
			}
		}
		type tag struct{ Key, Value string }
		var ts []tag
		for _, t := range tags {
			ts = append(ts, tag{t[0], t[1]})
		}
		sec := map[string]any{
			"arn": arn, "name": name, "created": at(-40 * 24 * time.Hour), "lastChanged": at(-time.Hour),
			"nextRotation": nextRotation, "rotationEnabled": true,
			"rotationLambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:dualkey-" + provider,
			"rotationRules":     map[string]any{"AutomaticallyAfterDays": 30},
			"tags":              ts, "versions": vers, "seq": next(),
		}
		if lastRotated != nil {
			sec["lastRotated"] = *lastRotated
		}
		if i > 0 {
			w.WriteByte(',')
		}
		k, _ := json.Marshal(arn)
		v, err := json.Marshal(sec)
		if err != nil {
			f.Close()
			return err
		}
		w.Write(k)
		w.WriteByte(':')
		w.Write(v)
	}
	fmt.Fprintf(w, `},"seq":%d}`, seq)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BenchmarkSweepWork measures a sweep over 1,000 managed servicekey
// secrets of which 100 have work (their drain is over: the old key is
// switched off), in an in-process emulator: time, and Secrets Manager calls
// per secret with work, by operation. pace=default shows the pace at work
// (25 UpdateSecretVersionStage and 25 TagResource per second); pace=none
// the cost of the work itself.
func BenchmarkSweepWork(b *testing.B) {
	const total, busy = 1000, 100
	for _, pace := range []struct {
		name string
		p    lifecycle.Pace
	}{{"default", lifecycle.DefaultPace}, {"none", lifecycle.Unpaced}} {
		b.Run("pace="+pace.name, func(b *testing.B) {
			calls := map[string]float64{}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				emu, lc := workFleet(b, total, busy, pace.p)
				emu.ResetStats()
				b.StartTimer()
				res, err := lc.Sweep(context.Background(), lifecycle.Options{}, nil)
				b.StopTimer()
				if err != nil || res.Worked != busy || res.Idle != total-busy {
					b.Fatalf("sweep: %v %+v", err, res)
				}
				for op, n := range emu.Stats() {
					calls[op] += float64(n)
				}
				emu.Close()
			}
			for op, n := range calls {
				if op != "ListSecrets" {
					b.ReportMetric(n/float64(b.N)/busy, op+"/worked")
				}
			}
			b.ReportMetric(calls["ListSecrets"]/float64(b.N), "ListSecrets/op")
		})
	}
}

// workFleet starts an in-process emulator with total managed servicekey
// secrets, busy of them rotated with a drain of 0s, and a lifecycle over
// it.
func workFleet(b *testing.B, total, busy int, pace lifecycle.Pace) (*awsemu.Server, *lifecycle.Lifecycle) {
	b.Helper()
	var engine *rotation.Engine
	emu, err := awsemu.New(awsemu.Config{Invoker: awsemu.InvokerFunc(func(ctx context.Context, _ string, payload []byte) error {
		return engine.HandleJSON(ctx, payload)
	})})
	if err != nil {
		b.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(awsemu.ClientConfig(url))
	if engine, err = rotation.New(rotation.Config{SecretsManager: sm, Provider: servicekey.New(servicekey.DefaultSettings, nil),
		LogWriter: io.Discard, MetricsWriter: io.Discard}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < total; i++ {
		name := fmt.Sprintf("work/%04d", i)
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name),
			SecretString: aws.String(`{"api_key":"bench-key-0123456789abcdefghijklmnopqr"}`),
			Tags: []types.Tag{{Key: aws.String("dualkey:managed"), Value: aws.String("true")}, {Key: aws.String("dualkey:provider"), Value: aws.String("servicekey")},
				{Key: aws.String("dualkey:drain"), Value: aws.String("0s")}}}); err != nil {
			b.Fatal(err)
		}
		if i%(total/busy) == 0 {
			if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name),
				RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:dualkey-servicekey")}); err != nil {
				b.Fatal(err)
			}
		}
	}
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: sm, Providers: map[string]rotation.Provider{"servicekey": servicekey.New(servicekey.DefaultSettings, nil)},
		LogWriter: io.Discard, MetricsWriter: io.Discard, Pace: &pace})
	if err != nil {
		b.Fatal(err)
	}
	return emu, lc
}

// TestMain removes the dualkey binary BenchmarkSweep built.
func TestMain(m *testing.M) {
	code := m.Run()
	if dualkeyBin != "" {
		_ = os.RemoveAll(filepath.Dir(dualkeyBin))
	}
	os.Exit(code)
}

// tail is the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
