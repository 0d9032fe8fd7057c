package awsemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/ecsemu"
	"github.com/dualkey/dualkey/emulator/eventsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/emulator/internal/awsjson"
	"github.com/dualkey/dualkey/emulator/logsemu"
)

// Full is the complete emulator: Secrets Manager, IAM, STS, CloudWatch
// Logs, EventBridge and ECS on one endpoint, with every request's SigV4
// signature verified against the keys IAM knows (the bootstrap key stands
// for the Lambda's own role). A request signed by an inactive, deleted or
// not-yet-propagated key is refused by every service, and each verified
// request records LastUsed for its key. Logs, EventBridge and ECS keep their
// state in memory only.
type Full struct {
	*Server
	IAM    *iamemu.Service
	Logs   *logsemu.Service
	Events *eventsemu.Service
	ECS    *ecsemu.Service

	iamFile  string
	mu       sync.Mutex // guards savedGen and saveErr; serializes saves
	savedGen uint64
	saveErr  error
}

// NewFull builds the complete emulator. iamCfg's bootstrap key defaults to
// DefaultAccessKeyID/DefaultSecretAccessKey, its account and clock to cfg's.
// With cfg.StateFile, IAM state is kept beside it in StateFile + ".iam.json".
// cfg.Verifier, the "iam", "sts", "logs", "events" and "ecs" entries of
// cfg.Services and the /_dualkey/events and /_dualkey/ecs admin paths are
// replaced.
func NewFull(cfg Config, iamCfg iamemu.Config) (*Full, error) {
	return NewFullWith(cfg, iamCfg, ecsemu.Config{})
}

// NewFullWith is NewFull with an ECS configuration (such as how long a
// deployment rolls out); its region, account and clock default to cfg's.
func NewFullWith(cfg Config, iamCfg iamemu.Config, ecsCfg ecsemu.Config) (*Full, error) {
	if iamCfg.BootstrapAccessKeyID == "" {
		iamCfg.BootstrapAccessKeyID = DefaultAccessKeyID
		iamCfg.BootstrapSecretAccessKey = DefaultSecretAccessKey
	}
	if iamCfg.AccountID == "" {
		iamCfg.AccountID = cfg.AccountID
	}
	if iamCfg.Now == nil {
		iamCfg.Now = cfg.Now
	}
	f := &Full{IAM: iamemu.New(iamCfg)}
	if cfg.StateFile != "" {
		f.iamFile = cfg.StateFile + ".iam.json"
		if err := f.load(); err != nil {
			return nil, err
		}
	}
	services := map[string]http.Handler{}
	for k, v := range cfg.Services {
		services[k] = v
	}
	iamHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.iamFile == "" {
			f.IAM.Handler().ServeHTTP(w, r)
			return
		}
		// With a state file, a change is answered only once it is saved.
		rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
		before := f.IAM.Generation()
		f.IAM.Handler().ServeHTTP(rec, r)
		changed := f.IAM.Generation() != before
		f.save()
		if err := f.iamSaveError(); err != nil && changed && rec.code < 300 {
			writeQueryError(w, http.StatusInternalServerError, "ServiceFailure", "The emulator could not save its IAM state file: "+err.Error(), "iam")
			return
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes())
	})
	services[iamemu.ServiceIAM] = iamHandler
	services[iamemu.ServiceSTS] = iamHandler
	region, account, _ := awsjson.Defaults(cfg.Region, cfg.AccountID, nil)
	if ecsCfg.Region == "" {
		ecsCfg.Region = region
	}
	if ecsCfg.AccountID == "" {
		ecsCfg.AccountID = account
	}
	if ecsCfg.Now == nil {
		ecsCfg.Now = cfg.Now
	}
	f.Logs = logsemu.New(logsemu.Config{Region: region, AccountID: account, Now: cfg.Now})
	f.Events = eventsemu.New(eventsemu.Config{Region: region, AccountID: account, Now: cfg.Now})
	f.ECS = ecsemu.New(ecsCfg)
	services[logsemu.SigningName] = f.Logs
	services[eventsemu.SigningName] = f.Events
	services[ecsemu.SigningName] = f.ECS
	cfg.Services = services
	admin := map[string]http.Handler{}
	for k, v := range cfg.Admin {
		admin[k] = v
	}
	admin["/_dualkey/events"] = f.Events.EventsHandler()
	admin["/_dualkey/ecs"] = f.ECS.DeploymentsHandler()
	cfg.Admin = admin
	cfg.Verifier = &awsauth.Verifier{Keys: persistingKeys{KeyStore: f.IAM.Keys(), f: f}, Now: cfg.Now, Regions: []string{region}}
	srv, err := New(cfg)
	if err != nil {
		return nil, err
	}
	f.Server = srv
	srv.health = append(srv.health, f.iamSaveError)
	return f, nil
}

func (f *Full) load() error {
	b, err := os.ReadFile(f.iamFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", f.iamFile, err)
	}
	var st iamemu.State
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("parse %s: %w", f.iamFile, err)
	}
	if err := f.IAM.Restore(st); err != nil {
		return fmt.Errorf("restore %s: %w", f.iamFile, err)
	}
	f.savedGen = f.IAM.Generation()
	return nil
}

// save writes the IAM state when it changed since the last save (compared
// by generation, so a request that changed nothing costs nothing). A failed
// write is retried by the next save and reported by /_dualkey/health.
func (f *Full) save() {
	if f.iamFile == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	gen := f.IAM.Generation()
	if gen == f.savedGen && f.saveErr == nil {
		return
	}
	b, err := json.MarshalIndent(f.IAM.Snapshot(), "", "  ")
	if err == nil {
		err = writeFileAtomic(f.iamFile, b)
	}
	f.saveErr = err
	if err == nil {
		f.savedGen = gen
	}
}

// iamSaveError reports the last failure to write the IAM state file.
func (f *Full) iamSaveError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saveErr != nil {
		return fmt.Errorf("IAM state file %s not saved: %w", f.iamFile, f.saveErr)
	}
	return nil
}

// Close stops the server and saves any IAM change not yet saved.
func (f *Full) Close() error {
	err := f.Server.Close()
	f.save()
	if err != nil {
		return err
	}
	return f.iamSaveError()
}

// persistingKeys saves IAM state after a key was used (LastUsed changed).
type persistingKeys struct {
	awsauth.KeyStore
	f *Full
}

// RecordUse implements awsauth.KeyStore.
func (p persistingKeys) RecordUse(pr awsauth.Principal, at time.Time) {
	p.KeyStore.RecordUse(pr, at)
	p.f.save()
}

// bufferedResponse holds a response until the state it reports is saved.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
