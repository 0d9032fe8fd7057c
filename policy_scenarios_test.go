package dualkey_test

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/usagelogs"
)

// policyScenario drives one rotation function, and the retire and rollback
// functions on its secrets, through every path that needs a permission.
// TestTemplateGrantsExactlyTheCallsEachFunctionMakes runs each phase of
// every scenario in turn:
//
//	rotate → retire run → afterRetire → alarms → afterAlarms → retire run → afterSecondRetire
//
// To add a provider: write its scenario below (its secrets, tagged with
// w.tags("<provider>", ...), one of them with w.refreshTag("<provider>")
// and checked with w.checkRefreshed; an admin secret through
// w.adminSecret; the vendor's fake) and add it to policyScenarios. The test fails until every
// statement of the provider's role in template.yaml allows a call a phase
// made, and every call is allowed by one.
type policyScenario struct {
	// fn is the rotation function's folder (functions/<fn>), which is also
	// the provider's name.
	fn string
	// alarms are rollback alarms (dualkey-rollback-...) sent to the
	// rollback function between the two retire runs.
	alarms                                              []string
	rotate, afterRetire, afterAlarms, afterSecondRetire func(w *policyWorld)
}

// policyScenarios is one scenario per rotation function of template.yaml.
var policyScenarios = []func() policyScenario{
	servicekeyPolicy,
	iamkeyPolicy,
	stripePolicy,
	stripewebhookPolicy,
	stagedPolicy,
	postgresPolicy,
	mysqlPolicy,
	twilioPolicy,
	twiliotokenPolicy,
	sendgridPolicy,
}

// servicekeyPolicy: an internal key is rotated (GetRandomPassword), its old
// key switched off by the label, and rolled back with AWSCURRENT restored.
func servicekeyPolicy() policyScenario {
	var arn string
	return policyScenario{
		fn:     "servicekey",
		alarms: []string{"dualkey-rollback-svc"},
		rotate: func(w *policyWorld) {
			arn = w.create("svc/key", `{"api_key":"policy-test-initial-key-0123456789abcdef"}`,
				w.tags("servicekey", append(w.refreshTag("servicekey"), lifecycle.TagAlarm, "dualkey-rollback-svc", lifecycle.TagRestoreCurrent, "true")...))
			w.rotate(arn, "servicekey")
			w.checkRefreshed(arn, "servicekey", 1)
		},
		afterSecondRetire: func(w *policyWorld) {
			st := w.stages(arn)
			if cur := st[rotation.Holder(st, rotation.StageCurrent)]; slices.Contains(cur, rotation.StagePrevious) || len(st) < 2 {
				w.t.Fatalf("svc/key after the rollback: %v", st)
			}
		},
	}
}

