package ecsemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

const (
	msgClusterNotFound = "Cluster not found."
	msgServiceNotFound = "Service not found."
	msgNotActive       = "Service was not ACTIVE."
)

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	familyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// epochOut encodes a timestamp as AWS JSON does: epoch seconds with
// millisecond precision.
type epochOut time.Time

func (t epochOut) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64)), nil
}

// clusterName reduces a cluster name or ARN to a name (DefaultCluster when
// empty).
func (s *Service) clusterName(ref *string) string {
	if ref == nil || *ref == "" {
		return DefaultCluster
	}
	if i := strings.LastIndex(*ref, ":cluster/"); strings.HasPrefix(*ref, "arn:") && i >= 0 {
		return (*ref)[i+len(":cluster/"):]
	}
	return *ref
}

// activeClusterLocked resolves ref to an ACTIVE cluster.
func (s *Service) activeClusterLocked(ref *string) (*cluster, *awsjson.Error) {
	c := s.clusters[s.clusterName(ref)]
	if c == nil || c.status != StatusActive {
		return nil, awsjson.Errorf(codeClusterNotFound, msgClusterNotFound)
	}
	return c, nil
}

// serviceRef splits a service name or ARN (arn:...:service/NAME or
// arn:...:service/CLUSTER/NAME) into its cluster (empty when the reference
// names none) and name.
func serviceRef(ref string) (clusterName, name string) {
	if !strings.HasPrefix(ref, "arn:") {
		return "", ref
	}
	i := strings.Index(ref, ":service/")
	if i < 0 {
		return "", ref
	}
	rest := ref[i+len(":service/"):]
	if c, n, ok := strings.Cut(rest, "/"); ok {
		return c, n
	}
	return "", rest
}

// taskDefARN turns family:revision (or a bare family, taken as revision 1:
// the emulator keeps no task definitions) into an ARN; ARNs pass unchanged.
func (s *Service) taskDefARN(td string) string {
	if strings.HasPrefix(td, "arn:") {
		return td
	}
	if !strings.Contains(td, ":") {
		td += ":1"
	}
	return "arn:aws:ecs:" + s.region + ":" + s.account + ":task-definition/" + td
}

func checkTaskDef(td string) *awsjson.Error {
	if strings.HasPrefix(td, "arn:") {
		if !strings.Contains(td, ":task-definition/") {
			return awsjson.Errorf(codeInvalidParameter, "Invalid task definition ARN %q.", td)
		}
		return nil
	}
	family, rev, hasRev := strings.Cut(td, ":")
	if !familyRE.MatchString(family) {
		return awsjson.Errorf(codeClient, "Task definition family %q must be up to 255 letters, numbers, hyphens and underscores.", family)
	}
	if hasRev {
		if n, err := strconv.Atoi(rev); err != nil || n < 1 {
			return awsjson.Errorf(codeClient, "Invalid revision number. Number: %s", rev)
		}
	}
	return nil
}

func checkTags(tags []tag) *awsjson.Error {
	if len(tags) > 50 {
		return protocol.Constraint("[...]", "tags", "Member must have length less than or equal to 50")
	}
	for i, t := range tags {
		member := fmt.Sprintf("tags.%d.member", i+1)
		if t.Key == nil {
			return protocol.Null(member + ".key")
		}
		if aerr := protocol.CheckLen(member+".key", t.Key, 1, 128); aerr != nil {
			return aerr
		}
		if aerr := protocol.CheckLen(member+".value", t.Value, 0, 256); aerr != nil {
			return aerr
		}
	}
	return nil
}

// ---- clusters ----

type createClusterInput struct {
	ClusterName *string `json:"clusterName"`
	Tags        []tag   `json:"tags"`
}

