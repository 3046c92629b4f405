package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Export is the portable form of the shadow: what orgsync owns and how it
// last applied it. It is what `orgsync state export` writes, what the
// automatic snapshots beside the store hold, and what `state import` reads
// back after a lost store. The journal is not in it: history is not needed
// to own, and it would make snapshots grow without bound.
type Export struct {
	Format      string    `json:"format"` // ExportFormat
	Schema      int       `json:"schema"`
	ExportedAt  time.Time `json:"exported_at"`
	Members     []Member  `json:"members"`
	Departments []Dept    `json:"departments"`
}

// ExportFormat names the export's format and version.
const ExportFormat = "orgsync-shadow/1"

// ErrNotEmpty is returned by Import into a store that already owns
// something, unless replacing is asked for.
var ErrNotEmpty = errors.New("the state store already holds a shadow")

// Export returns the whole shadow, sorted so equal shadows export equally.
func (s *Store) Export(ctx context.Context) (*Export, error) {
	sh, err := s.LoadShadow(ctx)
	if err != nil {
		return nil, err
	}
	ex := &Export{Format: ExportFormat, Schema: SchemaVersion, ExportedAt: s.now().UTC()}
	for _, m := range sh.Members {
		ex.Members = append(ex.Members, *m)
	}
	for _, d := range sh.Departments {
		ex.Departments = append(ex.Departments, *d)
	}
	slices.SortFunc(ex.Members, func(a, b Member) int { return strings.Compare(a.Person.UserID, b.Person.UserID) })
	slices.SortFunc(ex.Departments, func(a, b Dept) int { return strings.Compare(a.Department.Key, b.Department.Key) })
	return ex, nil
}

// WriteExport writes ex as JSON.
func WriteExport(w io.Writer, ex *Export) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(ex)
}

// ReadExport reads and checks an export.
func ReadExport(r io.Reader) (*Export, error) {
	var ex Export
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ex); err != nil {
		return nil, fmt.Errorf("read shadow export: %w", err)
	}
	if ex.Format != ExportFormat {
		return nil, fmt.Errorf("read shadow export: format %q, want %q", ex.Format, ExportFormat)
	}
	for i, m := range ex.Members {
		if m.Person.UserID == "" {
			return nil, fmt.Errorf("read shadow export: member %d has no userid", i)
		}
	}
	for i, d := range ex.Departments {
		if d.Department.Key == "" || d.Department.ID <= 0 {
			return nil, fmt.Errorf("read shadow export: department %d has no key or id", i)
		}
	}
	return &ex, nil
}

// Import loads an export into the store in one transaction. Into a store
// that already owns something it refuses with ErrNotEmpty unless replace
// is set, which drops the current shadow first.
func (s *Store) Import(ctx context.Context, ex *Export, replace bool) error {
	sh, err := s.LoadShadow(ctx)
	if err != nil {
		return err
	}
	if n := len(sh.Members) + len(sh.Departments); n > 0 && !replace {
		return fmt.Errorf("%w (%d members, %d departments): pass --replace to overwrite it", ErrNotEmpty, len(sh.Members), len(sh.Departments))
	}
	var muts []Mutation
	for k := range sh.Members {
		muts = append(muts, Mutation{DeleteMember: sh.Members[k].Person.UserID})
	}
	for k := range sh.Departments {
		muts = append(muts, Mutation{DeleteDept: k})
	}
	for i := range ex.Members {
		muts = append(muts, Mutation{PutMember: &ex.Members[i]})
	}
	for i := range ex.Departments {
		muts = append(muts, Mutation{PutDept: &ex.Departments[i]})
	}
	return s.ApplyAll(ctx, muts)
}

// SnapshotDir is where automatic snapshots of the shadow are kept: beside
// the store, so a damaged or deleted state file can be rebuilt. A
// PostgreSQL store has none ("") and takes no snapshots: it is backed up
// with its database.
func (s *Store) SnapshotDir() string {
	if s.path == "" {
		return ""
	}
	return s.path + ".snapshots"
}

// Snapshot writes the shadow to SnapshotDir as shadow-<run>.json (through a
// temporary file, so a crash never leaves half a snapshot) and keeps the
// newest keep snapshots. On a PostgreSQL store it writes nothing and
// returns "".
func (s *Store) Snapshot(ctx context.Context, runID int64, keep int) (string, error) {
	if s.path == "" {
		return "", nil
	}
	ex, err := s.Export(ctx)
	if err != nil {
		return "", err
	}
	dir := s.SnapshotDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("snapshot directory: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("shadow-%08d.json", runID))
	tmp, err := os.CreateTemp(dir, ".shadow-*.tmp")
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := WriteExport(tmp, ex); err != nil {
		tmp.Close()
		return "", fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "shadow-*.json"))
	slices.Sort(old)
	for len(old) > keep {
		_ = os.Remove(old[0])
		old = old[1:]
	}
	return path, nil
}

// LatestSnapshot returns the newest snapshot beside the store at path
// ("" if there is none). It needs no open store: it is what a lost store
// is rebuilt from.
func LatestSnapshot(path string) string {
	if path == "" {
		return "" // a PostgreSQL store: no file, no snapshots beside it
	}
	all, _ := filepath.Glob(filepath.Join(path+".snapshots", "shadow-*.json"))
	if len(all) == 0 {
		return ""
	}
	slices.Sort(all)
	return all[len(all)-1]
}