// iamkeyPolicy: IAM keys. a is deactivated, then reactivated by its alarm;
// b is deactivated, then the next rotation deletes it to make room; c is
// deactivated, then deleted by the next retire run; d's steps are
// delivered one by one: createSecret meets a key no version references,
// made moments ago and never used (another delivery's, as far as it can
// tell) and refuses; once that key is gone it creates one; the new key is
// found Inactive (a deactivated discard whose value was stored after all)
// and setSecret switches it back on.
func iamkeyPolicy() policyScenario {
	type iamSecret struct{ arn, user, old string }
	var a, b, c iamSecret
	create := func(w *policyWorld, name string, extra ...string) iamSecret {
		w.t.Helper()
		user := strings.ReplaceAll(name, "/", "-")
		if _, err := w.iam.CreateUser(w.ctx, &iam.CreateUserInput{UserName: aws.String(user),
			Tags: []iamtypes.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}}}); err != nil {
			w.t.Fatal(err)
		}
		k, err := w.iam.CreateAccessKey(w.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			w.t.Fatal(err)
		}
		v, _ := json.Marshal(map[string]string{"user_name": user, "access_key_id": aws.ToString(k.AccessKey.AccessKeyId),
			"secret_access_key": aws.ToString(k.AccessKey.SecretAccessKey)})
		arn := w.create(name, string(v), w.tags("iamkey", append([]string{lifecycle.TagQuiet, "1m"}, extra...)...))
		return iamSecret{arn, user, aws.ToString(k.AccessKey.AccessKeyId)}
	}
	status := func(w *policyWorld, user, id string) string {
		w.t.Helper()
		out, err := w.iam.ListAccessKeys(w.ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, k := range out.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == id {
				return string(k.Status)
			}
		}
		return "deleted"
	}
	return policyScenario{
		fn:     "iamkey",
		alarms: []string{"dualkey-rollback-a"},
		rotate: func(w *policyWorld) {
			a = create(w, "iam/a", append(w.refreshTag("iamkey"), lifecycle.TagAlarm, "dualkey-rollback-a", lifecycle.TagGrace, "48h")...)
			b = create(w, "iam/b", lifecycle.TagGrace, "48h")
			c = create(w, "iam/c", lifecycle.TagGrace, "0s")
			for _, s := range []iamSecret{a, b, c} {
				w.rotate(s.arn, "iamkey")
			}
			w.checkRefreshed(a.arn, "iamkey", 1)
		},
		afterRetire: func(w *policyWorld) {
			for _, s := range []iamSecret{a, b, c} {
				if st := status(w, s.user, s.old); st != "Inactive" {
					w.t.Fatalf("after the retire run the old key of %s is %s, want Inactive\n%s", s.user, st, w.logs())
				}
			}
		},
		afterAlarms: func(w *policyWorld) {
			if st := status(w, a.user, a.old); st != "Active" {
				w.t.Fatalf("after its rollback alarm the old key of %s is %s, want Active\n%s", a.user, st, w.logs())
			}
			w.rotate(b.arn, "iamkey")
			if st := status(w, b.user, b.old); st != "deleted" {
				w.t.Fatalf("the second rotation of %s left its retired key %s, want it deleted to make room\n%s", b.user, st, w.logs())
			}
		},
		afterSecondRetire: func(w *policyWorld) {
			t := w.t
			if st := status(w, c.user, c.old); st != "deleted" {
				t.Fatalf("the second retire run left the old key of %s %s, want deleted (grace 0s)\n%s", c.user, st, w.logs())
			}
			d := create(w, "iam/d")
			w.hold(d.arn)
			token := w.startRotation(d.arn, "iamkey")
			stray, err := w.iam.CreateAccessKey(w.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(d.user)})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.step("iamkey", d.arn, token, rotation.StepCreate); err == nil || !strings.Contains(err.Error(), "another delivery") {
				t.Fatalf("createSecret with a fresh unreferenced key: %v, want a refusal naming another delivery\n%s", err, w.logs())
			}
			if _, err := w.iam.DeleteAccessKey(w.ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(d.user), AccessKeyId: stray.AccessKey.AccessKeyId}); err != nil {
				t.Fatal(err)
			}
			if err := w.step("iamkey", d.arn, token, rotation.StepCreate); err != nil {
				t.Fatalf("createSecret: %v\n%s", err, w.logs())
			}
			id, _ := w.value(d.arn, rotation.StagePending)["access_key_id"].(string)
			if id == "" {
				t.Fatal("pending value of iam/d has no access_key_id")
			}
			if _, err := w.iam.UpdateAccessKey(w.ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(d.user), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive}); err != nil {
				t.Fatal(err)
			}
			for _, st := range []string{rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
				if err := w.step("iamkey", d.arn, token, st); err != nil {
					t.Fatalf("%s: %v\n%s", st, err, w.logs())
				}
			}
			if st := status(w, d.user, id); st != "Active" {
				t.Fatalf("setSecret left the pending key %s, want Active", st)
			}
		},
	}
}

