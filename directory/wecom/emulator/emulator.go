package emulator

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Role is what a secret's tokens may do.
type Role string

const (
	// RoleContactsSyncEdit is the Contacts-Sync secret with "API编辑通讯录":
	// every contacts read and write.
	RoleContactsSyncEdit Role = "contacts_sync_edit"
	// RoleContactsSyncRead is the Contacts-Sync secret, read only: writes
	// give 48002.
	RoleContactsSyncRead Role = "contacts_sync_read"
	// RoleApp is a self-built app's secret: reads only, writes and
	// user/list_id give 48002.
	RoleApp Role = "app"
)

// Defaults for the Options fields left zero; the wecom-emulator command
// shows the same values as its flag defaults.
const (
	DefaultCorpID   = "wwemulator000000"
	DefaultCorpName = "Emulated Corp"
	// DefaultSecret is the one contacts_sync_edit secret accepted when
	// Options.Secrets is empty.
	DefaultSecret   = "emulator-secret"
	DefaultTokenTTL = 7200 * time.Second
	DefaultJobDelay = 300 * time.Millisecond
)

// SecretSpec is one secret the corp accepts on gettoken.
type SecretSpec struct {
	Secret string
	Role   Role
	// Scope limits what an app secret (RoleApp) sees: these departments
	// and their descendants, and the members in them. Empty = everything.
	// Reads outside it get 60011. Ignored for Contacts-Sync roles.
	Scope []int64
	// StripSensitive hides avatar, gender, mobile, email, biz_mail, qr_code
	// and address from an app secret's reads, as for apps created after
	// 2022-06-20.
	StripSensitive bool
}

// Fault kinds for Faults.Kinds.
const (
	FaultBusy        = "busy"          // errcode -1
	FaultConflict    = "conflict"      // errcode 6000
	FaultHTTP5xx     = "http5xx"       // HTTP 502 or 503 with an empty body
	FaultDrop        = "drop"          // the connection is closed with no response
	FaultConcurrency = "concurrency"   // errcode 45033
	FaultTokenExpiry = "token_expired" // errcode 42001 and the caller's token expires; opt-in only
	// FaultDropAfter applies the call, then closes the connection with no
	// response: the client cannot know the write happened, as when a
	// network fails after WeCom committed. Opt-in only.
	FaultDropAfter = "drop_after"
)

// defaultFaultKinds is what an empty Faults.Kinds means. token_expired is
// not in it: it changes token state, so a test must ask for it.
var defaultFaultKinds = []string{FaultBusy, FaultConflict, FaultHTTP5xx, FaultDrop, FaultConcurrency}

// Faults configures random fault injection on WeCom API calls (not on
// gettoken).
type Faults struct {
	Rate  float64  `json:"rate"`  // probability per call of injecting a fault, 0..1
	Kinds []string `json:"kinds"` // subset of the Fault* kinds; empty = busy, conflict, http5xx, drop, concurrency
}

// Validate reports an out-of-range rate or an unknown kind.
func (f Faults) Validate() error {
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("fault rate %v: want 0..1", f.Rate)
	}
	for _, k := range f.Kinds {
		switch k {
		case FaultBusy, FaultConflict, FaultHTTP5xx, FaultDrop, FaultConcurrency, FaultTokenExpiry, FaultDropAfter:
		default:
			return fmt.Errorf("unknown fault kind %q: want busy, conflict, http5xx, drop, drop_after, concurrency or token_expired", k)
		}
	}
	return nil
}

