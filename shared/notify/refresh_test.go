package notify_test

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/ecsemu"
	"github.com/dualkey/dualkey/shared/notify"
)

func refresher(t testing.TB, e *env) *notify.Refresher {
	t.Helper()
	r, err := notify.NewRefresher(notify.RefresherConfig{ECS: e.ecsc, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tagValuePattern is what a Secrets Manager tag value may safely hold.
var tagValuePattern = regexp.MustCompile(`^[A-Za-z0-9 _.:/=+\-@]{0,255}$`)

func TestRefreshForcesNewDeployments(t *testing.T) {
	e := start(t)
	e.ecs.AddService("prod", "api", "api:7", 3)
	e.ecs.AddService("prod", "worker", "worker:2", 1)
	e.ecs.AddService("prod", "untouched", "x:1", 1)
	before := e.ecs.Deployments("prod", "api")[0].ID
	res, err := refresher(t, e).FromTags(ctx(), newVer, map[string]string{notify.TagRefresh: "ecs:prod/api, ecs:prod/worker,ecs:prod/api"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 2 {
		t.Fatalf("results = %+v, want api and worker once each", res.Results)
	}
	for _, r := range res.Results {
		deps := e.ecs.Deployments(r.Target.Cluster, r.Target.Service)
		if e.ecs.ForcedDeployments(r.Target.Cluster, r.Target.Service) != 1 || r.Err != nil || r.Deployment == "" ||
			deps[0].ID != r.Deployment || deps[0].Status != ecsemu.StatusPrimary || !deps[0].Forced || deps[0].RolloutState != ecsemu.RolloutInProgress {
			t.Errorf("%s: result %+v, deployments %+v", r.Target, r, deps)
		}
	}
	if deps := e.ecs.Deployments("prod", "api"); len(deps) != 2 || deps[1].ID != before || deps[1].Status != ecsemu.StatusActive {
		t.Errorf("the old deployment should be ACTIVE beside the new PRIMARY: %+v", deps)
	}
	if e.ecs.ForcedDeployments("prod", "untouched") != 0 {
		t.Error("a service the tag does not name was refreshed")
	}
	note := res.Note()
	want := fmt.Sprintf("v=%s at=2030-03-14T10:30:00Z ecs:prod/api=ok:%s ecs:prod/worker=ok:%s", newVer, res.Results[0].Deployment, res.Results[1].Deployment)
	if note != want || !tagValuePattern.MatchString(note) || notify.RefreshedVersion(note) != newVer {
		t.Errorf("Note = %q\nwant %q", note, want)
	}
}

func TestRefreshFailureIsReportedNotFatal(t *testing.T) {
	e := start(t)
	e.ecs.AddService("prod", "api", "api:7", 3)
	e.ecs.AddService("prod", "worker", "worker:2", 1)
	e.ecs.FailUpdates("prod", "api", "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/dualkey-servicekey is not authorized to perform: ecs:UpdateService")
	res, err := refresher(t, e).FromTags(ctx(), newVer, map[string]string{notify.TagRefresh: "ecs:prod/api,ecs:prod/worker,ecs:prod/gone,ecs:staging/api"})
	if !errors.Is(err, notify.ErrRefresh) {
		t.Fatalf("error = %v, want ErrRefresh", err)
	}
	// Every target was tried; the failure of one stops no other.
	if e.ecs.ForcedDeployments("prod", "worker") != 1 || e.ecs.ForcedDeployments("prod", "api") != 0 {
		t.Errorf("forced: api %d, worker %d", e.ecs.ForcedDeployments("prod", "api"), e.ecs.ForcedDeployments("prod", "worker"))
	}
	codes := map[string]string{}
	for _, r := range res.Results {
		codes[r.Target.String()] = r.Code()
	}
	wantCodes := map[string]string{"ecs:prod/api": "AccessDeniedException", "ecs:prod/worker": "", "ecs:prod/gone": "ServiceNotFoundException", "ecs:staging/api": "ClusterNotFoundException"}
	if !reflect.DeepEqual(codes, wantCodes) || len(res.Failed()) != 3 {
		t.Errorf("codes = %v, want %v", codes, wantCodes)
	}
	for _, want := range []string{
		"3 of 4 services not refreshed after the promotion of version " + newVer + "; the rotation stands",
		"force a new deployment of ecs:prod/api", "grant ecs:UpdateService on arn:aws:ecs:REGION:ACCOUNT:service/prod/api to the function's role: add that ARN (or a wildcard covering it) to the template's RefreshServiceArns parameter",
		"force a new deployment of ecs:prod/gone", "correct tag dualkey:refresh",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q\nwant it to contain %q", err, want)
		}
	}
	note := res.Note()
	if !strings.Contains(note, "ecs:prod/api=failed:AccessDeniedException") || !strings.Contains(note, "ecs:prod/worker=ok:ecs-svc/") || !tagValuePattern.MatchString(note) {
		t.Errorf("Note = %q", note)
	}
	// Once the permission is fixed, the next refresh works.
	e.ecs.FailUpdates("prod", "api", "", "")
	if res, err := refresher(t, e).FromTags(ctx(), newVer, map[string]string{notify.TagRefresh: "ecs:prod/api"}); err != nil || res.Results[0].Deployment == "" {
		t.Errorf("after the fix: %+v, %v", res, err)
	}
}

func TestRefreshWithoutTagOrRefresher(t *testing.T) {
	e := start(t)
	if res, err := refresher(t, e).FromTags(ctx(), newVer, map[string]string{"dualkey:provider": "stripe"}); res != nil || err != nil {
		t.Errorf("no tag: %v, %v", res, err)
	}
	var r *notify.Refresher
	if res, err := r.FromTags(ctx(), newVer, map[string]string{notify.TagRefresh: "ecs:prod/api"}); res != nil || err != nil {
		t.Errorf("nil refresher: %v, %v", res, err)
	}
	var res *notify.Refresh
	if res.Err() != nil || res.Note() != "" || res.Failed() != nil {
		t.Error("a nil Refresh reports something")
	}
	res, err := refresher(t, e).FromTags(ctx(), newVer, map[string]string{notify.TagRefresh: "k8s:prod/api"})
	if !errors.Is(err, notify.ErrRefresh) || res != nil || !strings.Contains(err.Error(), `tag dualkey:refresh: "k8s:prod/api" is not ecs:CLUSTER/SERVICE`) {
		t.Errorf("bad tag: %v, %v", res, err)
	}
	if n := e.ecs.Calls()["UpdateService"]; n != 0 {
		t.Errorf("%d UpdateService calls", n)
	}
	if _, err := notify.NewRefresher(notify.RefresherConfig{}); err == nil {
		t.Error("NewRefresher without a client succeeded")
	}
}

func TestParseTargets(t *testing.T) {
	cases := []struct {
		value   string
		want    []notify.Target
		wantErr string
	}{
		{"ecs:prod/api", []notify.Target{{"prod", "api"}}, ""},
		{"ecs:prod/api,ecs:prod-eu_1/worker-2", []notify.Target{{"prod", "api"}, {"prod-eu_1", "worker-2"}}, ""},
		{"ecs:prod/api ecs:prod/worker", []notify.Target{{"prod", "api"}, {"prod", "worker"}}, ""},
		{"ecs:prod/api,ecs:prod/api", []notify.Target{{"prod", "api"}}, ""},
		{"", nil, "tag dualkey:refresh is empty"},
		{"prod/api", nil, `"prod/api" is not ecs:CLUSTER/SERVICE`},
		{"lambda:fn", nil, `restart anything else with an EventBridge rule on the "Secret Rotated" event`},
		{"ecs:prod", nil, `"ecs:prod" is not ecs:CLUSTER/SERVICE with ECS names`},
		{"ecs:prod/api/x", nil, "with ECS names"},
		{"ecs:/api", nil, "with ECS names"},
		{"ecs:arn:aws:ecs:us-east-1:123456789012:service/prod/api", nil, "no ARNs"},
		{"ecs:prod/api;reboot", nil, "with ECS names"},
		{"ecs:p/a1,ecs:p/a2,ecs:p/a3,ecs:p/a4,ecs:p/a5,ecs:p/a6,ecs:p/a7,ecs:p/a8,ecs:p/a9,ecs:p/a10,ecs:p/a11", nil, "names 11 services; at most 10"},
	}
	for _, c := range cases {
		got, err := notify.ParseTargets(c.value)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseTargets(%q) error = %v, want %q", c.value, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseTargets(%q) = %v, %v; want %v", c.value, got, err, c.want)
		}
	}
}

func TestNoteFitsATagValue(t *testing.T) {
	long := strings.Repeat("c", 40)
	var results []notify.Result
	for i := range 10 {
		r := notify.Result{Target: notify.Target{Cluster: long, Service: fmt.Sprintf("service-%02d", i)}, Deployment: "ecs-svc/1234567890123456789"}
		if i == 7 {
			r.Deployment, r.Err = "", errors.New("boom")
		}
		results = append(results, r)
	}
	cases := []struct {
		name string
		n    int
		want []string
	}{
		{"fits with deployment ids", 2, []string{"=ok:ecs-svc/1234567890123456789"}},
		{"fits without deployment ids", 3, []string{"service-00=ok ", "service-02=ok"}},
		{"failed first, the rest counted", 10, []string{"ecs:" + long + "/service-07=failed:Error", "more"}},
	}
	for _, c := range cases {
		res := &notify.Refresh{Version: newVer, At: t0.Add(90 * time.Second), Results: results[:c.n]}
		if c.n == 10 {
			res.Results = results
		}
		note := res.Note()
		if len(note) > 255 || !tagValuePattern.MatchString(note) || !strings.HasPrefix(note, "v="+newVer+" at=2030-03-14T10:31:30Z ") || notify.RefreshedVersion(note) != newVer {
			t.Errorf("%s: Note = %q (%d)", c.name, note, len(note))
		}
		for _, w := range c.want {
			if !strings.Contains(note, w) {
				t.Errorf("%s: Note = %q, want it to contain %q", c.name, note, w)
			}
		}
		if c.n == 10 {
			// Every service is either listed or counted.
			listed := strings.Count(note, "ecs:")
			var more int
			fmt.Sscanf(note[strings.LastIndex(note, "+"):], "+%d more", &more)
			if listed+more != 10 {
				t.Errorf("Note lists %d and counts %d services, want 10 in all: %q", listed, more, note)
			}
		}
	}
	for _, s := range []string{"", "v=", "x=1 at=2", "garbage"} {
		if v := notify.RefreshedVersion(s); v != "" {
			t.Errorf("RefreshedVersion(%q) = %q", s, v)
		}
	}
}