// stripePolicy: a Stripe key rolled in the Dashboard (the old key expiring
// in an hour) and staged as `dualkey stage` does, with an announced expiry
// already past by the first retire run: the rotation adopts and proves the
// new key; the first retire run finds the old key still accepted past its
// announced expiry (OldCredentialStillValid) and keeps AWSPREVIOUS; once
// Stripe expires it, the second run proves it dead and removes
// AWSPREVIOUS.
func stripePolicy() policyScenario {
	var arn, oldKey string
	return policyScenario{
		fn: "stripe",
		rotate: func(w *policyWorld) {
			t := w.t
			acct, err := w.stripe.CreateAccount(stripefake.AccountOptions{BusinessName: "policy"})
			if err != nil {
				t.Fatal(err)
			}
			key, err := w.stripe.CreateKey(acct.ID, stripefake.KeySpec{Name: "orders"})
			if err != nil {
				t.Fatal(err)
			}
			oldKey = key.Secret
			v, _ := json.Marshal(map[string]string{"api_key": key.Secret, "account_id": acct.ID})
			arn = w.create("stripe/key", string(v), w.tags("stripe", w.refreshTag("stripe")...))
			rolled, err := w.stripe.RollKey(key.Secret, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			stage(w.ctx, t, w.sm, arn, map[string]any{"api_key": rolled.Secret, "previous_key_expires_at": rfc3339(time.Now().Add(-time.Minute))})
			w.rotate(arn, "stripe")
			w.checkRefreshed(arn, "stripe", 1)
			if got, _ := w.value(arn, rotation.StageCurrent)["api_key"].(string); got != rolled.Secret {
				t.Fatal("stripe/key: AWSCURRENT does not hold the staged key after the rotation")
			}
		},
		afterRetire: func(w *policyWorld) {
			if rotation.Holder(w.stages(arn), rotation.StagePrevious) == "" || !w.metricEmitted("retire", "OldCredentialStillValid", "stripe/key") {
				w.t.Fatalf("stripe/key: the first retire run should keep AWSPREVIOUS and alert OldCredentialStillValid (the old key works past its announced expiry)\n%s", w.logs())
			}
			if err := w.stripe.ExpireKey(oldKey, time.Time{}); err != nil {
				w.t.Fatal(err)
			}
		},
		afterSecondRetire: func(w *policyWorld) {
			if p := rotation.Holder(w.stages(arn), rotation.StagePrevious); p != "" || !w.metricEmitted("retire", "CredentialExpired", "stripe/key") {
				w.t.Fatalf("stripe/key: once Stripe expired the old key the retire run should remove AWSPREVIOUS (still on %q) and count CredentialExpired\n%s", p, w.logs())
			}
		},
	}
}

// stripewebhookPolicy: two webhook signing secrets whose endpoints are
// managed with an admin key in a secret of its own (AdminSecretArns). Both
// rotate (a second endpoint each); the first retire run disables both old
// endpoints; a's alarm makes the rollback function enable its old endpoint
// again; the second retire run deletes b's (grace 0s). The rotation, the
// retire and the rollback functions each read the admin secret.
func stripewebhookPolicy() policyScenario {
	type hook struct{ arn, old string }
	var a, b hook
	return policyScenario{
		fn:     "stripewebhook",
		alarms: []string{"dualkey-rollback-wh"},
		rotate: func(w *policyWorld) {
			t := w.t
			acct, err := w.stripe.CreateAccount(stripefake.AccountOptions{BusinessName: "webhooks"})
			if err != nil {
				t.Fatal(err)
			}
			admin, err := w.stripe.CreateKey(acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Name: "dualkey webhooks",
				Permissions: []string{stripefake.PermWebhookWrite}})
			if err != nil {
				t.Fatal(err)
			}
			adminARN := w.adminSecret("stripe/webhook-admin", `{"api_key":"`+admin.Secret+`"}`)
			mk := func(name, target string, extra ...string) hook {
				id, secret := createWebhookEndpoint(t, w.stripeURL, admin.Secret, target)
				v, _ := json.Marshal(map[string]string{"endpoint_id": id, "webhook_secret": secret, "master_secret_arn": adminARN})
				return hook{w.create(name, string(v), w.tags("stripewebhook", extra...)), id}
			}
			a = mk("wh/a", "https://orders.example.com/stripe/a", append(w.refreshTag("stripewebhook"), lifecycle.TagAlarm, "dualkey-rollback-wh", lifecycle.TagGrace, "48h")...)
			b = mk("wh/b", "https://orders.example.com/stripe/b", lifecycle.TagGrace, "0s")
			for _, h := range []hook{a, b} {
				w.rotate(h.arn, "stripewebhook")
				if id, _ := w.value(h.arn, rotation.StageCurrent)["endpoint_id"].(string); id == h.old || id == "" {
					t.Fatalf("%s: AWSCURRENT names endpoint %q after the rotation, want a new one", h.arn, id)
				}
			}
			w.checkRefreshed(a.arn, "stripewebhook", 1)
		},
		afterRetire: func(w *policyWorld) {
			for _, h := range []hook{a, b} {
				if e, ok := w.stripe.Endpoint(h.old); !ok || !e.Disabled {
					w.t.Fatalf("after the retire run the old endpoint %s is %+v (exists %v), want disabled\n%s", h.old, e, ok, w.logs())
				}
			}
		},
		afterAlarms: func(w *policyWorld) {
			if e, ok := w.stripe.Endpoint(a.old); !ok || e.Disabled {
				w.t.Fatalf("after its rollback alarm the old endpoint %s is %+v (exists %v), want enabled\n%s", a.old, e, ok, w.logs())
			}
		},
		afterSecondRetire: func(w *policyWorld) {
			if _, ok := w.stripe.Endpoint(b.old); ok {
				w.t.Fatalf("the second retire run left the old endpoint %s, want it deleted (grace 0s)\n%s", b.old, w.logs())
			}
		},
	}
}

