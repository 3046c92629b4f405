// Package config loads orgsync's YAML configuration: strict (unknown keys are
// errors), with defaults, and validated so that every problem is reported at
// once with its line, the way alertmanager's config does.
//
// Source and mapping blocks are kept as yaml.Node here and decoded by their
// own packages (connectors registry, mapping) so that each plugin owns its
// config type; their problems are added to the same report by the caller.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "720h", "30s" or "30d" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if s == "" || s == "0" {
		*d = 0
		return nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n float64
		if _, err := fmt.Sscanf(days, "%g", &n); err == nil {
			*d = Duration(time.Duration(n * 24 * float64(time.Hour)))
			return nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		// A TypeError lets decoding go on, so every other problem is found too.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (like 30s, 15m, 720h or 30d)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// File is the whole configuration file.
type File struct {
	Sources  []SourceSpec `yaml:"sources"`
	Mapping  yaml.Node    `yaml:"mapping"`
	Target   TargetSpec   `yaml:"target"`
	Policy   PolicySpec   `yaml:"policy"`
	State    StateSpec    `yaml:"state"`
	Schedule yaml.Node    `yaml:"schedule"` // decoded by the daemon (scheduler package)
	Server   yaml.Node    `yaml:"server"`
	Log      yaml.Node    `yaml:"log"`
	Notify   yaml.Node    `yaml:"notify"`
	// Join, when set, joins several sources into one record per person of
	// the primary source (see JoinSpec).
	Join *JoinSpec `yaml:"join"`
	// HA is the `ha:` block: one active daemon among several sharing a
	// PostgreSQL state store.
	HA HASpec `yaml:"ha"`

	// Path is the file it was loaded from; relative paths in the config
	// are resolved against its directory.
	Path string `yaml:"-"`

	root       *yaml.Node // the parsed document, for locating values
	name       string     // the file's base name, for messages
	refProblem []string   // unset ${VAR}s met by NormalizeSecretRef
}

// SourceSpec is one entry of `sources:`.
type SourceSpec struct {
	Name   string    `yaml:"name"`
	Type   string    `yaml:"type"`
	Config yaml.Node `yaml:"config"`
	Line   int       `yaml:"-"`
}

// TargetSpec is the `target:` block.
type TargetSpec struct {
	Type   string    `yaml:"type"`
	Config WeComSpec `yaml:"config"`
}

// WeComSpec is the WeCom target's configuration.
type WeComSpec struct {
	BaseURL          string   `yaml:"base_url"`
	CorpID           string   `yaml:"corp_id"`
	Secret           Secret   `yaml:"secret"`
	SecretFile       string   `yaml:"secret_file"`
	RootDepartmentID int      `yaml:"root_department_id"`
	RatePerMinute    int      `yaml:"rate_per_minute"`
	Concurrency      int      `yaml:"concurrency"`
	Timeout          Duration `yaml:"timeout"`
	// FullReads lets orgsync read member and department details
	// (user/list, department/list) to adopt by name; WeCom refuses them to
	// a Contacts-Sync secret from a new IP since 2022 (48009).
	FullReads bool `yaml:"full_reads"`
	// BatchThreshold: a run with more member creates, updates and moves
	// than this makes them through WeCom's import jobs (a handful of
	// calls); 0 = the default (2000), -1 = never.
	BatchThreshold int `yaml:"batch_threshold"`
	// ImportLeaderColumn puts direct leaders in the import file's 直属上级
	// column instead of one user/update each after the job. WeCom's
	// template does not document that column: turn it on only once a test
	// import showed your corp takes it.
	ImportLeaderColumn bool `yaml:"import_leader_column"`
	// JobTimeout bounds the wait for one import job (default 5 minutes
	// plus 20 ms a row); a job still running then is settled by the next run.
	JobTimeout Duration `yaml:"job_timeout"`
}

// PolicySpec is the `policy:` block.
type PolicySpec struct {
	Mode        string   `yaml:"mode"`
	Leavers     string   `yaml:"leavers"`
	DeleteAfter Duration `yaml:"delete_after"`
	Adopt       []string `yaml:"adopt"`
	Protected   []string `yaml:"protected"`
	MaxDisables string   `yaml:"max_disables"`
	MaxDeletes  string   `yaml:"max_deletes"`
	Invite      bool     `yaml:"invite"`

	// Change-volume thresholds for every other kind of change ("20",
	// "5%", or "5% or 20": the larger of the two). Empty = plan's default.
	MaxMoves             string `yaml:"max_moves"`              // members moved to other departments
	MaxUpdates           string `yaml:"max_updates"`            // members whose one field changes (per field)
	MaxClears            string `yaml:"max_clears"`             // members whose one field goes from set to empty (per field)
	MaxDepartmentRenames string `yaml:"max_department_renames"` // of managed departments
	MaxDepartmentMoves   string `yaml:"max_department_moves"`
	MaxDepartmentDeletes string `yaml:"max_department_deletes"`
	// Rolling 24-hour budgets, counted across runs.
	MaxDisablesPerDay string `yaml:"max_disables_per_day"`
	MaxDeletesPerDay  string `yaml:"max_deletes_per_day"`
	// MaxShrink: a source that yields fewer records than at its last good
	// read by more than this is treated as broken (disables held).
	MaxShrink string `yaml:"max_shrink"`
	// Sentinels are userids (or source keys) that must be in the sources;
	// one missing makes the run a source outage.
	Sentinels []string `yaml:"sentinels"`
}

// StateSpec is the `state:` block: where the state store lives.
//
//	state: {path: /var/lib/orgsync/state.db}        # SQLite, the default
//	state: {driver: postgres, dsn_file: /etc/orgsync/pg-dsn}
//	state: {driver: postgres, dsn: ${ORGSYNC_PG_DSN}}
//
// A PostgreSQL DSN (postgres://user:password@host:port/db or key=value
// pairs) holds a password, so it is a Secret; messages name the database
// by host:port/database only. Shadow snapshots are kept beside a SQLite
// file only: a PostgreSQL store is backed up with its database.
type StateSpec struct {
	Driver  string `yaml:"driver"` // sqlite (default) or postgres
	Path    string `yaml:"path"`   // sqlite: the state file
	DSN     Secret `yaml:"dsn"`    // postgres: the connection string, or ${ENV_VAR}
	DSNFile string `yaml:"dsn_file"`
}

// HASpec is the `ha:` block (PostgreSQL state only):
//
//	ha:
//	  enabled: true
//	  lease: 15s                   # a leader unheard of this long is replaced
//	  name: ${HOSTNAME}            # this daemon in status, logs and the lease (default host:pid)
//	  advertise_url: http://10.0.0.5:8080   # where standbys send POST /v1/sync
//
// Daemons sharing one database elect a leader through a lease row in it;
// only the leader syncs. Every write to the store checks the leader's
// epoch in the same transaction, so a paused or partitioned leader that
// lost its lease cannot write when it wakes.
type HASpec struct {
	Enabled      bool     `yaml:"enabled"`
	Lease        Duration `yaml:"lease"`
	Name         string   `yaml:"name"`
	AdvertiseURL string   `yaml:"advertise_url"`
}

// DefaultLease is how long a leader holds its lease unrenewed; it renews
// every third of it.
const DefaultLease = 15 * time.Second

// State store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Defaults.
const (
	DefaultBaseURL     = "https://qyapi.weixin.qq.com"
	DefaultStatePath   = "/var/lib/orgsync/state.db"
	DefaultMaxDisables = "5%"
	DefaultMaxDeletes  = "20"
	// DefaultRatePerMinute paces each WeCom API at 92% of WeCom's
	// per-corp 10,000/min: fast enough that N writes take at most
	// 1.1 × N / 10,000 minutes (DESIGN §5), with headroom for other
	// callers of the same corp; the client still honours 45009.
	DefaultRatePerMinute = 9200
)

// Problems is every problem found in a config, each with its location.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return p[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// Load reads, decodes and validates a config file. On problems it returns
// the File decoded so far and a Problems error listing all of them.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(b, path)
}