// Options configure a Server. The zero value is a working emulator with one
// Contacts-Sync edit secret "emulator-secret" for corp "wwemulator000000".
type Options struct {
	CorpID   string       // default DefaultCorpID
	CorpName string       // the root department's name; default DefaultCorpName
	Secrets  []SecretSpec // default one contacts_sync_edit secret, DefaultSecret

	// RestrictedReads is the post-2022-08-15 "new IP" mode: user/get,
	// user/list, user/simplelist, department/list and department/get give
	// 48009 to Contacts-Sync tokens (app tokens may still read).
	RestrictedReads bool
	// RateLimitPerMinute is the per-API per-corp limit for one window
	// (RateLimitWindow, default a minute). 0 = 10000, the real limit;
	// negative = unlimited. Calls over it get 45009 until the window ends.
	RateLimitPerMinute int
	// RateLimitPerHour is the per-API per-corp limit per clock hour: 0 =
	// 150000, the real limit; negative = unlimited. A negative
	// RateLimitPerMinute turns it off too unless it is set above 0.
	RateLimitPerHour int
	// BadSecretBan, if above 0, is how many gettoken calls with a wrong
	// secret one IP may make in a clock hour; after that gettoken answers
	// 45009 to that IP for the rest of the hour (the real server's
	// wrong-secret IP block). 0 = off.
	BadSecretBan int
	// RateLimitWindow is the length of one rate-limit window, aligned to
	// multiples of itself (default time.Minute). Tests shorten it.
	RateLimitWindow time.Duration
	// MaxConcurrentPerAPI caps calls in flight per API; more get 45033.
	// 0 = no cap.
	MaxConcurrentPerAPI int
	Latency             time.Duration // added to every WeCom call, gettoken included
	Faults              Faults
	DataFile            string        // load state at start if present; persist on Close and /emulator/save
	TokenTTL            time.Duration // expires_in; default DefaultTokenTTL
	Seed                int64         // seeds fault randomness, so a seed gives the same fault sequence
	Now                 func() time.Time

	// DeptNameMaxChars is the department name limit in characters: 64
	// (default, current docs) or 32 (older docs' strict mode).
	DeptNameMaxChars int
	// LegacyDepartmentRequired makes user/create require a non-empty
	// department list (60127), as older docs say. Otherwise a user created
	// without one goes to the root department.
	LegacyDepartmentRequired bool
	// RejectUnicodeEscapes rejects JSON bodies containing \uXXXX escapes
	// with 40033 (UNCONFIRMED whether today's server still does).
	RejectUnicodeEscapes bool
	// JobDelay is how long a batch job takes: status 1 for the first third,
	// 2 until done, then 3 with its effects applied. 0 = 300ms; negative =
	// done at once.
	JobDelay time.Duration
	// JobRowsPerSecond is how fast a batch job works through its file: a
	// job of n rows takes JobDelay + n / JobRowsPerSecond, so a 100,000-row
	// import is not instant (WeCom does not publish its speed). 0 = a job
	// takes JobDelay whatever its size.
	JobRowsPerSecond float64
	// JobResultTTL is how long a finished job's result stays readable:
	// after it, batch/getresult gives 40089 as for a job pushed out by
	// five newer ones. wecom-api.md §5.2 documents only the count (the
	// last five jobs); whether results also expire with time is
	// UNCONFIRMED. 0 = they don't.
	JobResultTTL time.Duration
	// ImportDirectLeaderColumn makes the member import file's 直属上级
	// column (userids, ";"-separated) set direct_leader, as user/update
	// does. The documented template has no such column (wecom-api.md
	// §5.3, UNCONFIRMED), so by default it is ignored like any unknown
	// column.
	ImportDirectLeaderColumn bool
	MediaTTL                 time.Duration // how long a media_id stays valid; default 72h
	// TrustedIPs, if set, is the only caller IPs allowed; others get 60020.
	TrustedIPs []string
	// CreatorUserID is the corp creator, who cannot be deleted (301005).
	CreatorUserID string
	// MaxSeats caps the member count; creating more gives 45024. 0 = no cap.
	MaxSeats int
	// MaxDirectLeaders caps direct_leader (docs say 1 today, 5 before);
	// default 5; more gives 40058 (UNCONFIRMED code).
	MaxDirectLeaders int

	// The zero values whole-struct SDKs send (wecom-api.md §4.5) that the
	// docs leave UNCONFIRMED. The zero value of each field is the default:
	// the stricter reading where the docs give one, so a client that works
	// against the default also works against the other setting.

	// EnableZeroOnCreateIgnored makes enable: 0 on user/create mean "not
	// given": the member is created enabled. Default: enable 0 creates a
	// disabled member (status 2), the field's documented meaning.
	EnableZeroOnCreateIgnored bool
	// EmptyStringKeepsField makes "" in a text field of user/update and
	// department/update, and an empty cell of an existing member's row in
	// an import file, mean "not given". Default: "" clears the field, and
	// is 60112 (member name) or 60001 (department name) where a field may
	// not be empty.
	EmptyStringKeepsField bool
	// ParentIDZeroLiteral makes parentid: 0 on department/update a parent
	// id like any other: 60004, there being no department 0 (the root,
	// whose parentid is 0, is left as is). Default: parentid 0 is not
	// given, so the department does not move.
	ParentIDZeroLiteral bool
	// DeptListIDZeroWholeTree makes id=0 on department/simplelist and
	// department/list the whole visible tree, as if id were omitted.
	// Default: id=0 is the root department (id 1) and its descendants,
	// which a scoped app secret that cannot see the root gets 60011 for.
	DeptListIDZeroWholeTree bool
}