// stagedPolicy: a key rolled in a vendor's dashboard and staged without an
// expiry: the rotation proves it with the secret's probe (same account);
// the first retire run finds no use of the old key in the consumers' log
// group (dualkey:usage-logs) and the old key still working with no expiry
// announced (OldCredentialStillValid); once the operator revokes it, the
// second run proves it dead and removes AWSPREVIOUS.
func stagedPolicy() policyScenario {
	var arn, oldKey string
	return policyScenario{
		fn: "staged",
		rotate: func(w *policyWorld) {
			oldKey = w.vendor.issue("m_policy")
			// The retire function also searches the consumers' log group
			// (dualkey:usage-logs) for the old key: nothing there uses it.
			w.emu.Logs.Put("/policy/consumers", "api", time.Now(), `{"msg":"GET /v1/orders 200"}`)
			arn = w.create("vendor/key", w.vendor.secretValue(oldKey), w.tags("staged", append(w.refreshTag("staged"), usagelogs.Tag, "/policy/consumers")...))
			stage(w.ctx, w.t, w.sm, arn, map[string]any{"api_key": w.vendor.issue("m_policy")})
			w.rotate(arn, "staged")
			w.checkRefreshed(arn, "staged", 1)
		},
		afterRetire: func(w *policyWorld) {
			if rotation.Holder(w.stages(arn), rotation.StagePrevious) == "" || !w.metricEmitted("retire", "OldCredentialStillValid", "vendor/key") {
				w.t.Fatalf("vendor/key: the first retire run should keep AWSPREVIOUS and alert OldCredentialStillValid (no expiry announced)\n%s", w.logs())
			}
			w.vendor.revoke(oldKey)
		},
		afterSecondRetire: func(w *policyWorld) {
			if p := rotation.Holder(w.stages(arn), rotation.StagePrevious); p != "" {
				w.t.Fatalf("vendor/key: once the vendor refuses the old key the retire run should remove AWSPREVIOUS (still on %q)\n%s", p, w.logs())
			}
		},
	}
}

// postgresPolicy and mysqlPolicy: an application user rotated with
// alternating users through its master user's secret (AdminSecretArns):
// the rotation reads the master secret and GetRandomPassword; the first
// retire run logs in as the master (usage evidence: no session of the
// previous user) and locks the previous user; its alarm makes the rollback
// function unlock it through the master; the second retire run leaves it
// (retirement held).
func postgresPolicy() policyScenario { return databasePolicy("postgres") }

func mysqlPolicy() policyScenario { return databasePolicy("mysql") }

func databasePolicy(fn string) policyScenario {
	var u *dbUsers
	var arn, previous string
	alarm := "dualkey-rollback-" + fn
	return policyScenario{
		fn:     fn,
		alarms: []string{alarm},
		rotate: func(w *policyWorld) {
			srv := w.pg
			if fn == "mysql" {
				srv = w.maria
			}
			u = newDBUsers(w.t, srv)
			master := w.adminSecret("db/"+fn+"-master", u.value(u.master, u.masterPW, ""))
			arn = w.create("db/"+fn+"-app", u.value(u.app, u.appPW, master),
				w.tags(fn, append(w.refreshTag(fn), lifecycle.TagAlarm, alarm, lifecycle.TagGrace, "48h")...))
			w.rotate(arn, fn)
			w.checkRefreshed(arn, fn, 1)
			cur, _ := json.Marshal(w.value(arn, rotation.StageCurrent))
			prev, _ := json.Marshal(w.value(arn, rotation.StagePrevious))
			previous = string(prev)
			if w.value(arn, rotation.StageCurrent)["username"] == u.app {
				w.t.Fatalf("db/%s-app: AWSCURRENT is still user %s after the rotation, want its alternate", fn, u.app)
			}
			if err := u.login(w.ctx, string(cur)); err != nil {
				w.t.Fatalf("db/%s-app: AWSCURRENT does not log in after the rotation: %v\n%s", fn, err, w.logs())
			}
		},
		afterRetire: func(w *policyWorld) {
			if err := u.login(w.ctx, previous); err == nil || !w.metricEmitted("retire", "CredentialDeactivated", "db/"+fn+"-app") {
				w.t.Fatalf("db/%s-app: after the retire run the previous user logs in (%v), want it locked\n%s", fn, err, w.logs())
			}
		},
		afterAlarms: func(w *policyWorld) {
			if err := u.login(w.ctx, previous); err != nil {
				w.t.Fatalf("db/%s-app: after its rollback alarm the previous user does not log in: %v\n%s", fn, err, w.logs())
			}
		},
		afterSecondRetire: func(w *policyWorld) {
			if err := u.login(w.ctx, previous); err != nil {
				w.t.Fatalf("db/%s-app: the retire run after the rollback locked the previous user again (%v): the rollback holds retirement\n%s", fn, err, w.logs())
			}
		},
	}
}

