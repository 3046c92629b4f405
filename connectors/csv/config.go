// Package csv is the `type: csv` source: HR exports as CSV or XLSX files,
// read exactly as HR produces them (GBK from Excel on Chinese Windows,
// UTF-16 "Unicode text", BOMs, title rows, quoted newlines, trailing empty
// columns), from a fixed path or the newest complete file of a drop folder,
// with completeness checks (settle time, marker file, minimum record count,
// count trailer or manifest) so that a half-written or truncated file can
// never look like "these people left".
package csv

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/connectors"
)

// DefaultSettle is how long a file must have been left unchanged before it
// is read, unless `settle` says otherwise.
const DefaultSettle = 30 * time.Second

// Config is the `config:` block of a `type: csv` source.
//
//	path: /srv/hr/drop/employees-*.csv   # a file, or a glob: the newest complete match is read
//	format: ""            # "", csv or xlsx; "" chooses by extension (.xlsx/.xlsm → xlsx)
//	encoding: auto        # auto, utf-8, gbk, gb18030, utf-16, utf-16le, utf-16be
//	delimiter: auto       # auto, ",", ";", "\t" (or "tab"), "|"
//	skip_rows: 0          # physical lines (xlsx: rows) above the header, e.g. a title line
//	sheet: ""             # xlsx: sheet name or 1-based index; "" = first sheet
//	lazy_quotes: false    # accept a stray " inside an unquoted field
//	allow_short_rows: false # a CSV row with fewer values than the header is padded, not an error
//	settle: 30s           # a file modified more recently than this is still being written
//	require_marker: false # read a file only when FILE.done, FILE.ok, STEM.done or STEM.ok exists
//	min_records: 0        # fewer records fail the source
//	trailer: '^TOTAL,(\d+)$'     # regexp for the last non-blank line; group 1 = record count
//	manifest: "{path}.count"     # manifest file; {path} {dir} {name} {stem} are replaced
//	manifest_pattern: '(\d+)'    # regexp on the manifest; group 1 = record count
type Config struct {
	Path       string `yaml:"path"`
	Format     string `yaml:"format"`
	Encoding   string `yaml:"encoding"`
	Delimiter  string `yaml:"delimiter"`
	SkipRows   int    `yaml:"skip_rows"`
	Sheet      string `yaml:"sheet"`
	LazyQuotes bool   `yaml:"lazy_quotes"`
	// AllowShortRows pads CSV rows that have fewer values than the header
	// (some exporters drop trailing empty fields). Off by default: a short
	// row is also what a file cut mid-line looks like; use a trailer or
	// manifest with it.
	AllowShortRows  bool           `yaml:"allow_short_rows"`
	Settle          *time.Duration `yaml:"settle"`
	RequireMarker   bool           `yaml:"require_marker"`
	MinRecords      int            `yaml:"min_records"`
	Trailer         string         `yaml:"trailer"`
	Manifest        string         `yaml:"manifest"`
	ManifestPattern string         `yaml:"manifest_pattern"`

	// Now is the clock used for the settle check; nil means time.Now.
	// Tests set it so that they need not wait.
	Now func() time.Time `yaml:"-"`
}

var _ connectors.Config = (*Config)(nil)

// Sentinel errors callers (the engine, tests) can branch on; every returned
// error wraps one of them, or an fs error for a missing path.
var (
	// ErrNotReady: no file is ready to be read (still being written, no
	// marker, or nothing matches the glob).
	ErrNotReady = errors.New("no complete file to read")
	// ErrIncomplete: the file fails a completeness check (truncated,
	// min_records, trailer or manifest count).
	ErrIncomplete = errors.New("file is incomplete")
	// ErrMalformed: the file cannot be parsed (bad quoting, a row with
	// more values than the header, undecodable text).
	ErrMalformed = errors.New("malformed file")
)

const (
	formatCSV  = "csv"
	formatXLSX = "xlsx"
)

var encodings = map[string]bool{
	"auto": true, "utf-8": true, "utf8": true, "gbk": true, "gb18030": true,
	"utf-16": true, "utf-16le": true, "utf-16be": true,
}

// Validate reports every problem of the configuration, each naming its field.
func (c *Config) Validate() error {
	_, err := c.parse()
	return err
}