// Parse decodes and validates config bytes; path names the file in messages
// and anchors relative paths.
func Parse(b []byte, path string) (*File, error) {
	f := &File{Path: path}
	name := filepath.Base(path)
	// Every problem at once: a syntax error is reported at its line and its
	// top-level block left out; unknown keys and values of the wrong type
	// are reported and the rest still decoded and validated.
	b, probs, skipped := recoverSyntax(b, name)
	if b == nil {
		return nil, probs
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, append(probs, fmt.Sprintf("%s: %v", name, cleanYAMLErr(err)))
	}
	if len(root.Content) > 0 {
		for _, u := range UnknownKeys(root.Content[0], fileType, "") {
			probs = append(probs, fmt.Sprintf("%s:%d: %s", name, u.Line, unknownKeyMessage(u)))
		}
	}
	typeLines := map[int]bool{}
	if root.Kind != 0 {
		if err := root.Decode(f); err != nil && !errors.Is(err, io.EOF) {
			probs = append(probs, typeProblems(err, &root, name, typeLines)...)
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return nil, probs // decoding stopped: nothing more can be checked
			}
		}
	}
	f.Path, f.root, f.name = path, &root, name
	if n := find(&root, "sources"); n != nil && n.Kind == yaml.SequenceNode {
		for i, item := range n.Content {
			if i < len(f.Sources) {
				f.Sources[i].Line = item.Line
			}
		}
	}
	f.applyDefaults()
	probs = append(probs, f.SecretRefProblems()...)
	add := func(keyPath, format string, args ...any) {
		for _, k := range skipped {
			if keyPath == k || strings.HasPrefix(keyPath, k+".") {
				return // its block was left out for a syntax error, reported already
			}
		}
		line := 0
		if n := find(&root, strings.Split(keyPath, ".")...); n != nil && (len(root.Content) == 0 || n != root.Content[0]) {
			line = n.Line // (none when not even the block is there)
		}
		if typeLines[line] && line > 0 {
			return // the value's type was reported
		}
		loc := name
		if line > 0 {
			loc = fmt.Sprintf("%s:%d", name, line)
		}
		probs = append(probs, fmt.Sprintf("%s: %s: %s", loc, keyPath, fmt.Sprintf(format, args...)))
	}
	f.validate(add)
	if len(probs) > 0 {
		SortByLine(probs)
		return f, probs
	}
	return f, nil
}

