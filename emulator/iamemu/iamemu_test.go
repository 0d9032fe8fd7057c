package iamemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/testutil"
)

const (
	account    = "123456789012"
	bootUser   = "dualkey-admin"
	bootID     = "AKIABOOTSTRAP0000001"
	bootSecret = "bootstrap/Secret+bootstrapSecretbootstra"
)

type emu struct {
	svc   *iamemu.Service
	url   string
	clock *testutil.FakeClock
}

// newEmu starts the emulator behind a real HTTP server.
func newEmu(t *testing.T, mod func(*iamemu.Config)) *emu {
	t.Helper()
	clock := testutil.NewFakeClock(time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC))
	cfg := iamemu.Config{
		BootstrapAccessKeyID:     bootID,
		BootstrapSecretAccessKey: bootSecret,
		Now:                      clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	svc := iamemu.New(cfg)
	srv := httptest.NewServer(svc.Standalone())
	t.Cleanup(srv.Close)
	return &emu{svc: svc, url: srv.URL, clock: clock}
}

func (e *emu) iam(id, secret string) *iam.Client {
	return iam.New(iam.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.url),
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

func (e *emu) sts(id, secret, region string) *sts.Client {
	return sts.New(sts.Options{
		Region:       region,
		BaseEndpoint: aws.String(e.url),
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

func (e *emu) admin() *iam.Client { return e.iam(bootID, bootSecret) }

// key is a created access key; String hides the secret so it never reaches
// test output.
type key struct{ id, secret string }

func (k key) String() string { return k.id }

func (e *emu) createUser(t *testing.T, name string) *iamtypes.User {
	t.Helper()
	out, err := e.admin().CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateUser %s: %v", name, err)
	}
	return out.User
}

func (e *emu) createKey(t *testing.T, userName string) key {
	t.Helper()
	out, err := e.admin().CreateAccessKey(t.Context(), &iam.CreateAccessKeyInput{UserName: aws.String(userName)})
	if err != nil {
		t.Fatalf("CreateAccessKey %s: %v", userName, err)
	}
	return key{id: aws.ToString(out.AccessKey.AccessKeyId), secret: aws.ToString(out.AccessKey.SecretAccessKey)}
}

// apiError returns the code and message of a smithy API error, or fails.
func apiError(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s, got success", code)
	}
	if got, msg := apiError(t, err); got != code {
		t.Fatalf("error code = %s (%s), want %s", got, msg, code)
	}
}

func TestAccessKeyLifecycle(t *testing.T) {
	e := newEmu(t, nil)
	ctx := t.Context()
	admin := e.admin()
	e.createUser(t, "app")

	k1 := e.createKey(t, "app")
	k2 := e.createKey(t, "app")
	idPattern := regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	for _, k := range []key{k1, k2} {
		if !idPattern.MatchString(k.id) {
			t.Errorf("access key id %q does not match %s", k.id, idPattern)
		}
		if len(k.secret) != 40 {
			t.Errorf("secret of %s has %d characters, want 40", k.id, len(k.secret))
		}
	}
	if k1.id == k2.id || k1.secret == k2.secret {
		t.Fatalf("two keys share an id or secret: %s, %s", k1, k2)
	}

	_, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("app")})
	wantCode(t, err, "LimitExceeded")
	var limit *iamtypes.LimitExceededException
	if !errors.As(err, &limit) {
		t.Errorf("third key: error %T is not *types.LimitExceededException", err)
	}
	if _, msg := apiError(t, err); msg != "Cannot exceed quota for AccessKeysPerUser: 2" {
		t.Errorf("third key: message %q", msg)
	}

	listStatuses := func() map[string]iamtypes.StatusType {
		t.Helper()
		out, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("app")})
		if err != nil {
			t.Fatalf("ListAccessKeys: %v", err)
		}
		got := map[string]iamtypes.StatusType{}
		for _, m := range out.AccessKeyMetadata {
			if aws.ToString(m.UserName) != "app" || m.CreateDate == nil || !m.CreateDate.Equal(e.clock.Now().Truncate(time.Second)) {
				t.Errorf("metadata of %s: user %q, create date %v", aws.ToString(m.AccessKeyId), aws.ToString(m.UserName), m.CreateDate)
			}
			got[aws.ToString(m.AccessKeyId)] = m.Status
		}
		return got
	}
	if got, want := listStatuses(), map[string]iamtypes.StatusType{k1.id: "Active", k2.id: "Active"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}

	if _, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(k1.id), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}
	if got, want := listStatuses(), map[string]iamtypes.StatusType{k1.id: "Inactive", k2.id: "Active"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after deactivation keys = %v, want %v", got, want)
	}

	if _, err := admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(k1.id)}); err != nil {
		t.Fatalf("DeleteAccessKey: %v", err)
	}
	if got, want := listStatuses(), map[string]iamtypes.StatusType{k2.id: "Active"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after deletion keys = %v, want %v", got, want)
	}

	// The freed slot can be used again.
	k3 := e.createKey(t, "app")

	_, err = admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("app")})
	wantCode(t, err, "DeleteConflict")
	for _, k := range []key{k2, k3} {
		if _, err := admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(k.id)}); err != nil {
			t.Fatalf("DeleteAccessKey %s: %v", k, err)
		}
	}
	if _, err := admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("app")}); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err = admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("app")})
	wantCode(t, err, "NoSuchEntity")
}

