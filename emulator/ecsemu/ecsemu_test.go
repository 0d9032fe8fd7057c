package ecsemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/ecsemu"
	"github.com/dualkey/dualkey/emulator/internal/emutest"
	"github.com/dualkey/dualkey/internal/testutil"
)

var t0 = emutest.T0

var deploymentIDRE = regexp.MustCompile(`^ecs-svc/[0-9]{19}$`)

type env struct {
	svc   *ecsemu.Service
	url   string
	ecs   *ecs.Client
	clock *testutil.FakeClock
}

func start(t testing.TB, cfg ecsemu.Config) *env {
	t.Helper()
	clock := testutil.NewFakeClock(t0)
	cfg.Now = clock.Now
	svc := ecsemu.New(cfg)
	url, c := emutest.Mount(t, clock.Now, ecsemu.SigningName, svc)
	return &env{svc: svc, url: url, ecs: ecs.NewFromConfig(c), clock: clock}
}

// ctx is not t.Context(): see emulator/logsemu's helpers for why.
func ctx() context.Context { return context.Background() }

func (e *env) setup(t testing.TB, cluster string, services ...string) {
	t.Helper()
	if _, err := e.ecs.CreateCluster(ctx(), &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		if _, err := e.ecs.CreateService(ctx(), &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(s),
			TaskDefinition: aws.String("app:3"), DesiredCount: aws.Int32(2), LaunchType: types.LaunchTypeFargate}); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) describe(t testing.TB, cluster, service string) types.Service {
	t.Helper()
	out, err := e.ecs.DescribeServices(ctx(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("DescribeServices %s/%s: %+v", cluster, service, out.Failures)
	}
	return out.Services[0]
}

type dep struct {
	status, rollout string
	running         int32
}

func deps(s types.Service) []dep {
	var out []dep
	for _, d := range s.Deployments {
		out = append(out, dep{aws.ToString(d.Status), string(d.RolloutState), d.RunningCount})
	}
	return out
}

// TestForceNewDeployment follows the refresh dualkey performs after a
// promotion: ecs:UpdateService with forceNewDeployment.
func TestForceNewDeployment(t *testing.T) {
	e := start(t, ecsemu.Config{})
	e.setup(t, "prod", "api")

	s := e.describe(t, "prod", "api")
	if aws.ToString(s.ServiceArn) != "arn:aws:ecs:us-east-1:123456789012:service/prod/api" ||
		aws.ToString(s.ClusterArn) != "arn:aws:ecs:us-east-1:123456789012:cluster/prod" ||
		aws.ToString(s.TaskDefinition) != "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3" ||
		aws.ToString(s.Status) != "ACTIVE" || s.DesiredCount != 2 || s.LaunchType != types.LaunchTypeFargate || !aws.ToTime(s.CreatedAt).Equal(t0) {
		t.Fatalf("service = %+v", s)
	}
	if got := deps(s); !slices.Equal(got, []dep{{"PRIMARY", "IN_PROGRESS", 0}}) || s.PendingCount != 2 {
		t.Fatalf("new service deployments = %+v, pending %d", got, s.PendingCount)
	}
	first := aws.ToString(s.Deployments[0].Id)
	if !deploymentIDRE.MatchString(first) {
		t.Fatalf("deployment id %q", first)
	}

	e.clock.Advance(time.Minute)
	s = e.describe(t, "prod", "api")
	if got := deps(s); !slices.Equal(got, []dep{{"PRIMARY", "COMPLETED", 2}}) || s.RunningCount != 2 {
		t.Fatalf("settled deployments = %+v", got)
	}
	if len(s.Events) != 2 || aws.ToString(s.Events[0].Message) != "(service api) has reached a steady state." {
		t.Fatalf("events = %+v", s.Events)
	}

	out, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true})
	if err != nil {
		t.Fatal(err)
	}
	s = *out.Service
	if got := deps(s); !slices.Equal(got, []dep{{"PRIMARY", "IN_PROGRESS", 0}, {"ACTIVE", "COMPLETED", 2}}) {
		t.Fatalf("after forced deployment: %+v", got)
	}
	second := aws.ToString(s.Deployments[0].Id)
	if second == first || !deploymentIDRE.MatchString(second) || aws.ToString(s.Deployments[1].Id) != first {
		t.Fatalf("deployment ids: new %q, old %q (first %q)", second, aws.ToString(s.Deployments[1].Id), first)
	}
	if s.RunningCount != 2 || s.PendingCount != 2 {
		t.Fatalf("counts during rollout: running %d pending %d", s.RunningCount, s.PendingCount)
	}
	if n := e.svc.ForcedDeployments("prod", "api"); n != 1 {
		t.Fatalf("ForcedDeployments = %d", n)
	}

	// Forcing again mid-rollout stacks another deployment.
	if _, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/prod"), Service: aws.String("arn:aws:ecs:us-east-1:123456789012:service/prod/api"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	got := e.svc.Deployments("prod", "api")
	if len(got) != 3 || got[0].Status != ecsemu.StatusPrimary || !got[0].Forced || got[1].ID != second || got[1].Status != ecsemu.StatusActive || got[2].ID != first || got[2].Forced {
		t.Fatalf("Deployments = %+v", got)
	}
	e.clock.Advance(time.Minute)
	if got := deps(e.describe(t, "prod", "api")); !slices.Equal(got, []dep{{"PRIMARY", "COMPLETED", 2}}) {
		t.Fatalf("after rollout: %+v", got)
	}
	if n := e.svc.ForcedDeployments("prod", "api"); n != 2 {
		t.Fatalf("ForcedDeployments = %d", n)
	}
}