func cleanYAMLErr(err error) string {
	return strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n ", ""), "yaml: ")
}

// find walks mapping keys (and numeric sequence indexes) to a node.
func find(n *yaml.Node, keys ...string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range keys {
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
					break
				}
			}
			if next == nil {
				return n // the closest enclosing node: its line still helps
			}
			n = next
		case yaml.SequenceNode:
			var idx int
			if _, err := fmt.Sscanf(k, "%d", &idx); err != nil || idx >= len(n.Content) {
				return n
			}
			n = n.Content[idx]
		default:
			return n
		}
	}
	return n
}

func (f *File) applyDefaults() {
	t := &f.Target
	if t.Type == "" {
		t.Type = "wecom"
	}
	if t.Config.BaseURL == "" {
		t.Config.BaseURL = DefaultBaseURL
	}
	if t.Config.RatePerMinute == 0 {
		t.Config.RatePerMinute = DefaultRatePerMinute
	}
	if t.Config.RootDepartmentID == 0 {
		t.Config.RootDepartmentID = 1
	}
	p := &f.Policy
	if p.Mode == "" {
		p.Mode = "sync"
	}
	if p.Leavers == "" {
		p.Leavers = "disable"
	}
	if p.MaxDisables == "" {
		p.MaxDisables = DefaultMaxDisables
	}
	if p.MaxDeletes == "" {
		p.MaxDeletes = DefaultMaxDeletes
	}
	st := &f.State
	if st.Driver == "" {
		st.Driver = DriverSQLite
	}
	if st.Path == "" && st.Driver == DriverSQLite {
		st.Path = DefaultStatePath
	}
	st.Path = f.Resolve(st.Path)
	f.NormalizeSecretRef(&t.Config.Secret, &t.Config.SecretFile)
	f.NormalizeSecretRef(&st.DSN, &st.DSNFile)
}

// Resolve makes a path from the config absolute, relative to the config
// file's directory.
func (f *File) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || f.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(f.Path), p)
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// expandEnv replaces a whole-value ${VAR} reference with the variable.
func expandEnv(s string) string {
	if m := envRef.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		return os.Getenv(m[1])
	}
	return s
}

var thresholdRe = regexp.MustCompile(`^\s*\d+(\.\d+)?\s*%?\s*$`)