func TestUsers(t *testing.T) {
	e := newEmu(t, nil)
	ctx := t.Context()
	admin := e.admin()
	created := e.createUser(t, "app")
	if got, want := aws.ToString(created.Arn), "arn:aws:iam::"+account+":user/app"; got != want {
		t.Errorf("Arn = %q, want %q", got, want)
	}
	if !regexp.MustCompile(`^AIDA[A-Z0-9]{17}$`).MatchString(aws.ToString(created.UserId)) {
		t.Errorf("UserId = %q", aws.ToString(created.UserId))
	}
	if aws.ToString(created.Path) != "/" || created.CreateDate == nil || !created.CreateDate.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Errorf("user = path %q, created %v", aws.ToString(created.Path), created.CreateDate)
	}

	got, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("app")})
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if aws.ToString(got.User.UserId) != aws.ToString(created.UserId) {
		t.Errorf("GetUser UserId = %q, want %q", aws.ToString(got.User.UserId), aws.ToString(created.UserId))
	}

	// Without UserName, GetUser and CreateAccessKey address the caller.
	self, err := admin.GetUser(ctx, &iam.GetUserInput{})
	if err != nil {
		t.Fatalf("GetUser (self): %v", err)
	}
	if aws.ToString(self.User.UserName) != bootUser {
		t.Errorf("GetUser (self) = %q, want %q", aws.ToString(self.User.UserName), bootUser)
	}
	k := e.createKey(t, "app")
	appClient := e.iam(k.id, k.secret)
	own, err := appClient.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil {
		t.Fatalf("CreateAccessKey (self): %v", err)
	}
	if aws.ToString(own.AccessKey.UserName) != "app" {
		t.Errorf("CreateAccessKey (self) user = %q, want app", aws.ToString(own.AccessKey.UserName))
	}
	mine, err := appClient.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil {
		t.Fatalf("ListAccessKeys (self): %v", err)
	}
	if len(mine.AccessKeyMetadata) != 2 {
		t.Errorf("ListAccessKeys (self) returned %d keys, want 2", len(mine.AccessKeyMetadata))
	}

	list, err := admin.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var names []string
	for _, u := range list.Users {
		names = append(names, aws.ToString(u.UserName))
	}
	if want := []string{"app", bootUser}; !reflect.DeepEqual(names, want) {
		t.Errorf("ListUsers = %v, want %v", names, want)
	}
}

