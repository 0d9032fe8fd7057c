package awsemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateVersion tags the state file format.
const stateVersion = 1

type stateFile struct {
	Version int `json:"version"`
	*state
}

// loadState reads a state file; a missing file is an empty state.
func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &state{Secrets: map[string]*secret{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	sf := stateFile{state: &state{}}
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if sf.Version != stateVersion {
		return nil, fmt.Errorf("state file %s has format version %d, want %d", path, sf.Version, stateVersion)
	}
	st := sf.state
	if st.Secrets == nil {
		st.Secrets = map[string]*secret{}
	}
	for _, sec := range st.Secrets {
		if sec.Versions == nil {
			sec.Versions = map[string]*version{}
		}
	}
	return st, nil
}

// persistLocked writes the state file atomically (temp file + rename). It is
// a no-op without Config.StateFile. The caller holds s.mu.
func (s *Server) persistLocked() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, state: s.st}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(s.cfg.StateFile)
	tmp, err := os.CreateTemp(dir, ".awsemu-state-*")
	if err != nil {
		return fmt.Errorf("create temp state file: %w", err)
	}
	name := tmp.Name()
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write temp state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("sync temp state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("close temp state file: %w", err)
	}
	if err := os.Rename(name, s.cfg.StateFile); err != nil {
		os.Remove(name)
		return fmt.Errorf("rename state file: %w", err)
	}
	return nil
}
