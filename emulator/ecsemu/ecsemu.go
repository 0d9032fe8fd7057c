// Package ecsemu emulates the Amazon ECS calls dualkey uses to refresh the
// consumers of a rotated credential — UpdateService with forceNewDeployment
// and DescribeServices — plus the minimal CreateCluster, DescribeClusters,
// ListClusters, DeleteCluster, CreateService, ListServices and DeleteService
// that tests need to set things up.
//
// A Service speaks the real AWS JSON 1.1 protocol (POST /, X-Amz-Target:
// AmazonEC2ContainerServiceV20141113.<Operation>), so the unmodified
// aws-sdk-go-v2 ecs client and `aws ecs ...` work against it. It does not
// verify signatures: mount it behind the dualkey AWS emulator, which verifies
// SigV4 and routes requests whose credential scope names the "ecs" service
// here:
//
//	ecs := ecsemu.New(ecsemu.Config{})
//	srv, _ := awsemu.New(awsemu.Config{Services: map[string]http.Handler{ecsemu.SigningName: ecs}})
//
// Deployments follow ECS's bookkeeping: a forced new deployment (or a new
// task definition) adds a PRIMARY deployment with a new ecs-svc/ id and turns
// the previous PRIMARY into ACTIVE; once the rollout completes on the
// emulator's clock (Config.RolloutDuration) the PRIMARY is COMPLETED and the
// ACTIVE ones are gone. No tasks run: running counts are bookkeeping.
// ForcedDeployments and Deployments let tests read what happened, and
// FailUpdates makes UpdateService fail for one service so that alerting paths
// can be tested.
package ecsemu

import (
	"crypto/rand"
	"encoding/json"
	"math/big"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Identity of the service on the wire.
const (
	// SigningName is the SigV4 credential-scope service name of Amazon ECS:
	// the key under which awsemu.Config.Services mounts a Service.
	SigningName = "ecs"
	// TargetPrefix is the X-Amz-Target prefix of every operation.
	TargetPrefix = "AmazonEC2ContainerServiceV20141113"
	// DefaultCluster is the cluster used when a request names none.
	DefaultCluster = "default"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultRegion          = awsjson.DefaultRegion
	DefaultAccountID       = awsjson.DefaultAccountID
	DefaultRolloutDuration = time.Minute
)

// Deployment and service states, as ECS spells them.
const (
	StatusPrimary  = "PRIMARY"
	StatusActive   = "ACTIVE"
	StatusDraining = "DRAINING"
	StatusInactive = "INACTIVE"

	RolloutInProgress = "IN_PROGRESS"
	RolloutCompleted  = "COMPLETED"
)

// Config configures a Service. The zero value is usable.
type Config struct {
	// Region and AccountID appear in ARNs; DefaultRegion and DefaultAccountID
	// when empty.
	Region, AccountID string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RolloutDuration is how long a new deployment stays IN_PROGRESS, with
	// the previous PRIMARY still ACTIVE beside it, and how long a deleted
	// service stays DRAINING, measured on Now. DefaultRolloutDuration when
	// zero; a negative value completes rollouts at once.
	RolloutDuration time.Duration
}

// Deployment is a service deployment as DescribeServices reports it.
type Deployment struct {
	ID             string
	Status         string // StatusPrimary or StatusActive
	TaskDefinition string
	DesiredCount   int32
	RolloutState   string // RolloutInProgress or RolloutCompleted
	CreatedAt      time.Time
	// Forced is true for a deployment UpdateService started with
	// forceNewDeployment.
	Forced bool
}

// Service is an in-memory Amazon ECS control plane. It is an http.Handler for
// requests whose signature a front end (awsemu) has already verified, and
// safe for concurrent use.
type Service struct {
	region, account string
	now             func() time.Time
	rollout         time.Duration

	mu       sync.Mutex
	clusters map[string]*cluster
	failures map[string]*awsjson.Error // cluster + "/" + service → UpdateService error

	calls awsjson.Calls
}

type cluster struct {
	name     string
	status   string
	tags     []tag
	services map[string]*service
}

type service struct {
	name               string
	clusterName        string
	status             string
	taskDefinition     string
	desiredCount       int32
	launchType         string
	schedulingStrategy string
	created            time.Time
	deleted            time.Time
	clientToken        string
	tags               []tag
	deployments        []*deployment // PRIMARY first
	events             []serviceEvent
	forced             int
}

type deployment struct {
	id             string
	status         string
	taskDefinition string
	desiredCount   int32
	rollout        string
	created        time.Time
	updated        time.Time
	forced         bool
}

type serviceEvent struct {
	id      string
	created time.Time
	message string
}

type tag struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

var _ http.Handler = (*Service)(nil)

// New returns a Service without clusters.
func New(cfg Config) *Service {
	s := &Service{rollout: cfg.RolloutDuration, clusters: map[string]*cluster{}, failures: map[string]*awsjson.Error{}}
	s.region, s.account, s.now = awsjson.Defaults(cfg.Region, cfg.AccountID, cfg.Now)
	if s.rollout == 0 {
		s.rollout = DefaultRolloutDuration
	}
	return s
}

var operations = map[string]awsjson.Handler[*Service]{
	"CreateCluster":    awsjson.Op((*Service).createCluster),
	"DescribeClusters": awsjson.Op((*Service).describeClusters),
	"ListClusters":     awsjson.Op((*Service).listClusters),
	"DeleteCluster":    awsjson.Op((*Service).deleteCluster),
	"CreateService":    awsjson.Op((*Service).createService),
	"DescribeServices": awsjson.Op((*Service).describeServices),
	"ListServices":     awsjson.Op((*Service).listServices),
	"UpdateService":    awsjson.Op((*Service).updateService),
	"DeleteService":    awsjson.Op((*Service).deleteService),
}

// ServeHTTP implements http.Handler for verified Amazon ECS requests.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	awsjson.Serve(protocol, w, r, operations, s, &s.calls)
}