type clusterOut struct {
	ClusterArn                        string `json:"clusterArn"`
	ClusterName                       string `json:"clusterName"`
	Status                            string `json:"status"`
	RegisteredContainerInstancesCount int    `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int32  `json:"runningTasksCount"`
	PendingTasksCount                 int32  `json:"pendingTasksCount"`
	ActiveServicesCount               int    `json:"activeServicesCount"`
	Statistics                        []any  `json:"statistics"`
	Tags                              []tag  `json:"tags"`
	Settings                          []any  `json:"settings"`
	CapacityProviders                 []any  `json:"capacityProviders"`
	DefaultCapacityProviderStrategy   []any  `json:"defaultCapacityProviderStrategy"`
}

func (s *Service) clusterOutLocked(c *cluster) clusterOut {
	o := clusterOut{ClusterArn: s.clusterARN(c.name), ClusterName: c.name, Status: c.status, Statistics: []any{}, Tags: c.tags,
		Settings: []any{map[string]string{"name": "containerInsights", "value": "disabled"}}, CapacityProviders: []any{}, DefaultCapacityProviderStrategy: []any{}}
	if o.Tags == nil {
		o.Tags = []tag{}
	}
	for _, sv := range c.services {
		s.settleLocked(sv)
		if sv.status == StatusActive || sv.status == StatusDraining {
			o.ActiveServicesCount++
			run, pend := sv.counts()
			o.RunningTasksCount += run
			o.PendingTasksCount += pend
		}
	}
	return o
}

func (s *Service) createCluster(in *createClusterInput) (any, *awsjson.Error) {
	name := DefaultCluster
	if in.ClusterName != nil {
		name = *in.ClusterName
		if !nameRE.MatchString(name) {
			return nil, awsjson.Errorf(codeInvalidParameter, "Cluster name can have up to 255 characters: letters (uppercase and lowercase), numbers, hyphens and underscores.")
		}
	}
	if aerr := checkTags(in.Tags); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[name]
	if c == nil || c.status != StatusActive { // CreateCluster of an ACTIVE cluster returns it
		c = &cluster{name: name, status: StatusActive, tags: in.Tags, services: map[string]*service{}}
		s.clusters[name] = c
	}
	return map[string]any{"cluster": s.clusterOutLocked(c)}, nil
}

type describeClustersInput struct {
	Clusters []string `json:"clusters"`
	Include  []string `json:"include"`
}

type failure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
}

func (s *Service) describeClusters(in *describeClustersInput) (any, *awsjson.Error) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{DefaultCluster}
	}
	if len(refs) > 100 {
		return nil, awsjson.Errorf(codeInvalidParameter, "clusters can have at most 100 items.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := struct {
		Clusters []clusterOut `json:"clusters"`
		Failures []failure    `json:"failures"`
	}{Clusters: []clusterOut{}, Failures: []failure{}}
	for _, ref := range refs {
		name := s.clusterName(&ref)
		c := s.clusters[name]
		if c == nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = s.clusterARN(name)
			}
			out.Failures = append(out.Failures, failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		co := s.clusterOutLocked(c)
		if !contains(in.Include, "TAGS") {
			co.Tags = nil
		}
		out.Clusters = append(out.Clusters, co)
	}
	return out, nil
}

type listInput struct {
	Cluster    *string `json:"cluster"`
	NextToken  *string `json:"nextToken"`
	MaxResults *int32  `json:"maxResults"`
}

// page returns up to max ARNs after the token's position and the next token.
func page(arns []string, token *string, maxResults *int32, def int32) ([]string, *string, *awsjson.Error) {
	limit := def
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 100 {
			return nil, nil, awsjson.Errorf(codeInvalidParameter, "maxResults must be between 1 and 100.")
		}
		limit = *maxResults
	}
	start := 0
	if token != nil {
		b, err := base64.RawURLEncoding.DecodeString(*token)
		if err != nil || len(b) == 0 {
			return nil, nil, awsjson.Errorf(codeInvalidParameter, "Invalid token %s", *token)
		}
		for start < len(arns) && arns[start] <= string(b) {
			start++
		}
	}
	end := min(start+int(limit), len(arns))
	out := append([]string{}, arns[start:end]...)
	if end < len(arns) {
		t := base64.RawURLEncoding.EncodeToString([]byte(arns[end-1]))
		return out, &t, nil
	}
	return out, nil, nil
}

func (s *Service) listClusters(in *listInput) (any, *awsjson.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var arns []string
	for _, n := range sortedKeys(s.clusters) {
		if s.clusters[n].status == StatusActive {
			arns = append(arns, s.clusterARN(n))
		}
	}
	got, next, aerr := page(arns, in.NextToken, in.MaxResults, 100)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		ClusterArns []string `json:"clusterArns"`
		NextToken   *string  `json:"nextToken,omitempty"`
	}{got, next}, nil
}

type clusterRefInput struct {
	Cluster *string `json:"cluster"`
}

func (s *Service) deleteCluster(in *clusterRefInput) (any, *awsjson.Error) {
	if in.Cluster == nil {
		return nil, protocol.Null("cluster")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.activeClusterLocked(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	for _, sv := range c.services {
		s.settleLocked(sv)
		if sv.status == StatusActive || sv.status == StatusDraining {
			return nil, awsjson.Errorf(codeClusterHasService, "The Cluster cannot be deleted while Services are active.")
		}
	}
	c.status = StatusInactive
	return map[string]any{"cluster": s.clusterOutLocked(c)}, nil
}

// ---- services ----

type deploymentOut struct {
	ID                 string   `json:"id"`
	Status             string   `json:"status"`
	TaskDefinition     string   `json:"taskDefinition"`
	DesiredCount       int32    `json:"desiredCount"`
	PendingCount       int32    `json:"pendingCount"`
	RunningCount       int32    `json:"runningCount"`
	FailedTasks        int32    `json:"failedTasks"`
	CreatedAt          epochOut `json:"createdAt"`
	UpdatedAt          epochOut `json:"updatedAt"`
	LaunchType         string   `json:"launchType,omitempty"`
	RolloutState       string   `json:"rolloutState"`
	RolloutStateReason string   `json:"rolloutStateReason"`
}

type eventOut struct {
	ID        string   `json:"id"`
	CreatedAt epochOut `json:"createdAt"`
	Message   string   `json:"message"`
}

type serviceOut struct {
	ServiceArn              string          `json:"serviceArn"`
	ServiceName             string          `json:"serviceName"`
	ClusterArn              string          `json:"clusterArn"`
	LoadBalancers           []any           `json:"loadBalancers"`
	ServiceRegistries       []any           `json:"serviceRegistries"`
	Status                  string          `json:"status"`
	DesiredCount            int32           `json:"desiredCount"`
	RunningCount            int32           `json:"runningCount"`
	PendingCount            int32           `json:"pendingCount"`
	LaunchType              string          `json:"launchType,omitempty"`
	TaskDefinition          string          `json:"taskDefinition"`
	DeploymentConfiguration json.RawMessage `json:"deploymentConfiguration"`
	Deployments             []deploymentOut `json:"deployments"`
	Events                  []eventOut      `json:"events"`
	CreatedAt               epochOut        `json:"createdAt"`
	PlacementConstraints    []any           `json:"placementConstraints"`
	PlacementStrategy       []any           `json:"placementStrategy"`
	SchedulingStrategy      string          `json:"schedulingStrategy"`
	DeploymentController    json.RawMessage `json:"deploymentController"`
	Tags                    []tag           `json:"tags,omitempty"`
	EnableECSManagedTags    bool            `json:"enableECSManagedTags"`
	PropagateTags           string          `json:"propagateTags"`
	EnableExecuteCommand    bool            `json:"enableExecuteCommand"`
}

// counts returns the running and pending task counts ECS would show:
// a completed deployment runs its desired count, one in progress is still
// starting them while the deployments it replaces keep theirs running.
func (sv *service) counts() (running, pending int32) {
	if sv.status == StatusInactive {
		return 0, 0
	}
	for _, d := range sv.deployments {
		r, p := d.counts()
		running += r
		pending += p
	}
	return running, pending
}

func (d *deployment) counts() (running, pending int32) {
	if d.status == StatusPrimary && d.rollout == RolloutInProgress {
		return 0, d.desiredCount
	}
	return d.desiredCount, 0
}

func (s *Service) serviceOutLocked(sv *service, withTags bool) serviceOut {
	s.settleLocked(sv)
	run, pend := sv.counts()
	o := serviceOut{
		ServiceArn: s.serviceARN(sv.clusterName, sv.name), ServiceName: sv.name, ClusterArn: s.clusterARN(sv.clusterName),
		LoadBalancers: []any{}, ServiceRegistries: []any{}, Status: sv.status,
		DesiredCount: sv.desiredCount, RunningCount: run, PendingCount: pend, LaunchType: sv.launchType,
		TaskDefinition:          sv.taskDefinition,
		DeploymentConfiguration: json.RawMessage(`{"deploymentCircuitBreaker":{"enable":false,"rollback":false},"maximumPercent":200,"minimumHealthyPercent":100}`),
		Deployments:             []deploymentOut{}, Events: []eventOut{}, CreatedAt: epochOut(sv.created),
		PlacementConstraints: []any{}, PlacementStrategy: []any{}, SchedulingStrategy: sv.schedulingStrategy,
		DeploymentController: json.RawMessage(`{"type":"ECS"}`), PropagateTags: "NONE",
	}
	if sv.status == StatusInactive {
		o.DesiredCount = 0
	}
	for _, d := range sv.deployments {
		r, p := d.counts()
		reason := "ECS deployment " + d.id + " completed."
		if d.rollout == RolloutInProgress {
			reason = "ECS deployment " + d.id + " in progress."
		}
		o.Deployments = append(o.Deployments, deploymentOut{ID: d.id, Status: d.status, TaskDefinition: d.taskDefinition,
			DesiredCount: d.desiredCount, RunningCount: r, PendingCount: p, CreatedAt: epochOut(d.created), UpdatedAt: epochOut(d.updated),
			LaunchType: sv.launchType, RolloutState: d.rollout, RolloutStateReason: reason})
	}
	for _, e := range sv.events {
		o.Events = append(o.Events, eventOut{ID: e.id, CreatedAt: epochOut(e.created), Message: e.message})
	}
	if withTags {
		o.Tags = sv.tags
	}
	return o
}

type createServiceInput struct {
	Cluster                  *string         `json:"cluster"`
	ServiceName              *string         `json:"serviceName"`
	TaskDefinition           *string         `json:"taskDefinition"`
	DesiredCount             *int32          `json:"desiredCount"`
	ClientToken              *string         `json:"clientToken"`
	LaunchType               *string         `json:"launchType"`
	CapacityProviderStrategy json.RawMessage `json:"capacityProviderStrategy"`
	SchedulingStrategy       *string         `json:"schedulingStrategy"`
	DeploymentController     *struct {
		Type string `json:"type"`
	} `json:"deploymentController"`
	Tags []tag `json:"tags"`
}

var launchTypes = []string{"EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Service) createService(in *createServiceInput) (any, *awsjson.Error) {
	if in.ServiceName == nil {
		return nil, protocol.Null("serviceName")
	}
	if !nameRE.MatchString(*in.ServiceName) {
		return nil, awsjson.Errorf(codeInvalidParameter, "Service name can have up to 255 characters: letters (uppercase and lowercase), numbers, hyphens and underscores.")
	}
	if in.DeploymentController != nil && in.DeploymentController.Type != "ECS" {
		return nil, awsjson.Errorf(codeInvalidParameter, "The dualkey emulator supports only the ECS deployment controller, not %q.", in.DeploymentController.Type)
	}
	if in.TaskDefinition == nil {
		return nil, awsjson.Errorf(codeInvalidParameter, "TaskDefinition is required for a service that uses the ECS deployment controller.")
	}
	if aerr := checkTaskDef(*in.TaskDefinition); aerr != nil {
		return nil, aerr
	}
	strategy := "REPLICA"
	if in.SchedulingStrategy != nil {
		strategy = *in.SchedulingStrategy
		if strategy != "REPLICA" && strategy != "DAEMON" {
			return nil, protocol.Constraint(strategy, "schedulingStrategy", "Member must satisfy enum value set: [REPLICA, DAEMON]")
		}
	}
	var desired int32
	switch {
	case in.DesiredCount != nil && *in.DesiredCount < 0:
		return nil, awsjson.Errorf(codeInvalidParameter, "desiredCount must be greater than or equal to 0.")
	case in.DesiredCount != nil:
		desired = *in.DesiredCount
	case strategy == "REPLICA":
		return nil, awsjson.Errorf(codeInvalidParameter, "desiredCount is required for a service that uses the REPLICA scheduling strategy.")
	}
	launchType := ""
	switch {
	case in.LaunchType != nil && len(in.CapacityProviderStrategy) > 0:
		return nil, awsjson.Errorf(codeInvalidParameter, "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	case in.LaunchType != nil:
		launchType = *in.LaunchType
		if !contains(launchTypes, launchType) {
			return nil, protocol.Constraint(launchType, "launchType", "Member must satisfy enum value set: ["+strings.Join(launchTypes, ", ")+"]")
		}
	case len(in.CapacityProviderStrategy) == 0:
		launchType = "EC2"
	}
	if aerr := protocol.CheckLen("clientToken", in.ClientToken, 1, 36); aerr != nil {
		return nil, aerr
	}
	if aerr := checkTags(in.Tags); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.activeClusterLocked(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	td := s.taskDefARN(*in.TaskDefinition)
	if old := c.services[*in.ServiceName]; old != nil {
		s.settleLocked(old)
		if old.status != StatusInactive {
			if in.ClientToken != nil && *in.ClientToken == old.clientToken && old.taskDefinition == td && old.desiredCount == desired {
				return map[string]any{"service": s.serviceOutLocked(old, false)}, nil
			}
			return nil, awsjson.Errorf(codeInvalidParameter, "Creation of service was not idempotent.")
		}
	}
	now := s.now()
	sv := &service{name: *in.ServiceName, clusterName: c.name, status: StatusActive, taskDefinition: td, desiredCount: desired,
		launchType: launchType, schedulingStrategy: strategy, created: now, tags: in.Tags}
	if in.ClientToken != nil {
		sv.clientToken = *in.ClientToken
	}
	sv.deployments = []*deployment{{id: newDeploymentID(), status: StatusPrimary, taskDefinition: td, desiredCount: desired,
		rollout: RolloutInProgress, created: now, updated: now}}
	c.services[sv.name] = sv
	return map[string]any{"service": s.serviceOutLocked(sv, false)}, nil
}

type describeServicesInput struct {
	Cluster  *string  `json:"cluster"`
	Services []string `json:"services"`
	Include  []string `json:"include"`
}

func (s *Service) describeServices(in *describeServicesInput) (any, *awsjson.Error) {
	if in.Services == nil {
		return nil, protocol.Null("services")
	}
	if len(in.Services) < 1 || len(in.Services) > 10 {
		return nil, awsjson.Errorf(codeInvalidParameter, "services must hold between 1 and 10 service names or ARNs; it holds %d.", len(in.Services))
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, protocol.Constraint(inc, "include.member", "Member must satisfy enum value set: [TAGS]")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.activeClusterLocked(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	out := struct {
		Services []serviceOut `json:"services"`
		Failures []failure    `json:"failures"`
	}{Services: []serviceOut{}, Failures: []failure{}}
	for _, ref := range in.Services {
		refCluster, name := serviceRef(ref)
		sv := c.services[name]
		if sv == nil || (refCluster != "" && refCluster != c.name) {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = s.serviceARN(c.name, name)
			}
			out.Failures = append(out.Failures, failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out.Services = append(out.Services, s.serviceOutLocked(sv, contains(in.Include, "TAGS")))
	}
	return out, nil
}

type listServicesInput struct {
	Cluster            *string `json:"cluster"`
	NextToken          *string `json:"nextToken"`
	MaxResults         *int32  `json:"maxResults"`
	LaunchType         *string `json:"launchType"`
	SchedulingStrategy *string `json:"schedulingStrategy"`
}

func (s *Service) listServices(in *listServicesInput) (any, *awsjson.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.activeClusterLocked(in.Cluster)
	if aerr != nil {
		return nil, aerr
	}
	var arns []string
	for _, n := range sortedKeys(c.services) {
		sv := c.services[n]
		s.settleLocked(sv)
		if sv.status == StatusInactive ||
			(in.LaunchType != nil && sv.launchType != *in.LaunchType) ||
			(in.SchedulingStrategy != nil && sv.schedulingStrategy != *in.SchedulingStrategy) {
			continue
		}
		arns = append(arns, s.serviceARN(c.name, n))
	}
	got, next, aerr := page(arns, in.NextToken, in.MaxResults, 10)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		ServiceArns []string `json:"serviceArns"`
		NextToken   *string  `json:"nextToken,omitempty"`
	}{got, next}, nil
}

type updateServiceInput struct {
	Cluster            *string `json:"cluster"`
	Service            *string `json:"service"`
	DesiredCount       *int32  `json:"desiredCount"`
	TaskDefinition     *string `json:"taskDefinition"`
	ForceNewDeployment bool    `json:"forceNewDeployment"`
}

// resolveServiceLocked finds the service ref names in the cluster cref
// names (the cluster of an ARN when cref is empty).
func (s *Service) resolveServiceLocked(cref, ref *string) (*service, *awsjson.Error) {
	if ref == nil {
		return nil, protocol.Null("service")
	}
	refCluster, name := serviceRef(*ref)
	if (cref == nil || *cref == "") && refCluster != "" {
		cref = &refCluster
	}
	c, aerr := s.activeClusterLocked(cref)
	if aerr != nil {
		return nil, aerr
	}
	sv := c.services[name]
	if sv == nil || (refCluster != "" && refCluster != c.name) {
		return nil, awsjson.Errorf(codeServiceNotFound, msgServiceNotFound)
	}
	s.settleLocked(sv)
	return sv, nil
}

func (s *Service) updateService(in *updateServiceInput) (any, *awsjson.Error) {
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, awsjson.Errorf(codeInvalidParameter, "desiredCount must be greater than or equal to 0.")
	}
	if in.TaskDefinition != nil {
		if aerr := checkTaskDef(*in.TaskDefinition); aerr != nil {
			return nil, aerr
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, aerr := s.resolveServiceLocked(in.Cluster, in.Service)
	if aerr != nil {
		return nil, aerr
	}
	if f := s.failures[sv.clusterName+"/"+sv.name]; f != nil {
		return nil, f
	}
	if sv.status != StatusActive {
		return nil, awsjson.Errorf(codeServiceNotActive, msgNotActive)
	}
	now := s.now()
	if in.DesiredCount != nil {
		sv.desiredCount = *in.DesiredCount
		sv.deployments[0].desiredCount = *in.DesiredCount
		sv.deployments[0].updated = now
	}
	td := sv.taskDefinition
	if in.TaskDefinition != nil {
		td = s.taskDefARN(*in.TaskDefinition)
	}
	if in.ForceNewDeployment || td != sv.taskDefinition {
		for _, d := range sv.deployments {
			d.status = StatusActive
		}
		d := &deployment{id: newDeploymentID(), status: StatusPrimary, taskDefinition: td, desiredCount: sv.desiredCount,
			rollout: RolloutInProgress, created: now, updated: now, forced: in.ForceNewDeployment}
		sv.deployments = append([]*deployment{d}, sv.deployments...)
		sv.taskDefinition = td
		if in.ForceNewDeployment {
			sv.forced++
		}
	}
	return map[string]any{"service": s.serviceOutLocked(sv, false)}, nil
}

type deleteServiceInput struct {
	Cluster *string `json:"cluster"`
	Service *string `json:"service"`
	Force   bool    `json:"force"`
}

func (s *Service) deleteService(in *deleteServiceInput) (any, *awsjson.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, aerr := s.resolveServiceLocked(in.Cluster, in.Service)
	if aerr != nil {
		return nil, aerr
	}
	if sv.status != StatusActive {
		return nil, awsjson.Errorf(codeServiceNotActive, msgNotActive)
	}
	if sv.desiredCount > 0 && !in.Force {
		return nil, awsjson.Errorf(codeInvalidParameter, "The service cannot be stopped while it is scaled above 0.")
	}
	sv.status, sv.deleted = StatusDraining, s.now()
	sv.desiredCount = 0
	out := s.serviceOutLocked(sv, false)
	return map[string]any{"service": out}, nil
}
