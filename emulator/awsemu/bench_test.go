package awsemu_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// populate creates n secrets (every other one scheduled for deletion when
// deleted is true) on an emulator and returns it.
func populate(b *testing.B, cfg awsemu.Config, n int, deleted bool) *emu {
	b.Helper()
	srv, err := awsemu.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	e := &emu{srv: srv, url: url, sm: newClient(url, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("bench/secret-%05d", i)
		if _, err := e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(`{"api_key":"0123456789abcdef"}`)}); err != nil {
			b.Fatal(err)
		}
		if deleted && i%2 == 1 {
			if _, err := e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return e
}

// BenchmarkDescribeSecret: the cost of one DescribeSecret (over loopback,
// through the SDK) must not depend on how many secrets exist, nor on how many
// are scheduled for deletion.
func BenchmarkDescribeSecret(b *testing.B) {
	for _, n := range []int{100, 10000} {
		for _, deleted := range []bool{false, true} {
			b.Run(fmt.Sprintf("secrets=%d/half-deleted=%t", n, deleted), func(b *testing.B) {
				e := populate(b, awsemu.Config{}, n, deleted)
				in := &secretsmanager.DescribeSecretInput{SecretId: aws.String("bench/secret-00000")}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := e.sm.DescribeSecret(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
