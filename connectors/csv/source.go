package csv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/connectors"
)

// Source reads one configured CSV/XLSX export. Create it with Config.Open.
type Source struct {
	name       string
	cfg        Config
	log        *zap.Logger
	settle     time.Duration
	now        func() time.Time
	delim      rune
	encoding   string
	trailer    *regexp.Regexp
	manifestRE *regexp.Regexp
}

var _ connectors.Source = (*Source)(nil)

// markerSuffixes are the "file is complete" markers an exporter may write
// next to FILE: FILE.done, FILE.ok, or the same with FILE's extension
// replaced.
var markerSuffixes = []string{".done", ".ok"}

// List reads the newest complete file and returns every record of it.
//
// It fails (no batch) when no file is ready, when the file is malformed or
// does not decode (see decodeText), and when it fails a completeness check
// (cut inside a character or quoted field, min_records, trailer or manifest
// count, changed while being read): an export that cannot be trusted must
// hold every disable and delete of the run.
//
// A CSV file whose last line has no line terminator though every other line
// has one is the sign of a file cut inside its last line, which may still
// parse (the cut row keeping all its columns, its last value cut short).
// That is a suspicion, not proof (a few exporters never end the last line),
// so the batch is returned marked incomplete, naming the line, without the
// record that ends on that line: downstream the other records' creates and
// updates go ahead, while disables and deletes, the left-out member's
// among them, are held. A trailer whose count matches vouches for the
// records before it, so an unterminated trailer line only warns; a manifest
// or min_records does not (they count the cut record all the same).
//
// The batch records the encoding decoded and the header names (Encoding,
// Columns), so that a source that changed shape can be noticed.
// Local reports that the source reads a file on this machine.
func (s *Source) Local() bool { return true }

func (s *Source) List(ctx context.Context) (*connectors.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, warnings, err := s.pick()
	if err != nil {
		return nil, err
	}
	b, err := s.read(ctx, path)
	if err != nil {
		return nil, err
	}
	b.Warnings = append(warnings, b.Warnings...)
	return b, nil
}

// pick chooses the file to read: the path itself, or the newest match of the
// glob that has settled and (with require_marker) has its marker. Newer files
// that are not ready are reported as warnings.
func (s *Source) pick() (string, []string, error) {
	p := s.cfg.Path
	if !hasMeta(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", nil, fmt.Errorf("stat %s: %w", p, err)
		}
		if fi.IsDir() {
			return "", nil, fmt.Errorf("%s: is a directory (want a file or a glob)", p)
		}
		if why := s.notReady(p, fi); why != "" {
			return "", nil, fmt.Errorf("%w: %s: %s", ErrNotReady, p, why)
		}
		return p, nil, nil
	}
	matches, err := filepath.Glob(p)
	if err != nil {
		return "", nil, fmt.Errorf("glob %s: %w", p, err)
	}
	type cand struct {
		path string
		fi   fs.FileInfo
	}
	var cands []cand
	for _, m := range matches {
		if isMarker(m) {
			continue
		}
		fi, err := os.Stat(m)
		if err != nil || fi.IsDir() {
			continue
		}
		cands = append(cands, cand{m, fi})
	}
	if s.cfg.Manifest != "" {
		// A glob like /drop/* also matches the manifests of the exports.
		manifests := map[string]bool{}
		for _, c := range cands {
			manifests[filepath.Clean(expandManifest(s.cfg.Manifest, c.path))] = true
		}
		kept := cands[:0]
		for _, c := range cands {
			if !manifests[filepath.Clean(c.path)] {
				kept = append(kept, c)
			}
		}
		cands = kept
	}
	if len(cands) == 0 {
		return "", nil, fmt.Errorf("%w: no file matches %s: %w", ErrNotReady, p, fs.ErrNotExist)
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].fi.ModTime(), cands[j].fi.ModTime()
		if !a.Equal(b) {
			return a.After(b)
		}
		return cands[i].path > cands[j].path
	})
	var skipped []string
	for _, c := range cands {
		why := s.notReady(c.path, c.fi)
		if why == "" {
			var warnings []string
			for _, sk := range skipped {
				warnings = append(warnings, "newer file not read: "+sk)
			}
			return c.path, warnings, nil
		}
		skipped = append(skipped, c.path+": "+why)
	}
	return "", nil, fmt.Errorf("%w: %s matches no complete file: %s", ErrNotReady, p, strings.Join(skipped, "; "))
}

// notReady says why a file must not be read yet, or "".
func (s *Source) notReady(path string, fi fs.FileInfo) string {
	if age := s.now().Sub(fi.ModTime()); age < s.settle {
		return fmt.Sprintf("modified %s ago, less than settle %s: still being written?", age.Round(time.Millisecond), s.settle)
	}
	if s.cfg.RequireMarker && markerOf(path) == "" {
		return fmt.Sprintf("no marker file (%s)", strings.Join(markerNames(path), ", "))
	}
	return ""
}

