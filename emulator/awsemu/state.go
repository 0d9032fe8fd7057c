package awsemu

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// stateVersion tags the state file format.
const stateVersion = 1

type stateFile struct {
	Version int `json:"version"`
	*state
}

// checkStateDir fails unless the state file can be written: its directory
// must exist and accept new files (the file is replaced by renaming a temp
// file into place), and the path must not be a directory.
func checkStateDir(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("state file %s is a directory: give --state (Config.StateFile) a file path such as %s", path, filepath.Join(path, "state.json"))
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".awsemu-writable-*")
	if err != nil {
		return fmt.Errorf("state file %s cannot be written: creating a file in %s failed: %w; create the directory, make it writable, or choose another --state path", path, dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("state file %s: removing the probe file %s failed: %w", path, name, err)
	}
	return nil
}

// loadState reads a state file; a missing file is an empty state.
func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
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
	for arn, sec := range st.Secrets {
		if sec == nil {
			return nil, fmt.Errorf("state file %s: secret %s is null", path, arn)
		}
		if sec.Versions == nil {
			sec.Versions = map[string]*version{}
		}
	}
	st.reindex()
	return st, nil
}

func errSaveState(err error) *awsjson.Error {
	return &awsjson.Error{Code: codeInternal, Message: "The emulator could not save its state file: " + err.Error(), Status: http.StatusInternalServerError}
}

// Persistence. A mutating operation changes the state in memory under s.mu
// and calls commitLocked, which marks the secret's cached encoding stale.
// Before the operation answers, flush (outside s.mu) re-encodes only the
// stale secrets, assembles the file from the cached encodings and writes it
// atomically. So a change is answered only once it is on disk, readers wait
// only for the re-encoding of what changed, and writers are serialized by
// persistMu. Assembling and writing the file is still proportional to the
// number of secrets, once per mutating request.

// commitMark travels in an operation's context and records that the
// operation changed the state.
type commitMark struct{ committed bool }

type commitKey struct{}

// commitLocked records that the secret arn changed (or was removed) and that
// the operation running under ctx must flush before it answers. The caller
// holds s.mu.
func (s *Server) commitLocked(ctx context.Context, arn string) {
	s.markDirtyLocked(arn)
	if m, ok := ctx.Value(commitKey{}).(*commitMark); ok {
		m.committed = true
	}
}

// markDirtyLocked records that the secret arn changed: it moves to its new
// place in the list orders (a removed secret has already left them) and its
// cached encoding is marked stale. Every change to a secret calls it. The
// caller holds s.mu.
func (s *Server) markDirtyLocked(arn string) {
	if sec := s.st.Secrets[arn]; sec != nil {
		s.st.reorder(sec)
	}
	if s.cfg.StateFile == "" {
		return
	}
	s.dirty[arn] = true
	s.gen++
}

// flush writes the state file if anything changed since it was last written.
// It must be called without s.mu held. A failed write is retried by the next
// flush and reported by PersistError.
func (s *Server) flush() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()

	s.mu.Lock()
	if s.gen == s.writtenGen {
		err := s.persistErr
		s.mu.Unlock()
		return err
	}
	for arn := range s.dirty {
		sec, ok := s.st.Secrets[arn]
		if !ok {
			delete(s.encoded, arn)
			continue
		}
		b, err := json.Marshal(sec)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("encode secret %s: %w", arn, err)
		}
		key, _ := json.Marshal(arn)
		s.encoded[arn] = encodedSecret{key: key, value: b}
	}
	clear(s.dirty)
	parts := make([]encodedSecret, 0, len(s.encoded))
	size := 64
	for _, e := range s.encoded {
		parts = append(parts, e)
		size += len(e.key) + len(e.value) + 2
	}
	seq, gen := s.st.Seq, s.gen
	s.mu.Unlock()

	var buf bytes.Buffer
	buf.Grow(size)
	fmt.Fprintf(&buf, `{"version":%d,"secrets":{`, stateVersion)
	for i, e := range parts {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.key)
		buf.WriteByte(':')
		buf.Write(e.value)
	}
	fmt.Fprintf(&buf, `},"seq":%d}`, seq)
	err := writeFileAtomic(s.cfg.StateFile, buf.Bytes())

	s.mu.Lock()
	defer s.mu.Unlock()
	s.persistErr = err
	if err == nil {
		s.writtenGen = gen
	}
	return err
}

// encodedSecret is one secret's cached JSON member of the state file.
type encodedSecret struct{ key, value []byte }

// PersistError returns the error of the last attempt to write the state
// file, nil when it succeeded or nothing has been written.
func (s *Server) PersistError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.persistErr
}

// writeFileAtomic writes b to path through a synced temp file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".awsemu-state-*")
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
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("rename state file: %w", err)
	}
	return nil
}

// deadlineEntry is a secret scheduled for deletion at when.
type deadlineEntry struct {
	when time.Time
	arn  string
}

// deadlines is a min-heap of scheduled deletions, earliest first. Entries of
// secrets that were restored (or deleted again) stay until they come due and
// are then skipped, so restoring costs nothing.
type deadlines []deadlineEntry

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].when.Before(d[j].when) }
func (d deadlines) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *deadlines) Push(x any)        { *d = append(*d, x.(deadlineEntry)) }
func (d *deadlines) Pop() any {
	old := *d
	e := old[len(old)-1]
	*d = old[:len(old)-1]
	return e
}

// add schedules arn for deletion at when.
func (d *deadlines) add(when time.Time, arn string) {
	heap.Push(d, deadlineEntry{when: when, arn: arn})
}

// popDue removes and returns the earliest entry if it is due at now.
func (d *deadlines) popDue(now time.Time) (deadlineEntry, bool) {
	if len(*d) == 0 || now.Before((*d)[0].when) {
		return deadlineEntry{}, false
	}
	return heap.Pop(d).(deadlineEntry), true
}