func (f *File) validate(add func(path, format string, args ...any)) {
	if len(f.Sources) == 0 {
		add("sources", "at least one source is required")
	}
	names := map[string]bool{}
	for i, s := range f.Sources {
		p := fmt.Sprintf("sources.%d", i)
		if s.Name == "" {
			add(p+".name", "every source needs a name")
		} else if names[s.Name] {
			add(p+".name", "source name %q is used twice", s.Name)
		}
		names[s.Name] = true
		if s.Type == "" {
			add(p+".type", "every source needs a type (csv, ldap)")
		}
	}
	if f.Mapping.Kind == 0 {
		add("mapping", "a mapping block is required")
	}
	t := f.Target
	if t.Type != "wecom" {
		add("target.type", "%q is not a known target (wecom)", t.Type)
	}
	c := t.Config
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("target.config.base_url", "%q is not an http(s) URL", c.BaseURL)
	}
	if c.CorpID == "" {
		add("target.config.corp_id", "required (the corp id from the WeCom admin console, 我的企业 → 企业ID)")
	}
	switch {
	case c.Secret.Empty() && c.SecretFile == "":
		add("target.config", "set secret_file (or secret: ${ENV_VAR}) to the Contacts-Sync secret")
	case !c.Secret.Empty() && c.SecretFile != "":
		add("target.config.secret", "set secret or secret_file, not both")
	}
	if c.RootDepartmentID < 1 {
		add("target.config.root_department_id", "must be a department id ≥ 1 (1 is the whole corp)")
	}
	if c.RatePerMinute < 0 || c.RatePerMinute > 10000 {
		add("target.config.rate_per_minute", "%d: must be between 1 and WeCom's 10000 per API per minute", c.RatePerMinute)
	}
	p := f.Policy
	switch p.Mode {
	case "sync", "upsert-only", "create-only":
	default:
		add("policy.mode", "%q is not one of sync, upsert-only, create-only", p.Mode)
	}
	switch p.Leavers {
	case "disable", "delete":
	default:
		add("policy.leavers", "%q is not one of disable, delete", p.Leavers)
	}
	for _, a := range p.Adopt {
		switch a {
		case "userid", "mobile", "email", "departments":
		default:
			add("policy.adopt", "%q is not one of userid, mobile, email, departments", a)
		}
	}
	if !thresholdRe.MatchString(p.MaxDisables) {
		add("policy.max_disables", "%q: want a count like 20 or a percentage like 5%%", p.MaxDisables)
	}
	if !thresholdRe.MatchString(p.MaxDeletes) {
		add("policy.max_deletes", "%q: want a count like 20 or a percentage like 5%%", p.MaxDeletes)
	}
	if p.DeleteAfter < 0 {
		add("policy.delete_after", "must not be negative")
	}
	f.validateState(add)
	f.validateHA(add)
	f.validateJoin(add)
}

func (f *File) validateState(add func(path, format string, args ...any)) {
	st := f.State
	switch st.Driver {
	case DriverSQLite:
		if !st.DSN.Empty() || st.DSNFile != "" {
			add("state", "dsn and dsn_file are for driver: postgres; SQLite's store is the file in path")
		}
		f.checkStatePath(add)
	case DriverPostgres:
		switch {
		case st.DSN.Empty() && st.DSNFile == "":
			add("state", "driver postgres needs dsn_file (or dsn: ${ENV_VAR}) with the database's connection string")
		case !st.DSN.Empty() && st.DSNFile != "":
			add("state.dsn", "set dsn or dsn_file, not both")
		}
		if st.Path != "" {
			add("state.path", "is the SQLite file; with driver postgres the store is the database in dsn")
		}
	default:
		add("state.driver", "%q is not one of sqlite, postgres", st.Driver)
	}
}

func (f *File) validateHA(add func(path, format string, args ...any)) {
	h := f.HA
	if !h.Enabled {
		return
	}
	if f.State.Driver != DriverPostgres {
		add("ha.enabled", "needs state.driver: postgres: daemons share their state, and the leader lease, through the database (a SQLite file is one host's)")
	}
	if h.Lease.D() != 0 && h.Lease.D() < 3*time.Second {
		add("ha.lease", "%s is too short: renewals every lease/3 would race the database's own latency; use 3s or more (default %s)", h.Lease.D(), DefaultLease)
	}
	// name and advertise_url may name environment variables ($POD_IP,
	// ${HOSTNAME}), set where the daemon runs and perhaps not where the
	// config is checked: the URL is checked as expanded when they are all
	// set here; the daemon checks them at start (HASpec.Expand).
	if h.AdvertiseURL != "" && unsetVar(h.AdvertiseURL) == "" {
		if err := checkAdvertiseURL(os.ExpandEnv(h.AdvertiseURL)); err != nil {
			add("ha.advertise_url", "%v", err)
		}
	}
}

// unsetVar is the first environment variable s names that is not set.
func unsetVar(s string) string {
	var unset string
	os.Expand(s, func(name string) string {
		if _, ok := os.LookupEnv(name); !ok && unset == "" {
			unset = name
		}
		return ""
	})
	return unset
}

func checkAdvertiseURL(u string) error {
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", u)
	}
	return nil
}

// Expand returns the block with its environment variables expanded, or
// an error naming the first one unset (or an advertise_url that is not
// an http(s) URL once expanded).
func (h HASpec) Expand() (HASpec, error) {
	for _, v := range []struct{ key, val string }{{"ha.name", h.Name}, {"ha.advertise_url", h.AdvertiseURL}} {
		if unset := unsetVar(v.val); unset != "" {
			return h, fmt.Errorf("%s names $%s, which is not set in orgsync's environment", v.key, unset)
		}
	}
	h.Name, h.AdvertiseURL = os.ExpandEnv(h.Name), os.ExpandEnv(h.AdvertiseURL)
	if h.AdvertiseURL != "" {
		if err := checkAdvertiseURL(h.AdvertiseURL); err != nil {
			return h, fmt.Errorf("ha.advertise_url: %w", err)
		}
	}
	return h, nil
}