func TestUpdateServiceChanges(t *testing.T) {
	e := start(t, ecsemu.Config{RolloutDuration: -1}) // rollouts complete at once
	e.setup(t, "prod", "api")
	// desiredCount alone: no new deployment.
	out, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), DesiredCount: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Service.Deployments) != 1 || out.Service.DesiredCount != 5 || out.Service.Deployments[0].DesiredCount != 5 {
		t.Fatalf("desired count change: %+v", deps(*out.Service))
	}
	// A new task definition: a new deployment, not a forced one.
	out, err = e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), TaskDefinition: aws.String("app:4")})
	if err != nil {
		t.Fatal(err)
	}
	if got := deps(*out.Service); !slices.Equal(got, []dep{{"PRIMARY", "COMPLETED", 5}}) || aws.ToString(out.Service.TaskDefinition) != "arn:aws:ecs:us-east-1:123456789012:task-definition/app:4" {
		t.Fatalf("task definition change: %+v %s", got, aws.ToString(out.Service.TaskDefinition))
	}
	if n := e.svc.ForcedDeployments("prod", "api"); n != 0 {
		t.Fatalf("ForcedDeployments = %d after a task definition change", n)
	}
	// The same task definition again changes nothing.
	before := e.svc.Deployments("prod", "api")[0].ID
	if _, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), TaskDefinition: aws.String("app:4")}); err != nil {
		t.Fatal(err)
	}
	if after := e.svc.Deployments("prod", "api")[0].ID; after != before {
		t.Fatal("an unchanged task definition started a deployment")
	}
}

func TestUpdateServiceRefusals(t *testing.T) {
	e := start(t, ecsemu.Config{RolloutDuration: -1})
	e.setup(t, "prod", "api", "old")
	e.setup(t, "staging", "web")
	if _, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("old"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ecs.DeleteService(ctx(), &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("old")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		in        *ecs.UpdateServiceInput
		code, msg string
	}{
		{"missing cluster", &ecs.UpdateServiceInput{Cluster: aws.String("nope"), Service: aws.String("api"), ForceNewDeployment: true}, "ClusterNotFoundException", "Cluster not found."},
		{"default cluster missing", &ecs.UpdateServiceInput{Service: aws.String("api"), ForceNewDeployment: true}, "ClusterNotFoundException", "Cluster not found."},
		{"missing service", &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("nope"), ForceNewDeployment: true}, "ServiceNotFoundException", "Service not found."},
		{"service of another cluster", &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), ForceNewDeployment: true}, "ServiceNotFoundException", "Service not found."},
		{"ARN of another cluster", &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("arn:aws:ecs:us-east-1:123456789012:service/staging/api"), ForceNewDeployment: true}, "ServiceNotFoundException", "Service not found."},
		{"deleted service", &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("old"), ForceNewDeployment: true}, "ServiceNotActiveException", "Service was not ACTIVE."},
		{"negative count", &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), DesiredCount: aws.Int32(-1)}, "InvalidParameterException", ""},
		{"bad revision", &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), TaskDefinition: aws.String("app:x")}, "ClientException", "Invalid revision number. Number: x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.ecs.UpdateService(ctx(), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
	if n := e.svc.ForcedDeployments("prod", "api") + e.svc.ForcedDeployments("staging", "web"); n != 0 {
		t.Fatalf("refused updates counted %d forced deployments", n)
	}
	// The cluster may come from the service ARN.
	if _, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Service: aws.String("arn:aws:ecs:us-east-1:123456789012:service/staging/web"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	if n := e.svc.ForcedDeployments("staging", "web"); n != 1 {
		t.Fatalf("ForcedDeployments(staging, web) = %d", n)
	}
}