// Calls returns how many times each operation was called (successfully or
// not) since New.
func (s *Service) Calls() map[string]int { return s.calls.Snapshot() }

// AddService creates the ACTIVE cluster clusterName when needed and an
// ACTIVE service in it with one completed deployment of taskDefinition (a
// family:revision or an ARN), replacing any service of that name. It is a
// test fixture for code that only updates services.
func (s *Service) AddService(clusterName, serviceName, taskDefinition string, desiredCount int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[clusterName]
	if c == nil || c.status != StatusActive {
		c = &cluster{name: clusterName, status: StatusActive, services: map[string]*service{}}
		s.clusters[clusterName] = c
	}
	now := s.now()
	td := s.taskDefARN(taskDefinition)
	sv := &service{name: serviceName, clusterName: clusterName, status: StatusActive, taskDefinition: td,
		desiredCount: desiredCount, launchType: "FARGATE", schedulingStrategy: "REPLICA", created: now}
	sv.deployments = []*deployment{{id: newDeploymentID(), status: StatusPrimary, taskDefinition: td, desiredCount: desiredCount,
		rollout: RolloutCompleted, created: now, updated: now}}
	c.services[serviceName] = sv
}

// ForcedDeployments returns how many deployments UpdateService with
// forceNewDeployment=true started for the service (0 when it does not exist).
func (s *Service) ForcedDeployments(clusterName, serviceName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.serviceLocked(clusterName, serviceName); sv != nil {
		return sv.forced
	}
	return 0
}

// Deployments returns the service's current deployments, PRIMARY first, as
// DescribeServices would report them now; nil when the service does not
// exist.
func (s *Service) Deployments(clusterName, serviceName string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.serviceLocked(clusterName, serviceName)
	if sv == nil {
		return nil
	}
	s.settleLocked(sv)
	out := make([]Deployment, 0, len(sv.deployments))
	for _, d := range sv.deployments {
		out = append(out, Deployment{ID: d.id, Status: d.status, TaskDefinition: d.taskDefinition, DesiredCount: d.desiredCount,
			RolloutState: d.rollout, CreatedAt: d.created, Forced: d.forced})
	}
	return out
}