// emergencyRotate tags the secret dualkey:emergency=true, as an operator
// does when its credential leaked, and rotates it: createSecret records
// AWSCURRENT as leaked (dualkey:state-leaked) before the provider makes the
// new credential.
func emergencyRotate(w *policyWorld, arn, fn string) {
	w.t.Helper()
	w.tag(arn, lifecycle.TagEmergency, "true")
	w.rotate(arn, fn)
	if leaked := rotation.LeakedVersions(w.secretTags(arn)); len(leaked) == 0 {
		w.t.Fatalf("%s: after an emergency rotation no version is recorded in %s\n%s", arn, rotation.TagStateLeaked, w.logs())
	}
}

// twilioPolicy: a Standard API key, managed with the account's auth token
// (an admin secret). It is rotated, then rotated again in an emergency
// while AWSPREVIOUS's key still exists: createSecret deletes that key and
// records it (dualkey:state=deleted). The first retire run deletes the
// leaked key at once (the emergency skips the drain and the confirmation),
// reading the admin secret.
func twilioPolicy() policyScenario {
	var arn, account string
	var keys []string // SIDs: the first key, after the rotation, after the emergency rotation
	sid := func(w *policyWorld) string {
		v, _ := w.value(arn, rotation.StageCurrent)["api_key_sid"].(string)
		return v
	}
	return policyScenario{
		fn: "twilio",
		rotate: func(w *policyWorld) {
			t := w.t
			acct := w.twilio.CreateAccount("policy twilio")
			account = acct.Sid
			key, err := w.twilio.CreateKey(acct.Sid, twiliofake.KindStandard, "orders", nil)
			if err != nil {
				t.Fatal(err)
			}
			admin := w.adminSecret("twilio/admin", `{"account_sid":"`+acct.Sid+`","auth_token":"`+acct.AuthToken+`"}`)
			v, _ := json.Marshal(map[string]string{"account_sid": acct.Sid, "api_key_sid": key.Sid, "api_key_secret": key.Secret, "master_secret_arn": admin})
			arn = w.create("twilio/key", string(v), w.tags("twilio", w.refreshTag("twilio")...))
			keys = append(keys, key.Sid)
			w.rotate(arn, "twilio")
			keys = append(keys, sid(w))
			emergencyRotate(w, arn, "twilio")
			keys = append(keys, sid(w))
			w.checkRefreshed(arn, "twilio", 2)
			if live := twilioKeySids(t, w.twilio, account); live[keys[0]] || !live[keys[1]] || !live[keys[2]] {
				t.Fatalf("twilio/key: after the emergency rotation the keys %v are %v, want the first deleted, the others live\n%s", keys, live, w.logs())
			}
		},
		afterRetire: func(w *policyWorld) {
			if live := twilioKeySids(w.t, w.twilio, account); live[keys[1]] || !live[keys[2]] {
				w.t.Fatalf("twilio/key: after the retire run the keys %v are %v, want the leaked one deleted, the current one live\n%s", keys[1:], live, w.logs())
			}
		},
	}
}