func TestFailUpdates(t *testing.T) {
	e := start(t, ecsemu.Config{})
	e.setup(t, "prod", "api")
	e.svc.FailUpdates("prod", "api", "AccessDeniedException", "User is not authorized to perform: ecs:UpdateService")
	_, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true})
	emutest.WantError(t, err, "AccessDeniedException", "User is not authorized to perform: ecs:UpdateService")
	if len(e.svc.Deployments("prod", "api")) != 1 || e.svc.ForcedDeployments("prod", "api") != 0 {
		t.Fatal("a failed update changed the service")
	}
	e.svc.FailUpdates("prod", "api", "", "")
	if _, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true}); err != nil {
		t.Fatalf("after clearing the failure: %v", err)
	}
}

func TestDescribeServices(t *testing.T) {
	e := start(t, ecsemu.Config{})
	e.setup(t, "prod")
	if _, err := e.ecs.CreateService(ctx(), &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("app:1"),
		DesiredCount: aws.Int32(1), Tags: []types.Tag{{Key: aws.String("dualkey:refresh"), Value: aws.String("yes")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.ecs.DescribeServices(ctx(), &ecs.DescribeServicesInput{Cluster: aws.String("prod"),
		Services: []string{"api", "nope", "arn:aws:ecs:us-east-1:123456789012:service/prod/gone"}, Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 || len(out.Services[0].Tags) != 1 || aws.ToString(out.Services[0].Tags[0].Key) != "dualkey:refresh" {
		t.Fatalf("services = %+v", out.Services)
	}
	wantFailures := []types.Failure{
		{Arn: aws.String("arn:aws:ecs:us-east-1:123456789012:service/prod/nope"), Reason: aws.String("MISSING")},
		{Arn: aws.String("arn:aws:ecs:us-east-1:123456789012:service/prod/gone"), Reason: aws.String("MISSING")},
	}
	if len(out.Failures) != 2 {
		t.Fatalf("failures = %+v", out.Failures)
	}
	for i, f := range out.Failures {
		if aws.ToString(f.Arn) != aws.ToString(wantFailures[i].Arn) || aws.ToString(f.Reason) != "MISSING" {
			t.Fatalf("failure %d = %+v", i, f)
		}
	}
	if len(e.describe(t, "prod", "api").Tags) != 0 {
		t.Fatal("tags returned without include TAGS")
	}
	errs := []struct {
		name string
		in   *ecs.DescribeServicesInput
		code string
	}{
		{"missing cluster", &ecs.DescribeServicesInput{Cluster: aws.String("nope"), Services: []string{"api"}}, "ClusterNotFoundException"},
		{"eleven services", &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: slices.Repeat([]string{"api"}, 11)}, "InvalidParameterException"},
	}
	for _, c := range errs {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.ecs.DescribeServices(ctx(), c.in)
			emutest.WantError(t, err, c.code, "")
		})
	}
}

func TestCreateService(t *testing.T) {
	e := start(t, ecsemu.Config{})
	e.setup(t, "prod", "api")
	same := &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("tok"), TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(1), ClientToken: aws.String("token-1")}
	a, err := e.ecs.CreateService(ctx(), same)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.ecs.CreateService(ctx(), same)
	if err != nil || aws.ToString(a.Service.Deployments[0].Id) != aws.ToString(b.Service.Deployments[0].Id) {
		t.Fatalf("retry with the same client token: %v", err)
	}
	if a.Service.LaunchType != types.LaunchTypeEc2 {
		t.Fatalf("default launch type = %q", a.Service.LaunchType)
	}
	cases := []struct {
		name      string
		in        *ecs.CreateServiceInput
		code, msg string
	}{
		{"not idempotent", &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("app:9"), DesiredCount: aws.Int32(1)}, "InvalidParameterException", "Creation of service was not idempotent."},
		{"missing cluster", &ecs.CreateServiceInput{Cluster: aws.String("nope"), ServiceName: aws.String("x"), TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(1)}, "ClusterNotFoundException", "Cluster not found."},
		{"bad name", &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("a b"), TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(1)}, "InvalidParameterException", ""},
		{"no task definition", &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("x"), DesiredCount: aws.Int32(1)}, "InvalidParameterException", ""},
		{"no desired count", &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("x"), TaskDefinition: aws.String("app:1")}, "InvalidParameterException", ""},
		{"other controller", &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("x"), TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(1), DeploymentController: &types.DeploymentController{Type: types.DeploymentControllerTypeCodeDeploy}}, "InvalidParameterException", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.ecs.CreateService(ctx(), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
	// Listing pages through ACTIVE services in ARN order.
	for _, n := range []string{"c", "b"} {
		if _, err := e.ecs.CreateService(ctx(), &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String(n), TaskDefinition: aws.String("app:1"), DesiredCount: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
	}
	var arns []string
	p := ecs.NewListServicesPaginator(e.ecs, &ecs.ListServicesInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx())
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, out.ServiceArns...)
	}
	prefix := "arn:aws:ecs:us-east-1:123456789012:service/prod/"
	if want := []string{prefix + "api", prefix + "b", prefix + "c", prefix + "tok"}; !slices.Equal(arns, want) {
		t.Fatalf("ListServices = %v", arns)
	}
}