func (o *Options) setDefaults() {
	if o.CorpID == "" {
		o.CorpID = DefaultCorpID
	}
	if o.CorpName == "" {
		o.CorpName = DefaultCorpName
	}
	if len(o.Secrets) == 0 {
		o.Secrets = []SecretSpec{{Secret: DefaultSecret, Role: RoleContactsSyncEdit}}
	}
	if o.RateLimitPerHour == 0 {
		o.RateLimitPerHour = 150000
		if o.RateLimitPerMinute < 0 {
			o.RateLimitPerHour = -1
		}
	}
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = 10000
	}
	if o.RateLimitWindow <= 0 {
		o.RateLimitWindow = time.Minute
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DeptNameMaxChars <= 0 {
		o.DeptNameMaxChars = 64
	}
	if o.JobDelay == 0 {
		o.JobDelay = DefaultJobDelay
	}
	if o.MediaTTL <= 0 {
		o.MediaTTL = 72 * time.Hour
	}
	if o.MaxDirectLeaders <= 0 {
		o.MaxDirectLeaders = 5
	}
}

// Stats counts calls since the start or the last ResetStats.
type Stats struct {
	Calls  map[string]int         `json:"calls"`  // by API, e.g. "user/create"; gettoken included
	Errors map[string]map[int]int `json:"errors"` // API -> errcode -> count, 0 included
	Writes int                    `json:"writes"` // calls to write APIs, successful or not
	Faults map[string]int         `json:"faults"` // injected faults by kind
}

// Server is the emulator. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts    Options
	log     *zap.Logger
	trusted map[string]bool

	mu       sync.Mutex
	rng      *rand.Rand
	faults   Faults
	tokens   map[string]*token
	current  map[string]string // secret -> its live token
	windows  windows
	inflight map[string]int
	stats    Stats
	traceSeq uint64
	dir      *directory
	media    map[string]*mediaFile
	jobs     *jobQueue
}

// New builds a server, loading Options.DataFile if it exists.
func New(opts Options, log *zap.Logger) (*Server, error) {
	opts.setDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	for _, sp := range opts.Secrets {
		switch sp.Role {
		case RoleContactsSyncEdit, RoleContactsSyncRead, RoleApp:
		default:
			return nil, fmt.Errorf("secret role %q: want contacts_sync_edit, contacts_sync_read or app", sp.Role)
		}
		if sp.Secret == "" {
			return nil, errors.New("empty secret")
		}
		if sp.Role != RoleApp && (len(sp.Scope) > 0 || sp.StripSensitive) {
			return nil, fmt.Errorf("secret role %q: scope and sensitive-field stripping apply to app secrets only", sp.Role)
		}
	}
	if err := opts.Faults.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		log:      log,
		trusted:  map[string]bool{},
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15)),
		faults:   opts.Faults,
		tokens:   map[string]*token{},
		current:  map[string]string{},
		windows:  windows{},
		inflight: map[string]int{},
		dir:      newDirectory(opts.CorpName),
		media:    map[string]*mediaFile{},
		jobs:     &jobQueue{purged: map[string]bool{}},
	}
	for _, ip := range opts.TrustedIPs {
		s.trusted[ip] = true
	}
	s.ResetStats()
	if opts.DataFile != "" {
		if err := s.load(opts.DataFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("load emulator data: %w", err)
		}
	}
	return s, nil
}