func (s *Source) read(ctx context.Context, path string) (*connectors.Batch, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	after, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) || int64(len(data)) != after.Size() {
		return nil, fmt.Errorf("%w: %s changed while being read (size %d → %d)", ErrIncomplete, path, before.Size(), after.Size())
	}

	t := &table{source: s.name, file: filepath.Base(path), pad: s.cfg.AllowShortRows}
	var trailerCount int
	encoding := ""
	var cutLine int   // the unterminated last line of a CSV file; 0: none
	var cutWhy string // what it lacks
	if s.cfg.format() == formatXLSX {
		// A cut workbook is a broken zip, which parseXLSX fails.
		trailerCount, err = parseXLSX(ctx, t, data, s.cfg.Sheet, s.cfg.SkipRows, s.trailer)
	} else {
		var text []byte
		text, encoding, err = decodeText(data, s.encoding, t.file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		cutLine, cutWhy = unterminatedLastLine(text)
		trailerCount, err = parseCSV(ctx, t, text, s.cfg.SkipRows, s.delim, s.cfg.LazyQuotes, s.trailer)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	t.finish()
	n := len(t.records)
	if trailerCount >= 0 && trailerCount != n {
		return nil, fmt.Errorf("%w: %s: trailer says %d records, the file has %d", ErrIncomplete, path, trailerCount, n)
	}
	if s.cfg.Manifest != "" {
		if err := s.checkManifest(path, n); err != nil {
			return nil, err
		}
	}
	if n < s.cfg.MinRecords {
		return nil, fmt.Errorf("%w: %s: %d records, fewer than min_records %d", ErrIncomplete, path, n, s.cfg.MinRecords)
	}
	b := &connectors.Batch{
		Source:   s.name,
		Records:  t.records,
		Complete: true,
		Warnings: t.warnings,
		Location: path,
		Encoding: encoding,
		Columns:  slices.Clone(t.header),
	}
	switch {
	case cutLine == 0:
	case s.trailer != nil:
		b.Warnings = append(b.Warnings, fmt.Sprintf("%s:%d: the last line has no line terminator; the trailer's record count vouches for the records",
			t.file, cutLine))
	default:
		b.Complete = false
		b.Incomplete = fmt.Sprintf("%s:%d: the last line %s: the file looks truncated", t.file, cutLine, cutWhy)
		if t.lastEnd == cutLine && len(b.Records) > 0 {
			// Its last value may be cut short (a name, a manager's id): left
			// out, its member is absent, and absence in an incomplete batch
			// only holds a disable.
			last := b.Records[len(b.Records)-1]
			b.Records = b.Records[:len(b.Records)-1]
			b.Incomplete += fmt.Sprintf("; the record ending there (%s) is left out", last.Origin.Locator)
		}
	}
	s.log.Debug("read hr export", zap.String("path", path), zap.String("encoding", encoding),
		zap.Int("records", n), zap.Int("blank_rows", t.blank), zap.Bool("complete", b.Complete))
	return b, nil
}

func (s *Source) checkManifest(path string, n int) error {
	mp := expandManifest(s.cfg.Manifest, path)
	b, err := os.ReadFile(mp)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s: manifest %s is missing: %w", ErrIncomplete, path, mp, err)
		}
		return fmt.Errorf("read manifest %s: %w", mp, err)
	}
	want, ok := parseCount(s.manifestRE, string(b))
	if !ok {
		return fmt.Errorf("%w: %s: manifest %s has no record count matching %q", ErrIncomplete, path, mp, s.manifestRE)
	}
	if want != n {
		return fmt.Errorf("%w: %s: manifest %s says %d records, the file has %d", ErrIncomplete, path, mp, want, n)
	}
	return nil
}

// expandManifest fills {path} (the data file), {dir}, {name} (base name) and
// {stem} (base name without extension) into a manifest path template; a
// relative result is relative to the data file's directory.
func expandManifest(tmpl, path string) string {
	name := filepath.Base(path)
	r := strings.NewReplacer("{path}", path, "{dir}", filepath.Dir(path), "{name}", name,
		"{stem}", strings.TrimSuffix(name, filepath.Ext(name)))
	m := r.Replace(tmpl)
	if !filepath.IsAbs(m) && !strings.Contains(tmpl, "{path}") && !strings.Contains(tmpl, "{dir}") {
		m = filepath.Join(filepath.Dir(path), m)
	}
	return m
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[`) }

func isMarker(p string) bool {
	for _, s := range markerSuffixes {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

func markerNames(path string) []string {
	stem := strings.TrimSuffix(path, filepath.Ext(path))
	var out []string
	for _, s := range markerSuffixes {
		out = append(out, filepath.Base(path)+s, filepath.Base(stem)+s)
	}
	return out
}

func markerOf(path string) string {
	stem := strings.TrimSuffix(path, filepath.Ext(path))
	for _, s := range markerSuffixes {
		for _, m := range []string{path + s, stem + s} {
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				return m
			}
		}
	}
	return ""
}

// TableReader reads the small files mapping needs (department and lookup
// tables) as CSV/XLSX sources: no settle wait (they are read as they are),
// and all or nothing: an incomplete file (a lost last row) or a row that
// can't be read is an error, since it would silently drop a department or
// a lookup value.
type TableReader struct{}

// ReadTable reads path as the source name.
func (TableReader) ReadTable(ctx context.Context, name, path, encoding string) (*connectors.Batch, error) {
	var settle time.Duration
	src, err := (&Config{Path: path, Encoding: encoding, Settle: &settle}).Open(name, nil)
	if err != nil {
		return nil, err
	}
	b, err := src.List(ctx)
	if err != nil {
		return nil, err
	}
	if !b.Complete {
		return nil, fmt.Errorf("%s: %s", path, b.Incomplete)
	}
	for _, r := range b.Records {
		if r.Problem != "" {
			return nil, fmt.Errorf("%s: %s", r.Origin.Locator, r.Problem)
		}
	}
	return b, nil
}