func TestValidationAndMissingEntities(t *testing.T) {
	e := newEmu(t, nil)
	e.createUser(t, "app")
	admin := e.admin()
	tests := []struct {
		name string
		call func(ctx context.Context) error
		code string
	}{
		{"duplicate user", func(ctx context.Context) error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app")})
			return err
		}, "EntityAlreadyExists"},
		{"duplicate user differing in case", func(ctx context.Context) error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("APP")})
			return err
		}, "EntityAlreadyExists"},
		{"invalid user name", func(ctx context.Context) error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("no spaces")})
			return err
		}, "ValidationError"},
		{"get missing user", func(ctx context.Context) error {
			_, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("ghost")})
			return err
		}, "NoSuchEntity"},
		{"delete missing user", func(ctx context.Context) error {
			_, err := admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("ghost")})
			return err
		}, "NoSuchEntity"},
		{"key for missing user", func(ctx context.Context) error {
			_, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ghost")})
			return err
		}, "NoSuchEntity"},
		{"delete unknown key", func(ctx context.Context) error {
			_, err := admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String("AKIAUNKNOWN000000000")})
			return err
		}, "NoSuchEntity"},
		{"delete another user's key", func(ctx context.Context) error {
			_, err := admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(bootID)})
			return err
		}, "NoSuchEntity"},
		{"invalid status", func(ctx context.Context) error {
			_, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(bootID), Status: "Bogus"})
			return err
		}, "ValidationError"},
		{"last used of unknown key", func(ctx context.Context) error {
			_, err := admin.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAUNKNOWN000000000")})
			return err
		}, "NoSuchEntity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(t.Context()), tt.code)
		})
	}
}

func TestGetAccessKeyLastUsed(t *testing.T) {
	e := newEmu(t, nil)
	ctx := t.Context()
	e.createUser(t, "app")
	k := e.createKey(t, "app")

	lastUsed := func() *iam.GetAccessKeyLastUsedOutput {
		t.Helper()
		out, err := e.admin().GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.id)})
		if err != nil {
			t.Fatalf("GetAccessKeyLastUsed: %v", err)
		}
		if aws.ToString(out.UserName) != "app" {
			t.Errorf("UserName = %q, want app", aws.ToString(out.UserName))
		}
		return out
	}

	before := lastUsed().AccessKeyLastUsed
	if before.LastUsedDate != nil || aws.ToString(before.ServiceName) != "N/A" || aws.ToString(before.Region) != "N/A" {
		t.Fatalf("unused key: date %v, service %q, region %q; want nil, N/A, N/A",
			before.LastUsedDate, aws.ToString(before.ServiceName), aws.ToString(before.Region))
	}

	// A request with the wrong secret is not a use.
	_, err := e.sts(k.id, wrongSecret(k.secret), "eu-west-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "SignatureDoesNotMatch")
	if lastUsed().AccessKeyLastUsed.LastUsedDate != nil {
		t.Fatal("a request with a wrong signature was recorded as a use")
	}

	e.clock.Advance(3 * time.Hour)
	usedAt := e.clock.Now()
	if _, err := e.sts(k.id, k.secret, "eu-west-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	e.clock.Advance(time.Hour) // the report must give the time of use, not of the query
	after := lastUsed().AccessKeyLastUsed
	want := time.Date(2026, 3, 14, 18, 9, 0, 0, time.UTC) // usedAt to the minute, as IAM reports it
	if after.LastUsedDate == nil || !after.LastUsedDate.Equal(want) {
		t.Errorf("LastUsedDate = %v, want %v (used at %v)", after.LastUsedDate, want, usedAt)
	}
	if aws.ToString(after.ServiceName) != "sts" || aws.ToString(after.Region) != "eu-west-1" {
		t.Errorf("ServiceName, Region = %q, %q; want sts, eu-west-1", aws.ToString(after.ServiceName), aws.ToString(after.Region))
	}

	if _, err := e.iam(k.id, k.secret).ListAccessKeys(ctx, &iam.ListAccessKeysInput{}); err != nil {
		t.Fatalf("ListAccessKeys: %v", err)
	}
	latest := lastUsed().AccessKeyLastUsed
	if aws.ToString(latest.ServiceName) != "iam" || aws.ToString(latest.Region) != "us-east-1" {
		t.Errorf("after an IAM call ServiceName, Region = %q, %q; want iam, us-east-1", aws.ToString(latest.ServiceName), aws.ToString(latest.Region))
	}
}

func TestGetCallerIdentity(t *testing.T) {
	e := newEmu(t, func(c *iamemu.Config) { c.AccountID = "210987654321" })
	u := e.createUser(t, "app")
	k := e.createKey(t, "app")
	tests := []struct {
		name     string
		id       string
		secret   string
		wantArn  string
		wantUser string
	}{
		{"new key", k.id, k.secret, "arn:aws:iam::210987654321:user/app", aws.ToString(u.UserId)},
		{"bootstrap key", bootID, bootSecret, "arn:aws:iam::210987654321:user/" + bootUser, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := e.sts(tt.id, tt.secret, "us-east-1").GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity: %v", err)
			}
			if aws.ToString(out.Arn) != tt.wantArn || aws.ToString(out.Account) != "210987654321" {
				t.Errorf("Arn, Account = %q, %q; want %q, 210987654321", aws.ToString(out.Arn), aws.ToString(out.Account), tt.wantArn)
			}
			if tt.wantUser != "" && aws.ToString(out.UserId) != tt.wantUser {
				t.Errorf("UserId = %q, want %q", aws.ToString(out.UserId), tt.wantUser)
			}
		})
	}
}