// FailUpdates makes every UpdateService call for the service fail with the
// given AWS error code and message (HTTP 400) and no change, as when the
// caller lacks ecs:UpdateService ("AccessDeniedException"). An empty code
// clears the failure.
func (s *Service) FailUpdates(clusterName, serviceName, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := clusterName + "/" + serviceName
	if code == "" {
		delete(s.failures, k)
		return
	}
	s.failures[k] = &awsjson.Error{Code: code, Message: message, Status: http.StatusBadRequest}
}

func (s *Service) serviceLocked(clusterName, serviceName string) *service {
	c := s.clusters[clusterName]
	if c == nil {
		return nil
	}
	return c.services[serviceName]
}

// settleLocked advances sv's rollout and draining on the clock.
func (s *Service) settleLocked(sv *service) {
	now := s.now()
	if sv.status == StatusDraining && !now.Before(sv.deleted.Add(max(s.rollout, 0))) {
		sv.status = StatusInactive
	}
	if len(sv.deployments) == 0 {
		return
	}
	p := sv.deployments[0]
	if p.rollout != RolloutInProgress || now.Before(p.created.Add(max(s.rollout, 0))) {
		return
	}
	done := p.created.Add(max(s.rollout, 0))
	p.rollout, p.updated = RolloutCompleted, done
	sv.deployments = sv.deployments[:1]
	sv.addEvent(done, "(service "+sv.name+") (deployment "+p.id+") deployment completed.")
	sv.addEvent(done, "(service "+sv.name+") has reached a steady state.")
}

// maxEvents is how many service events ECS keeps.
const maxEvents = 100

func (sv *service) addEvent(at time.Time, msg string) {
	sv.events = append([]serviceEvent{{id: awsjson.UUID(), created: at, message: msg}}, sv.events...)
	if len(sv.events) > maxEvents {
		sv.events = sv.events[:maxEvents]
	}
}

// newDeploymentID returns an id in ECS's format: ecs-svc/ and 19 digits.
func newDeploymentID() string {
	n, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(19), nil))
	if err != nil {
		n = big.NewInt(time.Now().UnixNano())
	}
	d := n.String()
	for len(d) < 19 {
		d = "0" + d
	}
	return "ecs-svc/" + d
}

func (s *Service) clusterARN(name string) string {
	return "arn:aws:ecs:" + s.region + ":" + s.account + ":cluster/" + name
}

func (s *Service) serviceARN(clusterName, name string) string {
	return "arn:aws:ecs:" + s.region + ":" + s.account + ":service/" + clusterName + "/" + name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DeploymentsHandler serves every service's deployments as JSON for tools
// outside Go (mount it on an unauthenticated admin path such as
// /_dualkey/ecs): GET returns {"CLUSTER/SERVICE": {"status":...,
// "forcedDeployments":N,"deployments":[{"id":...,"status":...,
// "rolloutState":...,"taskDefinition":...,"forced":...}, ...]}, ...}.
func (s *Service) DeploymentsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		type dep struct {
			ID             string    `json:"id"`
			Status         string    `json:"status"`
			RolloutState   string    `json:"rolloutState"`
			TaskDefinition string    `json:"taskDefinition"`
			DesiredCount   int32     `json:"desiredCount"`
			CreatedAt      time.Time `json:"createdAt"`
			Forced         bool      `json:"forced"`
		}
		type svc struct {
			Status            string `json:"status"`
			ForcedDeployments int    `json:"forcedDeployments"`
			Deployments       []dep  `json:"deployments"`
		}
		out := map[string]svc{}
		s.mu.Lock()
		for _, c := range s.clusters {
			for _, sv := range c.services {
				s.settleLocked(sv)
				o := svc{Status: sv.status, ForcedDeployments: sv.forced, Deployments: []dep{}}
				for _, d := range sv.deployments {
					o.Deployments = append(o.Deployments, dep{d.id, d.status, d.rollout, d.taskDefinition, d.desiredCount, d.created.UTC(), d.forced})
				}
				out[c.name+"/"+sv.name] = o
			}
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}