// parsed holds the options Validate has to parse to check them, kept for
// Open so that it does not parse them again.
type parsed struct {
	delim      rune           // 0: sniff
	trailer    *regexp.Regexp // nil: no trailer
	manifestRE *regexp.Regexp // nil: no manifest
}

// defaultManifestRE reads a manifest when manifest_pattern is not set.
var defaultManifestRE = regexp.MustCompile(`(\d+)`)

// parse validates the configuration (every problem, each naming its field)
// and returns the parsed options.
func (c *Config) parse() (parsed, error) {
	var p parsed
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if strings.TrimSpace(c.Path) == "" {
		bad("path", "required")
	} else if _, err := filepath.Match(c.Path, ""); err != nil {
		bad("path", "bad glob %q: %v", c.Path, err)
	}
	switch strings.ToLower(c.Format) {
	case "", formatCSV, formatXLSX:
	default:
		bad("format", "%q: want csv or xlsx", c.Format)
	}
	if c.Encoding != "" && !encodings[strings.ToLower(c.Encoding)] {
		bad("encoding", "%q: want auto, utf-8, gbk, gb18030, utf-16, utf-16le or utf-16be", c.Encoding)
	}
	var err error
	if p.delim, err = delimiter(c.Delimiter); err != nil {
		bad("delimiter", "%v", err)
	}
	if c.SkipRows < 0 {
		bad("skip_rows", "%d: must not be negative", c.SkipRows)
	}
	if c.Settle != nil && *c.Settle < 0 {
		bad("settle", "%s: must not be negative", *c.Settle)
	}
	if c.MinRecords < 0 {
		bad("min_records", "%d: must not be negative", c.MinRecords)
	}
	if c.Sheet != "" && c.format() != formatXLSX {
		bad("sheet", "only for xlsx files (path %q is read as csv; set format: xlsx)", c.Path)
	}
	if c.Trailer != "" {
		if p.trailer, err = countRegexp(c.Trailer); err != nil {
			bad("trailer", "%v", err)
		}
	}
	if c.ManifestPattern != "" {
		if c.Manifest == "" {
			bad("manifest_pattern", "set without manifest")
		}
		if p.manifestRE, err = countRegexp(c.ManifestPattern); err != nil {
			bad("manifest_pattern", "%v", err)
		}
	} else if c.Manifest != "" {
		p.manifestRE = defaultManifestRE
	}
	return p, errors.Join(errs...)
}

// Open validates the configuration and returns the source.
func (c *Config) Open(name string, log *zap.Logger) (connectors.Source, error) {
	return c.open(name, log)
}

func (c *Config) open(name string, log *zap.Logger) (*Source, error) {
	p, err := c.parse()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Source{name: name, cfg: *c, log: log, delim: p.delim, trailer: p.trailer, manifestRE: p.manifestRE}
	s.settle = DefaultSettle
	if c.Settle != nil {
		s.settle = *c.Settle
	}
	s.now = c.Now
	if s.now == nil {
		s.now = time.Now
	}
	s.encoding = strings.ToLower(c.Encoding)
	if s.encoding == "" {
		s.encoding = "auto"
	}
	return s, nil
}

func (c *Config) format() string {
	if f := strings.ToLower(c.Format); f != "" {
		return f
	}
	switch strings.ToLower(filepath.Ext(c.Path)) {
	case ".xlsx", ".xlsm":
		return formatXLSX
	}
	return formatCSV
}

// delimiter parses the delimiter option: 0 means sniff.
func delimiter(s string) (rune, error) {
	switch s {
	case "", "auto":
		return 0, nil
	case ",", ";", "|", "\t":
		return rune(s[0]), nil
	case `\t`, "tab", "TAB":
		return '\t', nil
	}
	return 0, fmt.Errorf("%q: want auto, \",\", \";\", tab or \"|\"", s)
}

func countRegexp(s string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("bad regexp %q: %w", s, err)
	}
	if re.NumSubexp() < 1 {
		return nil, fmt.Errorf("regexp %q needs a capture group for the record count", s)
	}
	return re, nil
}

// parseCount reads the first capture group of re in s as a count.
func parseCount(re *regexp.Regexp, s string) (int, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(m[1]))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