func TestAuthenticationFailures(t *testing.T) {
	e := newEmu(t, nil)
	ctx := t.Context()
	admin := e.admin()
	e.createUser(t, "app")
	inactive := e.createKey(t, "app")
	deleted := e.createKey(t, "app")
	if _, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(inactive.id), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}
	if _, err := admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(deleted.id)}); err != nil {
		t.Fatalf("DeleteAccessKey: %v", err)
	}

	tests := []struct {
		name   string
		id     string
		secret string
		code   string
	}{
		{"wrong secret", bootID, wrongSecret(bootSecret), "SignatureDoesNotMatch"},
		{"inactive key", inactive.id, inactive.secret, "InvalidClientTokenId"},
		{"deleted key", deleted.id, deleted.secret, "InvalidClientTokenId"},
		{"unknown key", "AKIANEVERCREATED0000", strings.Repeat("y", 40), "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/iam", func(t *testing.T) {
			_, err := e.iam(tt.id, tt.secret).ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{})
			wantCode(t, err, tt.code)
		})
		t.Run(tt.name+"/sts", func(t *testing.T) {
			_, err := e.sts(tt.id, tt.secret, "us-east-1").GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			wantCode(t, err, tt.code)
		})
	}

	// Reactivating the key makes it work again.
	if _, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(inactive.id), Status: iamtypes.StatusTypeActive}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}
	if _, err := e.sts(inactive.id, inactive.secret, "us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("reactivated key: %v", err)
	}
}