func TestClusters(t *testing.T) {
	e := start(t, ecsemu.Config{})
	def, err := e.ecs.CreateCluster(ctx(), &ecs.CreateClusterInput{})
	if err != nil || aws.ToString(def.Cluster.ClusterName) != "default" || aws.ToString(def.Cluster.ClusterArn) != "arn:aws:ecs:us-east-1:123456789012:cluster/default" || aws.ToString(def.Cluster.Status) != "ACTIVE" {
		t.Fatalf("default cluster: %+v %v", def, err)
	}
	e.setup(t, "prod", "api")
	again, err := e.ecs.CreateCluster(ctx(), &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	if err != nil || again.Cluster.ActiveServicesCount != 1 {
		t.Fatalf("CreateCluster of an existing cluster: %+v %v", again, err)
	}
	out, err := e.ecs.DescribeClusters(ctx(), &ecs.DescribeClustersInput{Clusters: []string{"prod", "nope"}})
	if err != nil || len(out.Clusters) != 1 || out.Clusters[0].PendingTasksCount != 2 || len(out.Failures) != 1 ||
		aws.ToString(out.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:cluster/nope" || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Fatalf("DescribeClusters: %+v %v", out, err)
	}
	_, err = e.ecs.DeleteCluster(ctx(), &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	emutest.WantError(t, err, "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.")
	_, err = e.ecs.DeleteService(ctx(), &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api")})
	emutest.WantError(t, err, "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
	del, err := e.ecs.DeleteService(ctx(), &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), Force: aws.Bool(true)})
	if err != nil || aws.ToString(del.Service.Status) != "DRAINING" {
		t.Fatalf("DeleteService: %+v %v", del, err)
	}
	_, err = e.ecs.DeleteCluster(ctx(), &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	emutest.WantError(t, err, "ClusterContainsServicesException", "")
	e.clock.Advance(time.Minute)
	if s := e.describe(t, "prod", "api"); aws.ToString(s.Status) != "INACTIVE" {
		t.Fatalf("drained service status %s", aws.ToString(s.Status))
	}
	if _, err := e.ecs.DeleteCluster(ctx(), &ecs.DeleteClusterInput{Cluster: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	list, err := e.ecs.ListClusters(ctx(), &ecs.ListClustersInput{})
	if err != nil || !slices.Equal(list.ClusterArns, []string{"arn:aws:ecs:us-east-1:123456789012:cluster/default"}) {
		t.Fatalf("ListClusters: %+v %v", list, err)
	}
	_, err = e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true})
	emutest.WantError(t, err, "ClusterNotFoundException", "Cluster not found.")
}

func TestAddServiceFixture(t *testing.T) {
	e := start(t, ecsemu.Config{})
	e.svc.AddService("prod", "worker", "jobs:7", 3)
	s := e.describe(t, "prod", "worker")
	if got := deps(s); !slices.Equal(got, []dep{{"PRIMARY", "COMPLETED", 3}}) || aws.ToString(s.TaskDefinition) != "arn:aws:ecs:us-east-1:123456789012:task-definition/jobs:7" {
		t.Fatalf("fixture service: %+v", got)
	}
	if e.svc.Deployments("prod", "nope") != nil || e.svc.ForcedDeployments("nope", "x") != 0 {
		t.Fatal("missing services report deployments")
	}
}

// TestConcurrentForcedDeployments: every forced update counts once.
func TestConcurrentForcedDeployments(t *testing.T) {
	e := start(t, ecsemu.Config{})
	e.svc.AddService("prod", "api", "app:1", 1)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if _, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	d := e.svc.Deployments("prod", "api")
	ids := map[string]bool{}
	for _, x := range d {
		ids[x.ID] = true
	}
	if n := e.svc.ForcedDeployments("prod", "api"); n != 40 || len(d) != 41 || len(ids) != 41 {
		t.Fatalf("forced %d, deployments %d, distinct ids %d", n, len(d), len(ids))
	}
	if calls := e.svc.Calls(); calls["UpdateService"] != 40 {
		t.Fatalf("calls = %v", calls)
	}
}

// TestAWSCLI runs the refresh as an operator would with the AWS CLI.
func TestAWSCLI(t *testing.T) {
	c := emutest.NewCLI(t, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	e := start(t, ecsemu.Config{})
	e.svc.AddService("prod", "api", "app:1", 2)
	run := func(args ...string) (string, string, error) {
		return c.Run(append(args, "--endpoint-url", e.url, "--output", "json")...)
	}
	out, stderr, err := run("ecs", "update-service", "--cluster", "prod", "--service", "api", "--force-new-deployment")
	if err != nil {
		t.Fatalf("aws ecs update-service: %v\n%s", err, stderr)
	}
	var res struct {
		Service struct {
			ServiceArn  string
			Deployments []struct{ ID, Status, RolloutState string }
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if res.Service.ServiceArn != "arn:aws:ecs:us-east-1:123456789012:service/prod/api" || len(res.Service.Deployments) != 2 ||
		res.Service.Deployments[0].Status != "PRIMARY" || res.Service.Deployments[1].Status != "ACTIVE" {
		t.Fatalf("update-service output: %+v", res)
	}
	if e.svc.ForcedDeployments("prod", "api") != 1 {
		t.Fatal("the CLI's forced deployment was not counted")
	}
	out, _, err = run("ecs", "describe-services", "--cluster", "prod", "--services", "api", "missing")
	if err != nil || !strings.Contains(out, `"reason": "MISSING"`) || !strings.Contains(out, fmt.Sprintf(`"id": %q`, res.Service.Deployments[0].ID)) {
		t.Fatalf("describe-services: %v\n%s", err, out)
	}
	if _, stderr, err := run("ecs", "update-service", "--cluster", "prod", "--service", "nope", "--force-new-deployment"); err == nil || !strings.Contains(stderr, "ServiceNotFoundException") {
		t.Fatalf("update of a missing service: %v %s", err, stderr)
	}
}

func TestDeploymentsHandler(t *testing.T) {
	e := start(t, ecsemu.Config{})
	e.svc.AddService("prod", "api", "app:1", 1)
	if _, err := e.ecs.UpdateService(ctx(), &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.svc.DeploymentsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_dualkey/ecs", nil))
	var got map[string]struct {
		Status            string
		ForcedDeployments int
		Deployments       []struct {
			ID, Status, RolloutState string
			Forced                   bool
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s %v", rec.Code, rec.Body, err)
	}
	api := got["prod/api"]
	if len(got) != 1 || api.Status != "ACTIVE" || api.ForcedDeployments != 1 || len(api.Deployments) != 2 ||
		api.Deployments[0].Status != "PRIMARY" || !api.Deployments[0].Forced || api.Deployments[1].Status != "ACTIVE" {
		t.Fatalf("GET = %+v", got)
	}
	rec = httptest.NewRecorder()
	e.svc.DeploymentsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/_dualkey/ecs", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}