// SetFaults replaces the fault settings. Invalid settings are ignored and
// logged; the admin API validates before calling it.
func (s *Server) SetFaults(f Faults) {
	if err := f.Validate(); err != nil {
		s.log.Warn("ignoring invalid fault settings", zap.Error(err))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = Faults{Rate: f.Rate, Kinds: append([]string(nil), f.Kinds...)}
}

// Faults returns the current fault settings.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Faults{Rate: s.faults.Rate, Kinds: append([]string(nil), s.faults.Kinds...)}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Calls: maps.Clone(s.stats.Calls), Errors: make(map[string]map[int]int, len(s.stats.Errors)),
		Writes: s.stats.Writes, Faults: maps.Clone(s.stats.Faults)}
	for k, m := range s.stats.Errors {
		out.Errors[k] = maps.Clone(m)
	}
	return out
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Calls: map[string]int{}, Errors: map[string]map[int]int{}, Faults: map[string]int{}}
}

// State returns the directory: departments sorted by id, users by userid.
func (s *Server) State() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceJobs()
	return s.dir.snapshot()
}

// Reset empties the directory back to the root department and forgets
// media and jobs. Tokens and stats are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir = newDirectory(s.opts.CorpName)
	s.media = map[string]*mediaFile{}
	s.jobs = &jobQueue{purged: map[string]bool{}}
}

// Activate marks a member as having joined WeCom (status 1 unless
// disabled); from then on mobile updates are silently ignored, as on the
// real server. It reports whether the user exists.
func (s *Server) Activate(userid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.dir.users[strings.ToLower(userid)]
	if u == nil {
		return false
	}
	u.activated = true
	if u.u.Status == StatusNotActive {
		u.u.Status = StatusActive
	}
	return true
}

// Close persists the state to DataFile if one is set.
func (s *Server) Close() error {
	if s.opts.DataFile == "" {
		return nil
	}
	return s.Save()
}

// Save writes the state to DataFile (atomically: temp file, then rename).
func (s *Server) Save() error {
	if s.opts.DataFile == "" {
		return errors.New("no data file configured")
	}
	s.mu.Lock()
	s.advanceJobs()
	data, err := s.dir.marshalPersisted()
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode emulator state: %w", err)
	}
	tmp := s.opts.DataFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write emulator state: %w", err)
	}
	if err := os.Rename(tmp, s.opts.DataFile); err != nil {
		return fmt.Errorf("write emulator state: %w", err)
	}
	return nil
}

func (s *Server) load(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	d, err := unmarshalPersisted(data, s.opts.CorpName)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.dir = d
	s.mu.Unlock()
	return nil
}

// ServeHTTP serves WeCom calls under /cgi-bin/ and the admin API under
// /emulator/. Anything else is 404 with an empty body, like the real server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/cgi-bin/"):
		s.serveAPI(w, r, strings.TrimPrefix(p, "/cgi-bin/"))
	case strings.HasPrefix(p, "/emulator/"):
		s.serveAdmin(w, r, strings.TrimPrefix(p, "/emulator/"))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// clientIP is the caller's address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errmsg adds the real server's suffix to a message.
func (s *Server) errmsg(e *apiErr, ip string) string {
	s.traceSeq++
	// Not from rng: fault sequences must depend only on the seed and the calls.
	trace := fmt.Sprintf("%d_%d_%08x", s.opts.Now().Unix(), s.traceSeq, uint32(s.traceSeq*2654435761))
	return fmt.Sprintf("%s, hint: [%s], from ip: %s, more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
		e.message(), trace, ip, e.code)
}

// sortedKeys returns the map's keys in order (for deterministic output).
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