func TestPropagationDelay(t *testing.T) {
	e := newEmu(t, func(c *iamemu.Config) { c.PropagationDelay = 10 * time.Second })
	ctx := t.Context()
	e.createUser(t, "app") // the bootstrap key is usable at once
	k := e.createKey(t, "app")
	identity := func() error {
		_, err := e.sts(k.id, k.secret, "us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}

	wantCode(t, identity(), "InvalidClientTokenId")
	e.clock.Advance(10*time.Second - time.Nanosecond)
	wantCode(t, identity(), "InvalidClientTokenId")
	e.clock.Advance(time.Nanosecond)
	if err := identity(); err != nil {
		t.Fatalf("after the delay: %v", err)
	}

	// The delay is measured from creation with the current setting.
	k2 := e.createKey(t, "app")
	_, err := e.iam(k2.id, k2.secret).GetUser(ctx, &iam.GetUserInput{})
	wantCode(t, err, "InvalidClientTokenId")
	e.svc.SetPropagationDelay(0)
	if _, err := e.iam(k2.id, k2.secret).GetUser(ctx, &iam.GetUserInput{}); err != nil {
		t.Fatalf("with no delay: %v", err)
	}
}

func TestConcurrentCreateAccessKeyRespectsQuota(t *testing.T) {
	e := newEmu(t, nil)
	e.createUser(t, "app")
	admin := e.admin()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := admin.CreateAccessKey(t.Context(), &iam.CreateAccessKeyInput{UserName: aws.String("app")})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantCode(t, err, "LimitExceeded")
	}
	if ok != iamemu.MaxAccessKeysPerUser {
		t.Fatalf("%d concurrent CreateAccessKey calls succeeded, want %d", ok, iamemu.MaxAccessKeysPerUser)
	}
}

func TestSnapshotRestore(t *testing.T) {
	e := newEmu(t, nil)
	ctx := t.Context()
	e.createUser(t, "app")
	k := e.createKey(t, "app")
	if _, err := e.sts(k.id, k.secret, "us-west-2").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	e.clock.Advance(time.Minute)
	inactive := e.createKey(t, "app")
	if _, err := e.admin().UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(inactive.id), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}

	snap := e.svc.Snapshot()
	if printed := fmt.Sprintf("%v %+v %#v", snap, snap, snap); strings.Contains(printed, k.secret) || strings.Contains(printed, bootSecret) {
		t.Fatal("printing a State reveals a secret access key")
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	var decoded iamemu.State
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatalf("unmarshal state: %v", err)
	}

	// A fresh emulator with the same configuration takes over the state.
	e2 := newEmu(t, nil)
	e2.clock.Advance(24 * time.Hour)
	if err := e2.svc.Restore(decoded); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	raw2, err := json.Marshal(e2.svc.Snapshot())
	if err != nil {
		t.Fatalf("marshal restored state: %v", err)
	}
	if string(raw) != string(raw2) {
		t.Fatal("restored state differs from the snapshot")
	}

	out, err := e2.sts(k.id, k.secret, "us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("restored key: %v", err)
	}
	if got := aws.ToString(out.Arn); got != "arn:aws:iam::"+account+":user/app" {
		t.Errorf("restored key Arn = %q", got)
	}
	_, err = e2.sts(inactive.id, inactive.secret, "us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId")
	_, err = e2.admin().CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("app")})
	wantCode(t, err, "LimitExceeded")

	// An inconsistent state is refused and changes nothing.
	before, err := json.Marshal(e2.svc.Snapshot())
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	bad := decoded
	bad.AccessKeys = append([]iamemu.AccessKey(nil), decoded.AccessKeys...)
	bad.AccessKeys[len(bad.AccessKeys)-1].UserName = "ghost"
	if err := e2.svc.Restore(bad); err == nil {
		t.Fatal("Restore accepted a key of a user not in the state")
	} else if strings.Contains(err.Error(), k.secret) {
		t.Fatal("Restore error reveals a secret")
	}
	after, err := json.Marshal(e2.svc.Snapshot())
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	if string(before) != string(after) {
		t.Fatal("a refused Restore changed the state")
	}
	if _, err := e2.sts(k.id, k.secret, "us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("key after refused Restore: %v", err)
	}

	// A state without the bootstrap key gets it back.
	if err := e2.svc.Restore(iamemu.State{}); err != nil {
		t.Fatalf("Restore empty state: %v", err)
	}
	if _, err := e2.sts(bootID, bootSecret, "us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("bootstrap key after restoring an empty state: %v", err)
	}
	_, err = e2.sts(k.id, k.secret, "us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId")
}

