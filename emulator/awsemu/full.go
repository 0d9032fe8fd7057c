package awsemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/iamemu"
)

// Full is the complete emulator: Secrets Manager, IAM and STS on one
// endpoint, with every request's SigV4 signature verified against the keys
// IAM knows (the bootstrap key stands for the Lambda's own role). A request
// signed by an inactive, deleted or not-yet-propagated key is refused by
// every service, and each verified request records LastUsed for its key.
type Full struct {
	*Server
	IAM *iamemu.Service

	iamFile string
	mu      sync.Mutex
	saved   []byte
}

// NewFull builds the complete emulator. iamCfg's bootstrap key defaults to
// DefaultAccessKeyID/DefaultSecretAccessKey, its account and clock to cfg's.
// With cfg.StateFile, IAM state is kept beside it in StateFile + ".iam.json".
// cfg.Verifier and the "iam"/"sts" entries of cfg.Services are replaced.
func NewFull(cfg Config, iamCfg iamemu.Config) (*Full, error) {
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
		f.IAM.Handler().ServeHTTP(w, r)
		f.save()
	})
	services[iamemu.ServiceIAM] = iamHandler
	services[iamemu.ServiceSTS] = iamHandler
	cfg.Services = services
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	cfg.Verifier = &awsauth.Verifier{Keys: persistingKeys{KeyStore: f.IAM.Keys(), f: f}, Now: cfg.Now, Regions: []string{region}}
	srv, err := New(cfg)
	if err != nil {
		return nil, err
	}
	f.Server = srv
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
	f.saved = b
	return nil
}

// save writes the IAM state when it changed since the last save.
func (f *Full) save() {
	if f.iamFile == "" {
		return
	}
	b, err := json.MarshalIndent(f.IAM.Snapshot(), "", "  ")
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if string(b) == string(f.saved) {
		return
	}
	tmp := filepath.Join(filepath.Dir(f.iamFile), fmt.Sprintf(".awsemu-iam-%d", time.Now().UnixNano()))
	if os.WriteFile(tmp, b, 0o600) != nil {
		return
	}
	if os.Rename(tmp, f.iamFile) == nil {
		f.saved = b
	} else {
		os.Remove(tmp)
	}
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