// LeaseOrDefault is the configured lease, or DefaultLease.
func (h HASpec) LeaseOrDefault() time.Duration {
	if h.Lease.D() > 0 {
		return h.Lease.D()
	}
	return DefaultLease
}

// ReadDSN returns the PostgreSQL state store's connection string,
// reading dsn_file if set.
func (st StateSpec) ReadDSN() (Secret, error) {
	s, err := ReadSecretRef(st.DSN, st.DSNFile)
	if err == nil && s.Empty() {
		return "", errors.New("the state store's PostgreSQL dsn is empty (is the environment variable set?)")
	}
	return Secret(strings.TrimSpace(s.Reveal())), err
}

// WeComSecret returns the configured secret, reading secret_file if set.
func (f *File) WeComSecret() (Secret, error) {
	c := f.Target.Config
	s, err := ReadSecretRef(c.Secret, c.SecretFile)
	if err == nil && s.Empty() {
		return "", errors.New("the WeCom secret is empty (is the environment variable set?)")
	}
	return s, err
}

// JoinSpec is the `join:` block: several sources describe one population.
//
//	join:
//	  primary: hr                    # who exists is decided by the primary alone
//	  on: {hr: 工号, ad: employeeID}   # per source, an expression giving the join key
//
// Each `on` expression reads its own source's columns (bare names, like a
// mapping rule without join); the mapping then names fields by source
// (hr.工号, ad.mail). Keys compare trimmed and ignoring case. The mapping
// package compiles and applies it.
type JoinSpec struct {
	Primary string `yaml:"primary"`
	On      JoinOn `yaml:"on"`
	Line    int    `yaml:"-"`
}

// JoinKey is one source's join-key expression with its YAML position.
type JoinKey struct {
	Source string
	Expr   string
	Line   int
	Column int
}

// JoinOn is `join.on`, in the order written.
type JoinOn []JoinKey

// UnmarshalYAML reads a map of source name → expression, keeping order
// and lines; a value that is not one expression is an error with its line.
func (o *JoinOn) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: join.on is a map of source name to join-key expression, like {hr: 工号, ad: employeeID}", n.Line)
	}
	*o = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: join.on.%s: want one expression (a string)", v.Line, k.Value)
		}
		*o = append(*o, JoinKey{Source: k.Value, Expr: v.Value, Line: v.Line, Column: v.Column})
	}
	return nil
}

// Key returns the join key of a source, if it has one.
func (o JoinOn) Key(source string) (JoinKey, bool) {
	for _, k := range o {
		if k.Source == source {
			return k, true
		}
	}
	return JoinKey{}, false
}

// joinSourceName is a source name a rule can use as a namespace (hr.工号).
var joinSourceName = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_]*$`)

func (f *File) validateJoin(add func(path, format string, args ...any)) {
	j := f.Join
	if j == nil {
		return
	}
	var names []string
	known := map[string]bool{}
	for _, s := range f.Sources {
		names = append(names, s.Name)
		known[s.Name] = true
	}
	have := strings.Join(names, ", ")
	switch {
	case j.Primary == "":
		add("join.primary", "required: the source whose records decide who exists")
	case !known[j.Primary]:
		add("join.primary", "%q is not a configured source (sources: %s)", j.Primary, have)
	}
	if len(j.On) < 2 {
		add("join.on", "a join needs a key for the primary and for at least one more source, like {hr: 工号, ad: employeeID}")
	}
	seen := map[string]bool{}
	for _, k := range j.On {
		path := "join.on." + k.Source
		switch {
		case seen[k.Source]:
			add(path, "%q is listed twice", k.Source)
		case !known[k.Source]:
			add(path, "%q is not a configured source (sources: %s)", k.Source, have)
		case !joinSourceName.MatchString(k.Source):
			add(path, "the source name %q can't name its fields in rules (%s.field): use letters, digits and _", k.Source, k.Source)
		}
		seen[k.Source] = true
		if strings.TrimSpace(k.Expr) == "" {
			add(path, "an expression giving the join key is required")
		}
	}
	if j.Primary != "" && known[j.Primary] && len(j.On) > 0 && !seen[j.Primary] {
		add("join.on", "no key for the primary source %q", j.Primary)
	}
}