// twiliotokenPolicy: an account's auth token, its tokens managed with a
// Main API key (an admin secret). The rotation makes the secondary token
// AWSCURRENT; an emergency rotation then promotes it (the older primary
// dies, recorded as deleted) and makes a new secondary. The first retire
// run promotes that one (the leaked token dies), reading the admin secret.
func twiliotokenPolicy() policyScenario {
	var arn, account string
	var tokens []string
	token := func(w *policyWorld) string {
		v, _ := w.value(arn, rotation.StageCurrent)["auth_token"].(string)
		return v
	}
	return policyScenario{
		fn: "twiliotoken",
		rotate: func(w *policyWorld) {
			t := w.t
			acct := w.twilio.CreateAccount("policy twiliotoken")
			account = acct.Sid
			main, err := w.twilio.CreateMainKey(acct.Sid, "dualkey admin")
			if err != nil {
				t.Fatal(err)
			}
			admin := w.adminSecret("twilio/token-admin", `{"account_sid":"`+acct.Sid+`","api_key_sid":"`+main.Sid+`","api_key_secret":"`+main.Secret+`"}`)
			v, _ := json.Marshal(map[string]string{"account_sid": acct.Sid, "auth_token": acct.AuthToken, "master_secret_arn": admin})
			arn = w.create("twilio/token", string(v), w.tags("twiliotoken", w.refreshTag("twiliotoken")...))
			tokens = append(tokens, acct.AuthToken)
			w.rotate(arn, "twiliotoken")
			tokens = append(tokens, token(w))
			emergencyRotate(w, arn, "twiliotoken")
			tokens = append(tokens, token(w))
			w.checkRefreshed(arn, "twiliotoken", 2)
			if p, s, err := w.twilio.Tokens(account); err != nil || p != tokens[1] || s != tokens[2] {
				t.Fatalf("twilio/token: after the emergency rotation the primary is the first rotation's token %v and the secondary the emergency's %v (%v); want both\n%s",
					p == tokens[1], s == tokens[2], err, w.logs())
			}
		},
		afterRetire: func(w *policyWorld) {
			if p, s, err := w.twilio.Tokens(account); err != nil || p != tokens[2] || s != "" {
				w.t.Fatalf("twilio/token: after the retire run the emergency's token is primary: %v, a secondary is left: %v (%v); want it promoted\n%s",
					p == tokens[2], s != "", err, w.logs())
			}
		},
	}
}

// sendgridPolicy: a SendGrid key, managed with an admin key (an admin
// secret) that holds the key's scopes. It is rotated, then rotated again in
// an emergency while AWSPREVIOUS's key still exists: createSecret deletes
// that key and records it. The first retire run deletes the leaked key at
// once, reading the admin secret.
func sendgridPolicy() policyScenario {
	const user = "policy"
	var arn string
	var keys []string
	id := func(w *policyWorld) string {
		k, _ := w.value(arn, rotation.StageCurrent)["api_key"].(string)
		if parts := strings.Split(k, "."); len(parts) == 3 {
			return parts[1]
		}
		return ""
	}
	return policyScenario{
		fn: "sendgrid",
		rotate: func(w *policyWorld) {
			t := w.t
			if err := w.sendgrid.AddUser(sendgridfake.User{Username: user, AutoScopes: []string{"2fa_required"}}); err != nil {
				t.Fatal(err)
			}
			admin, err := w.sendgrid.CreateKey(user, "dualkey admin", []string{"api_keys.create", "api_keys.read", "api_keys.delete", "mail.send"})
			if err != nil {
				t.Fatal(err)
			}
			key, err := w.sendgrid.CreateKey(user, "orders", []string{"mail.send"})
			if err != nil {
				t.Fatal(err)
			}
			adminARN := w.adminSecret("sendgrid/admin", `{"api_key":"`+admin.Secret+`"}`)
			v, _ := json.Marshal(map[string]string{"api_key": key.Secret, "master_secret_arn": adminARN})
			arn = w.create("sendgrid/key", string(v), w.tags("sendgrid", w.refreshTag("sendgrid")...))
			keys = append(keys, key.ID)
			w.rotate(arn, "sendgrid")
			keys = append(keys, id(w))
			emergencyRotate(w, arn, "sendgrid")
			keys = append(keys, id(w))
			w.checkRefreshed(arn, "sendgrid", 2)
			if live := sendgridKeyIDs(t, w.sendgrid, user); live[keys[0]] || !live[keys[1]] || !live[keys[2]] {
				t.Fatalf("sendgrid/key: after the emergency rotation the keys %v are %v, want the first deleted, the others live\n%s", keys, live, w.logs())
			}
		},
		afterRetire: func(w *policyWorld) {
			if live := sendgridKeyIDs(w.t, w.sendgrid, user); live[keys[1]] || !live[keys[2]] {
				w.t.Fatalf("sendgrid/key: after the retire run the keys %v are %v, want the leaked one deleted, the current one live\n%s", keys[1:], live, w.logs())
			}
		},
	}
}