// rawCall sends a form-encoded query-protocol request, signed unless id is
// empty, and returns the status and the body with any secret access key
// redacted.
func rawCall(t *testing.T, endpoint, id, secret, service string, form url.Values) (int, string) {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if id != "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatalf("sign: %v", err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp.StatusCode, secretXML.ReplaceAllString(string(out), "<SecretAccessKey>REDACTED</SecretAccessKey>")
}

// secretXML matches a secret in a response, which tests must never print.
var secretXML = regexp.MustCompile(`<SecretAccessKey>[^<]*</SecretAccessKey>`)

// wrongSecret returns a secret that differs from s in its last character.
func wrongSecret(s string) string {
	last := "x"
	if strings.HasSuffix(s, "x") {
		last = "y"
	}
	return s[:len(s)-1] + last
}

type xmlError struct {
	XMLName   xml.Name
	Type      string `xml:"Error>Type"`
	Code      string `xml:"Error>Code"`
	Message   string `xml:"Error>Message"`
	RequestID string `xml:"RequestId"`
}

func TestWireFormat(t *testing.T) {
	e := newEmu(t, nil)
	e.createUser(t, "app")
	k := e.createKey(t, "app")
	iamNS := "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS := "https://sts.amazonaws.com/doc/2011-06-15/"

	t.Run("success envelope", func(t *testing.T) {
		status, body := rawCall(t, e.url, bootID, bootSecret, "iam", url.Values{"Action": {"ListAccessKeys"}, "Version": {"2010-05-08"}, "UserName": {"app"}})
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var resp struct {
			XMLName xml.Name
			Keys    []string `xml:"ListAccessKeysResult>AccessKeyMetadata>member>AccessKeyId"`
			Trunc   string   `xml:"ListAccessKeysResult>IsTruncated"`
			ReqID   string   `xml:"ResponseMetadata>RequestId"`
		}
		if err := xml.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatalf("parse: %v", err)
		}
		if resp.XMLName != (xml.Name{Space: iamNS, Local: "ListAccessKeysResponse"}) || resp.Trunc != "false" || resp.ReqID == "" {
			t.Errorf("envelope = %+v", resp)
		}
		if !reflect.DeepEqual(resp.Keys, []string{k.id}) {
			t.Errorf("keys = %v, want [%s]", resp.Keys, k.id)
		}
		if strings.Contains(body, k.secret) || strings.Contains(body, "SecretAccessKey") {
			t.Error("ListAccessKeys response contains a secret")
		}
	})

	t.Run("sts envelope", func(t *testing.T) {
		status, body := rawCall(t, e.url, k.id, k.secret, "sts", url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var resp struct {
			XMLName xml.Name
			Arn     string `xml:"GetCallerIdentityResult>Arn"`
			Account string `xml:"GetCallerIdentityResult>Account"`
		}
		if err := xml.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatalf("parse: %v", err)
		}
		if resp.XMLName != (xml.Name{Space: stsNS, Local: "GetCallerIdentityResponse"}) || resp.Arn != "arn:aws:iam::"+account+":user/app" || resp.Account != account {
			t.Errorf("response = %+v", resp)
		}
	})

	errTests := []struct {
		name    string
		id      string
		secret  string
		service string
		form    url.Values
		status  int
		code    string
		ns      string
		message string
	}{
		{"second bootstrap user key allowed", bootID, bootSecret, "iam",
			url.Values{"Action": {"CreateAccessKey"}, "Version": {"2010-05-08"}, "UserName": {bootUser}},
			http.StatusOK, "", "", ""},
		{"limit exceeded", bootID, bootSecret, "iam",
			url.Values{"Action": {"CreateAccessKey"}, "Version": {"2010-05-08"}, "UserName": {bootUser}},
			http.StatusConflict, "LimitExceeded", iamNS, "Cannot exceed quota for AccessKeysPerUser: 2"},
		{"no such user", bootID, bootSecret, "iam",
			url.Values{"Action": {"GetUser"}, "Version": {"2010-05-08"}, "UserName": {"ghost"}},
			http.StatusNotFound, "NoSuchEntity", iamNS, "The user with name ghost cannot be found."},
		{"missing user name", bootID, bootSecret, "iam",
			url.Values{"Action": {"CreateUser"}, "Version": {"2010-05-08"}},
			http.StatusBadRequest, "ValidationError", iamNS, "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"},
		{"unknown action", bootID, bootSecret, "iam",
			url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}},
			http.StatusBadRequest, "InvalidAction", iamNS, "Could not find operation CreateRole for version 2010-05-08"},
		{"unsigned iam", "", "", "",
			url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}},
			http.StatusForbidden, "MissingAuthenticationToken", iamNS, "Request is missing Authentication Token"},
		{"unsigned sts", "", "", "",
			url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}},
			http.StatusForbidden, "MissingAuthenticationToken", stsNS, "Request is missing Authentication Token"},
		{"unknown key sts", "AKIANEVERCREATED0000", "s", "sts",
			url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}},
			http.StatusForbidden, "InvalidClientTokenId", stsNS, "The security token included in the request is invalid."},
		{"bad signature iam", k.id, "wrong", "iam",
			url.Values{"Action": {"GetUser"}, "Version": {"2010-05-08"}},
			http.StatusForbidden, "SignatureDoesNotMatch", iamNS, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawCall(t, e.url, tt.id, tt.secret, tt.service, tt.form)
			if status != tt.status {
				t.Fatalf("status = %d, want %d: %s", status, tt.status, body)
			}
			if tt.code == "" {
				return
			}
			var got xmlError
			if err := xml.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("parse %q: %v", body, err)
			}
			want := xmlError{XMLName: xml.Name{Space: tt.ns, Local: "ErrorResponse"}, Type: "Sender", Code: tt.code, Message: tt.message, RequestID: got.RequestID}
			if got != want || got.RequestID == "" {
				t.Errorf("error = %+v, want %+v", got, want)
			}
		})
	}
}

