package iamkey_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Issue 6 item 3: given a secret with user_name=admin, admin's access key id
// and a wrong secret key, the iamkey function created a second active key
// for admin. A user not tagged dualkey:managed=true is refused by every
// operation before any IAM write.
func TestUnmanagedUserIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, tag := range []string{"", "false"} {
		t.Run("tag="+tag, func(t *testing.T) {
			var adminKey accessKey
			env, w, arn, _ := newEnv(t, fixtureOpts{initial: func(w *world, _ accessKey) string {
				w.createUnmanagedUser("admin")
				if tag != "" {
					w.tagUser("admin", tag)
				}
				adminKey = w.createKey("admin")
				return value("admin", accessKey{id: adminKey.id, secret: "wrong-secret-key-0123456789abcdefghij"}, nil)
			}})
			before := w.keys("admin")
			wants := []string{`IAM user "admin"`, rotation.TagManaged, "aws iam tag-user --user-name admin --tags Key=dualkey:managed,Value=true"}
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, iamkey.ErrUnmanagedUser) {
					t.Errorf("%s: %v, want ErrUnmanagedUser", what, err)
					return
				}
				for _, want := range wants {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error does not contain %q: %v", what, want, err)
					}
				}
				if after := w.keys("admin"); !reflect.DeepEqual(before, after) {
					t.Fatalf("%s changed admin's keys from %v to %v", what, before, after)
				}
			}

			token, err := env.Rotate(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if msg := lastRotation(t, env); !strings.Contains(msg, "createSecret of secret "+arn) {
				t.Fatalf("rotation for an unmanaged user: %q", msg)
			}
			check("createSecret", env.Step(ctx, arn, token, rotation.StepCreate))

			// A pending value naming admin's (deactivated) key: setSecret must
			// not reactivate it, testSecret must not accept it.
			w.setStatus("admin", adminKey.id, "Inactive")
			before = w.keys("admin")
			if _, err := env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
				SecretString: aws.String(value("admin", adminKey, nil)), VersionStages: []string{rotation.StagePending},
			}); err != nil {
				t.Fatal(err)
			}
			check("setSecret", env.Step(ctx, arn, token, rotation.StepSet))
			check("testSecret", env.Step(ctx, arn, token, rotation.StepTest))

			// The lifecycle operations.
			p := w.provider(nil, iamkey.Config{})
			req := &rotation.CredentialRequest{SecretID: arn, Version: &rotation.Version{ID: "v1", Stages: []string{rotation.StagePrevious}, Value: value("admin", adminKey, nil)}}
			check("Deactivate", p.Deactivate(ctx, req))
			check("Reactivate", p.Reactivate(ctx, req))
			check("Delete", p.Delete(ctx, req))
			_, err = p.LastUsed(ctx, req)
			check("LastUsed", err)
			_, err = p.Credentials(ctx, req)
			check("Credentials", err)
			w.assertNoSecrets(t, "the errors", env.Logs.String())
		})
	}
}

// Issue 6 item 9: a crashed earlier attempt of the rotation deleted the
// deactivated key; the retry still ends that version's lifecycle, so status
// no longer says "deactivated" and rollback does not try a deleted key.
func TestRetiredKeyDeletedByAnEarlierAttempt(t *testing.T) {
	ctx := context.Background()
	env, w, arn, k0 := newEnv(t, fixtureOpts{})
	env.MustRotate(ctx, arn)
	retirePrevious(t, w, env, arn)
	v0 := holder(env.Labels(ctx, arn), rotation.StageDeactivated)
	env.Tag(ctx, arn, map[string]string{rotation.TagDeactivatedAt: "2030-01-01T00:00:00Z", rotation.TagState: "deactivated", rotation.TagStateVersion: v0})
	before := env.Labels(ctx, arn)
	if _, err := w.admin().DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(k0.id)}); err != nil {
		t.Fatal(err)
	}
	old := holder(before, rotation.StageCurrent)
	token := env.MustRotate(ctx, arn)
	env.CheckFinal(ctx, arn, old, token)
	env.CheckRetired(ctx, arn, before)
	if tags := env.Tags(ctx, arn); tags[rotation.TagStateVersion] != v0 || !strings.Contains(tags[rotation.TagStateNote], k0.id+" of IAM user alice no longer exists") {
		t.Fatalf("tags %v", tags)
	}
}

func TestDiscard(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, frozenClock(fixedTime))
	w.createUser(user)
	w.createKey(user)
	p := w.provider(nil, iamkey.Config{})
	for _, destroy := range []bool{false, true} {
		k := w.createKey(user)
		req := &rotation.DiscardRequest{SecretID: "arn:test", Token: "t", Value: value(user, k, nil), Destroy: destroy}
		if err := p.Discard(ctx, req); err != nil {
			t.Fatalf("Discard(Destroy=%t): %v", destroy, err)
		}
		got := w.keys(user)
		switch {
		case destroy && strings.Contains(strings.Join(got, ","), k.id):
			t.Fatalf("Discard with Destroy left %s: %v", k.id, got)
		case !destroy && !strings.Contains(strings.Join(got, ","), k.id+"=Inactive"):
			t.Fatalf("Discard without Destroy did not deactivate %s: %v", k.id, got)
		}
		if destroy {
			if err := p.Discard(ctx, req); err != nil {
				t.Fatalf("Discard of a key that is gone: %v", err)
			}
		} else {
			w.setStatus(user, k.id, "Active")
			if _, err := w.admin().DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(k.id)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