// TestHandlerBehindFrontEnd serves Handler the way the Secrets Manager front
// end does: verified elsewhere, principal in the context.
func TestHandlerBehindFrontEnd(t *testing.T) {
	svc := iamemu.New(iamemu.Config{BootstrapAccessKeyID: bootID, BootstrapSecretAccessKey: bootSecret})
	tests := []struct {
		name      string
		principal *awsauth.Principal
		form      string
		status    int
		contains  string
	}{
		{"sts by scope", &awsauth.Principal{AccessKeyID: bootID, Service: "sts", Region: "us-east-1"},
			"Action=GetCallerIdentity&Version=2011-06-15", http.StatusOK, "<Arn>arn:aws:iam::" + account + ":user/" + bootUser + "</Arn>"},
		{"sts by action", &awsauth.Principal{AccessKeyID: bootID, Service: "secretsmanager", Region: "us-east-1"},
			"Action=GetCallerIdentity&Version=2011-06-15", http.StatusOK, `xmlns="https://sts.amazonaws.com/doc/2011-06-15/"`},
		{"iam", &awsauth.Principal{AccessKeyID: bootID, Service: "iam", Region: "us-east-1"},
			"Action=GetUser&Version=2010-05-08", http.StatusOK, "<UserName>" + bootUser + "</UserName>"},
		{"sts action on iam", &awsauth.Principal{AccessKeyID: bootID, Service: "iam", Region: "us-east-1"},
			"Action=GetCallerIdentity&Version=2010-05-08", http.StatusBadRequest, "<Code>InvalidAction</Code>"},
		{"no principal", nil,
			"Action=GetUser&Version=2010-05-08", http.StatusForbidden, "<Code>MissingAuthenticationToken</Code>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(tt.form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.principal != nil {
				req = req.WithContext(awsauth.WithPrincipal(req.Context(), *tt.principal))
			}
			rec := httptest.NewRecorder()
			svc.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("status %d body %s; want %d containing %s", rec.Code, rec.Body.String(), tt.status, tt.contains)
			}
		})
	}
}
