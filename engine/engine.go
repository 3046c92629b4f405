// Package engine runs one sync: read target and state → settle what a killed
// run left pending → read sources → map → plan → guard → apply → record.
// RunOnce is the only thing that runs a sync; the CLI's plan stops after the
// guard, sync runs everything, and the daemon calls RunOnce on schedule.
package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/csv"
	"github.com/orgsync/orgsync/connectors/registry"
	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// Run statuses (the report's "status").
const (
	StatusSucceeded = "succeeded"
	// StatusAttention: the run finished, but an admin must look: changes
	// were held, records rejected, a source was missing or incomplete, or
	// a call's outcome is unknown until the next run.
	StatusAttention = "needs_attention"
	StatusFailed    = "failed"
	StatusRefused   = "refused"
	// StatusInterrupted: the run was stopped (SIGTERM, at a change
	// boundary) or the process died during it (SIGKILL, power; then
	// the next run records it so), with what it had applied.
	StatusInterrupted = "interrupted"
)

// Statuses lists every run status, for metrics and notifications.
var Statuses = []string{StatusSucceeded, StatusAttention, StatusFailed, StatusRefused, StatusInterrupted}

// ErrConfig marks a run that could not go on because the configuration
// does not fit what was read: a rule that fails on every record, a
// department table that can't be read. The CLI exits 2 for it.
var ErrConfig = errors.New("configuration does not fit the data")

// ErrDrift is returned by RunOnce with Options.Plan or PlanSum when the world changed
// since the reviewed plan was made.
var ErrDrift = errors.New("the reviewed plan no longer matches: sources or WeCom changed since it was made")

type namedSource struct {
	name string
	src  connectors.Source
}

// Engine holds what a run needs, built once from a config.
type Engine struct {
	cfg     *config.File
	log     *zap.Logger
	sources []namedSource
	mapper  *mapping.Mapper
	dir     directory.Directory
	store   *state.Store
	policy  plan.Policy
	limits  plan.Limits
	shrink  plan.Threshold
	now     func() time.Time
	mu      sync.Mutex // one run at a time per engine
	elect   bool       // Open joins the HA election (JoinElection)
	// wrapJournal, in tests, interposes on the journal (crash injection).
	wrapJournal func(*state.Store) directory.Journal
}

// Build validates everything a config names that config.Load cannot
// (source configs, mapping rules) and reports every problem at once as
// config.Problems. It opens nothing.
func Build(cfg *config.File, log *zap.Logger) (*Engine, error) {
	e := &Engine{cfg: cfg, log: log, now: time.Now}
	var probs config.Problems
	for i, s := range cfg.Sources {
		c, err := registry.Decode(s.Type, &s.Config)
		if err != nil {
			probs = append(probs, fmt.Sprintf("sources.%d (%s, line %d): %v", i, s.Name, s.Line, err))
			continue
		}
		src, err := c.Open(s.Name, log.Named("source").With(zap.String("source", s.Name)))
		if err != nil {
			probs = append(probs, fmt.Sprintf("sources.%d (%s): %v", i, s.Name, err))
			continue
		}
		e.sources = append(e.sources, namedSource{name: s.Name, src: src})
	}
	if m, err := compileMapping(cfg); err != nil {
		probs = append(probs, err.Error())
	} else {
		e.mapper = m
		probs = append(probs, unjoinedSources(cfg, m)...)
	}
	p := cfg.Policy
	e.policy = plan.Policy{
		Mode: plan.Mode(p.Mode), Leavers: p.Leavers, DeleteAfter: p.DeleteAfter.D(),
		Protected: p.Protected, RootDepartmentID: cfg.Target.Config.RootDepartmentID,
	}
	for _, a := range p.Adopt {
		switch a {
		case "userid":
			e.policy.AdoptUserID = true
		case "departments":
			e.policy.AdoptDepartments = true
		}
	}
	threshold := func(key, v, def string) plan.Threshold {
		t, err := plan.ParseThreshold(cmp.Or(v, def))
		if err != nil {
			probs = append(probs, "policy."+key+": "+err.Error())
		}
		return t
	}
	e.limits = plan.Limits{
		Disables:       threshold("max_disables", p.MaxDisables, config.DefaultMaxDisables),
		Deletes:        threshold("max_deletes", p.MaxDeletes, config.DefaultMaxDeletes),
		DisablesPerDay: threshold("max_disables_per_day", p.MaxDisablesPerDay, plan.DefaultMaxDisablesPerDay),
		DeletesPerDay:  threshold("max_deletes_per_day", p.MaxDeletesPerDay, plan.DefaultMaxDeletesPerDay),
		Moves:          threshold("max_moves", p.MaxMoves, plan.DefaultMaxMoves),
		Updates:        threshold("max_updates", p.MaxUpdates, plan.DefaultMaxUpdates),
		Clears:         threshold("max_clears", p.MaxClears, plan.DefaultMaxClears),
		DeptRenames:    threshold("max_department_renames", p.MaxDepartmentRenames, plan.DefaultMaxDepartmentRenames),
		DeptMoves:      threshold("max_department_moves", p.MaxDepartmentMoves, plan.DefaultMaxDepartmentMoves),
		DeptDeletes:    threshold("max_department_deletes", p.MaxDepartmentDeletes, plan.DefaultMaxDepartmentDeletes),
	}
	e.shrink = threshold("max_shrink", p.MaxShrink, DefaultMaxShrink)
	if len(probs) > 0 {
		return nil, probs
	}
	return e, nil
}

// compileMapping decodes the mapping block strictly and compiles its rules;
// relative file paths in it resolve against the config file's directory.
func compileMapping(cfg *config.File) (*mapping.Mapper, error) {
	mc, err := mapping.Decode(&cfg.Mapping)
	if err != nil {
		return nil, err
	}
	mc.BaseDir = filepath.Dir(cfg.Path)
	mc.Files = csv.TableReader{} // mapping reads its tables through the connector
	mc.Join = cfg.Join
	m, err := mapping.Compile(mc)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	return m, nil
}

// distrustSuspectJoined marks, with a join, the batch of a joined source
// other than the primary incomplete when its read looks truncated or
// re-headed against its last good read (shapeProblems, which plan reports
// as source problems too): mapping then leaves every person that source
// has no record of as they are, instead of mapping them without it, which
// would clear or change the fields it gives.
func (e *Engine) distrustSuspectJoined(ctx context.Context, p *Prepared, batches []*connectors.Batch) error {
	j := e.cfg.Join
	if j == nil {
		return nil
	}
	problems, err := e.shapeProblems(ctx, p)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if _, joined := j.On.Key(b.Source); !joined || b.Source == j.Primary || !b.Complete {
			continue
		}
		for _, pr := range problems {
			if strings.HasPrefix(pr, b.Source+": ") {
				b.Complete, b.Incomplete = false, pr
				break
			}
		}
	}
	return nil
}

// unjoinedSources names, with a join, every source of people the join
// does not key: its records would belong to no one.
func unjoinedSources(cfg *config.File, m *mapping.Mapper) []string {
	if cfg.Join == nil {
		return nil
	}
	var probs []string
	for i, s := range cfg.Sources {
		if _, ok := cfg.Join.On.Key(s.Name); !ok && s.Name != m.DepartmentSource() {
			probs = append(probs, fmt.Sprintf("sources.%d (%s, line %d): not in join.on: with join, every source of people needs a join key (only the department table's source is read on its own)", i, s.Name, s.Line))
		}
	}
	return probs
}

// Open connects the engine to WeCom (client; no call yet) and opens the
// state store (taking its lock).
func (e *Engine) Open(ctx context.Context) error {
	if err := e.openClient(); err != nil {
		return err
	}
	st, err := openStore(ctx, e.cfg, e.elect)
	if err != nil {
		return err
	}
	e.store = st
	return nil
}

// openStore opens the configured state store: the SQLite file, or the
// PostgreSQL database its DSN names.
//
// With ha.enabled (a daemon among several on one database) the store
// takes no lock and every write is fenced until the daemon leads
// (state.OpenPostgresHA); see JoinElection.
func openStore(ctx context.Context, cfg *config.File, elect bool) (*state.Store, error) {
	spec := cfg.State
	if spec.Driver != config.DriverPostgres {
		return state.Open(ctx, spec.Path)
	}
	dsn, err := spec.ReadDSN()
	if err != nil {
		return nil, err
	}
	if cfg.HA.Enabled && elect {
		h, err := cfg.HA.Expand()
		if err != nil {
			return nil, err
		}
		return state.OpenPostgresHA(ctx, dsn.Reveal(), state.HAOptions{Name: h.Name, URL: h.AdvertiseURL, Lease: h.LeaseOrDefault()})
	}
	return state.OpenPostgres(ctx, dsn.Reveal())
}

// JoinElection makes Open join the leader election when the config has
// ha.enabled; the daemon calls it before Open. Only a daemon takes part: a
// command run by hand (orgsync sync, held, state) opens the store for
// itself, and is refused while a daemon leads.
func (e *Engine) JoinElection() { e.elect = true }

func (e *Engine) openClient() error {
	if e.dir != nil {
		return nil
	}
	secret, err := e.cfg.WeComSecret()
	if err != nil {
		return err
	}
	t := e.cfg.Target.Config
	d, err := wecom.New(wecom.Config{
		Client: wecom.ClientConfig{
			BaseURL: t.BaseURL, CorpID: t.CorpID, Secret: secret,
			RatePerMinute: t.RatePerMinute, Concurrency: t.Concurrency, Timeout: t.Timeout.D(),
		},
		RootDepartmentID: t.RootDepartmentID, FullReads: t.FullReads, Invite: e.cfg.Policy.Invite,
		BatchThreshold: t.BatchThreshold, ImportLeaderColumn: t.ImportLeaderColumn, JobTimeout: t.JobTimeout.D(),
	}, e.log.Named("wecom"))
	if err != nil {
		return err
	}
	e.dir = d
	return nil
}

// Close releases the state store.
func (e *Engine) Close() error {
	if e.store != nil {
		return e.store.Close()
	}
	return nil
}

// Store exposes the state store (history, explain).
func (e *Engine) Store() *state.Store { return e.store }

// Directory exposes the directory the engine keeps (metrics reach its
// client through it).
func (e *Engine) Directory() directory.Directory { return e.dir }

// SetClock replaces the engine's clock (tests of leaver clocks).
func (e *Engine) SetClock(now func() time.Time) {
	e.now = now
	if e.store != nil {
		e.store.SetClock(now)
	}
}

// Options change one run.
type Options struct {
	DryRun           bool          // plan and guard only; nothing written to WeCom (the state store records only what settling finds)
	AllowDestructive int           // approve up to N disables+deletes over the thresholds
	Plan             *plan.Changes // apply exactly this reviewed plan; refuse on drift
	// PlanSum, when set, is a reviewed plan's digest (PlanDigest) standing
	// in for Plan, so that sync --plan need not hold the whole file.
	PlanSum  []byte
	Progress func(done, total int)
	// Recover rebuilds ownership after a lost state store: members in the
	// managed scope whose userid the sources give, and departments that
	// match by name (full reads) or by their members (restricted reads),
	// are adopted as planned, visible changes.
	Recover bool
	// Stop, when closed, ends the run at the next change boundary: the
	// WeCom call in flight finishes and is journaled, nothing new starts,
	// and the rest is reported pending. Cancelling ctx instead aborts the
	// call in flight (the journal still lets the next run settle it).
	Stop <-chan struct{}
}

// Prepared is a computed, guarded plan and what went into it.
type Prepared struct {
	Changes  *plan.Changes
	Desired  model.Org
	Rejected []mapping.RecordError
	Warnings []mapping.Warning // records synced with something left out (a leader not found)
	Problems []string          // source errors and incomplete reads
	Records  map[string]int    // records read per source
	Refusal  *plan.RefusedError
	Shadow   *state.Shadow
	Current  plan.Current
	Shapes   map[string]SourceShape // per source, what this read looked like
	Approved bool                   // an admin approved guarded changes (--allow-destructive)
	Settled  int                    // journal entries of interrupted runs settled first
	queue    *reviewQueue           // the held queue as this plan weighed it

	// Excluded are the records mapping.include / mapping.exclude left out
	// of scope. Join is, with a join, each person's source records and
	// where each field came from (explain). Warnings then also name the
	// records of joined sources that join no one.
	Excluded []mapping.Exclusion
	Join     *mapping.JoinTrace
}

// Prepare reads everything and computes the guarded plan, writing nothing.
func (e *Engine) Prepare(ctx context.Context, allowDestructive int) (*Prepared, error) {
	return e.prepare(ctx, Options{AllowDestructive: allowDestructive, DryRun: true})
}

// prepare is the one route from the sources and WeCom to a guarded plan,
// for plan, sync and dry runs alike: read and map → read WeCom → settle
// what an interrupted run left pending (so a plan reviewed after a crash
// stays valid for 'sync --plan') → shadow → plan → guard. Settling writes
// only to the state store, recording what WeCom's lists show.
func (e *Engine) prepare(ctx context.Context, o Options) (*Prepared, error) {
	if err := e.awaitJobs(ctx, !o.DryRun); err != nil {
		return nil, err
	}
	// WeCom's lists are read while the sources are read and mapped: the
	// two are independent, and WeCom's side is mostly waiting on its
	// answers (at 1M members, 100 list_id pages), so a run's wall time is
	// the longer of the two rather than their sum. WeCom's lists are small
	// beside the records (a userid and its departments a member).
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	type loaded struct {
		cur plan.Current
		err error
	}
	wecom := make(chan loaded, 1)
	go func() {
		cur, err := e.dir.Load(loadCtx)
		wecom <- loaded{cur, err}
	}()
	p, err := e.readAndMap(ctx)
	if err != nil {
		cancelLoad()
		<-wecom
		return nil, err
	}
	// What reading and mapping leave behind (the records, mapping's rows
	// and indexes: half the heap at this point, 50 MB at 100k people) is
	// garbage now. Collected here, before the shadow arrives, it sets the
	// next GC goal by what the run still holds, not by the transient peak:
	// without it the heap grows to twice the mapping phase's before the
	// next GC, which is the run's peak RSS.
	runtime.GC()
	l := <-wecom
	if l.err != nil {
		return nil, l.err
	}
	cur := l.cur
	if p.Settled, err = e.settlePending(ctx, cur); err != nil {
		return nil, err
	}
	shadow, err := e.store.LoadShadow(ctx)
	if err != nil {
		return nil, err
	}
	if err := e.lostStore(shadow, o.Recover); err != nil {
		p.Shadow, p.Current, p.Changes, p.Refusal = shadow, cur, &plan.Changes{}, err
		return p, nil
	}
	return p, e.plan(ctx, p, shadow, cur, o.AllowDestructive, o.Recover)
}

// readAndMap reads the sources and maps them. It runs before WeCom and the
// shadow are loaded so that the raw records (the largest transient data)
// can be collected before those arrive: at 100k people this keeps the peak
// heap well below holding everything at once.
func (e *Engine) readAndMap(ctx context.Context) (*Prepared, error) {
	p := &Prepared{Records: map[string]int{}, Shapes: map[string]SourceShape{}}
	batches := e.readSources(ctx, p)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.probe(p, batches); err != nil {
		return nil, err
	}
	if err := e.distrustSuspectJoined(ctx, p, batches); err != nil {
		return nil, err
	}
	res := mapReleasing(e.mapper, batches)
	if res.TableFailed != "" {
		// No person can be placed: the run stops here, naming the table,
		// rather than rejecting everyone.
		return nil, fmt.Errorf("%w: %s", ErrConfig, res.TableFailed)
	}
	p.Desired, p.Rejected, p.Warnings = res.Org, res.Rejected, res.Warnings
	p.Excluded, p.Join = res.Excluded, res.Join
	return p, nil
}

// mapReleasing maps the batches, which are read no more, releasing each
// record once mapped, with the GC percent lowered to mapGCPercent for the
// while (an operator's lower GOGC, or off, is kept). Mapping frees its
// input as it builds the people, and a collection every 60 % of growth
// rather than 100 % reuses that memory instead of growing the heap past
// it. The 1M quiet night's peak RSS was 1,302-1,492 MiB, by where the GCs
// fell; with 60 % while mapping, 1,192-1,266 MiB for about 0.8 s more CPU
// (BENCHMARKS.md).
func mapReleasing(m *mapping.Mapper, batches []*connectors.Batch) mapping.Result {
	if prev := debug.SetGCPercent(mapGCPercent); prev < mapGCPercent {
		debug.SetGCPercent(prev)
	} else {
		defer debug.SetGCPercent(prev)
	}
	return m.MapAndRelease(batches)
}

const mapGCPercent = 60

// probe checks the rules against the records read. A rule that fails on
// every record (int(姓名), a column the export does not have) is a
// configuration error, not N rejections, when it fails for every source;
// when it fails for one source of several (a union), that source's
// records are set aside as a source problem (which holds every disable
// and delete) and the others sync.
func (e *Engine) probe(p *Prepared, batches []*connectors.Batch) error {
	errs := e.mapper.ProbeEach(batches)
	var bad []error
	usable := 0
	table := e.mapper.DepartmentSource()
	for i, b := range batches {
		if b == nil || len(b.Records) == 0 {
			continue
		}
		if errs[i] == nil {
			if b.Source != table {
				usable++
			}
			continue
		}
		if b.Source == table {
			return fmt.Errorf("%w: mapping: %w", ErrConfig, errs[i]) // no department can be placed
		}
		bad = append(bad, errs[i])
		p.Problems = append(p.Problems, fmt.Sprintf("%s: its records can't be mapped, set aside: %v", b.Source, errs[i]))
		batches[i] = nil
	}
	if len(bad) > 0 && usable == 0 {
		return fmt.Errorf("%w: mapping: %w", ErrConfig, errors.Join(bad...))
	}
	return nil
}

// plan computes and guards the changes for a mapped Prepared.
func (e *Engine) plan(ctx context.Context, p *Prepared, shadow *state.Shadow, cur plan.Current, allowDestructive int, recover bool) error {
	p.Shadow, p.Current = shadow, cur
	desired, rejected := p.Desired, p.Rejected
	protected, untied := protectRejected(rejected, shadow)
	if untied > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d rejected records can't be tied to a member (no key, userid, mobile or email): whoever they are must not be disabled", untied))
	}
	p.Problems = append(p.Problems, e.sentinelProblems(desired, rejected)...)
	problems, err := e.shapeProblems(ctx, p)
	if err != nil {
		return err
	}
	p.Problems = append(p.Problems, problems...)
	matches, err := e.dir.Adopt(ctx, desired, shadow, cur, e.adoptBy())
	if err != nil {
		return err
	}
	policy := e.policy
	if recover {
		policy.AdoptUserID, policy.AdoptDepartments = true, true
	}
	p.Changes = plan.Calculate(plan.Input{
		Desired: desired, Current: cur, Shadow: shadow, Protected: protected,
		AdoptMatches: matches, Policy: policy, Now: e.now(),
	})
	markExcluded(p.Changes, p.Excluded)
	q, err := e.loadQueue(ctx, p.Changes)
	if err != nil {
		return err
	}
	p.queue = q
	recent, err := e.store.CountDone(ctx, []string{string(plan.OpUserDisable), string(plan.OpUserDelete)}, e.now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	err = plan.Guard(p.Changes, plan.GuardInput{
		SourceProblems: p.Problems, DesiredPeople: len(desired.People) + len(rejected),
		ManagedMembers: len(shadow.Members), ManagedDepts: len(shadow.Departments), Limits: e.limits,
		RecentDisables: recent[string(plan.OpUserDisable)], RecentDeletes: recent[string(plan.OpUserDelete)],
		AllowDestructive: allowDestructive, Approved: q,
	})
	p.Approved = allowDestructive > 0
	var refused *plan.RefusedError
	if errors.As(err, &refused) {
		p.Refusal = refused
	} else if err != nil {
		return err
	}
	return nil
}

// readSources reads every source concurrently. A failed or incomplete
// source adds a problem (which holds all disables and deletes) and
// contributes what it has only if it returned a batch.
func (e *Engine) readSources(ctx context.Context, p *Prepared) []*connectors.Batch {
	batches := make([]*connectors.Batch, len(e.sources))
	errs := make([]error, len(e.sources))
	var wg sync.WaitGroup
	for i, s := range e.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			b, err := s.src.List(ctx)
			batches[i], errs[i] = b, err
			n := 0
			if b != nil {
				n = len(b.Records)
			}
			e.log.Info("source read", zap.String("source", s.name), zap.Int("records", n), zap.Duration("took", time.Since(start)), zap.Error(err))
		}()
	}
	wg.Wait()
	var out []*connectors.Batch
	for i, s := range e.sources {
		b, err := batches[i], errs[i]
		switch {
		case err != nil:
			p.Problems = append(p.Problems, fmt.Sprintf("%s: %v", s.name, err))
			continue
		case b == nil:
			p.Problems = append(p.Problems, fmt.Sprintf("%s: no data", s.name))
			continue
		case !b.Complete:
			p.Problems = append(p.Problems, fmt.Sprintf("%s: incomplete read: %s", s.name, b.Incomplete))
		}
		if b.Source == "" {
			b.Source = s.name
		}
		p.Records[s.name] = len(b.Records)
		p.Shapes[s.name] = SourceShape{Records: len(b.Records), Encoding: b.Encoding, Columns: b.Columns, Clean: err == nil && b.Complete}
		for _, w := range b.Warnings {
			e.log.Warn("source warning", zap.String("source", s.name), zap.String("warning", w))
		}
		out = append(out, b)
	}
	return out
}

// settlePending resolves the journal entries earlier runs left pending or
// uncertain, by directory.Settle's rules, and brings the reports of the
// interrupted runs they belong to up to date.
func (e *Engine) settlePending(ctx context.Context, cur plan.Current) (int, error) {
	pend, err := e.store.Pending(ctx)
	if err != nil {
		return 0, err
	}
	runs := map[int64]bool{}
	defer func() {
		if err := e.reportSettled(ctx, runs); err != nil {
			e.log.Warn("could not update the report of an interrupted run", zap.Error(err))
		}
	}()
	for _, en := range pend {
		st := directory.Settle(en, cur)
		if err := e.store.Resolve(ctx, en.ID, st.Status, st.Msg, st.Mut); err != nil {
			return 0, err
		}
		runs[en.RunID] = true
		e.log.Info("settled a change left pending by an interrupted run", zap.String("op", en.Op), zap.String("object", en.Object), zap.String("status", st.Status))
	}
	return len(pend), nil
}

// RunOnce runs one sync and records it. The returned report is never nil
// once the state store is open; err is set when the run failed as a whole.
// A guard refusal returns the report with status refused and a
// *plan.RefusedError.
func (e *Engine) RunOnce(ctx context.Context, o Options) (*Report, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	started := e.now()
	callsBefore := e.dir.Calls()
	rep := &Report{StartedAt: started, DryRun: o.DryRun, Changes: ChangeCounts{}}
	finish := func(status string, err error) (*Report, error) {
		rep.Status = status
		rep.FinishedAt = e.now()
		rep.APICalls = e.dir.Calls() - callsBefore
		if err != nil && rep.Error == "" {
			rep.Error = err.Error()
		}
		if !o.DryRun && rep.RunID != 0 {
			if ferr := e.store.FinishRun(context.WithoutCancel(ctx), rep.RunID, status, rep); ferr != nil && err == nil {
				err = ferr
			}
		}
		return rep, err
	}
	// The run carries the epoch the store holds as it starts: every write
	// it makes checks that epoch, so a run whose daemon lost the lease
	// (paused, partitioned) cannot write when it wakes, even if the
	// daemon has led again since.
	ctx = e.store.RunContext(ctx)
	if !o.DryRun {
		if err := e.recordInterrupted(ctx); err != nil {
			return nil, err
		}
		id, err := e.store.StartRun(ctx)
		if err != nil {
			return nil, err
		}
		rep.RunID = id
	}
	prep, err := e.prepare(ctx, o)
	if err != nil {
		return finish(StatusFailed, err)
	}
	rep.Settled = prep.Settled
	shadow := prep.Shadow
	rep.fill(prep)
	if o.drifted(prep.Changes) {
		rep.Refusal = ErrDrift.Error()
		return finish(StatusRefused, ErrDrift)
	}
	if prep.Refusal != nil {
		rep.Refusal = prep.Refusal.Reason
		if !o.DryRun && prep.Refusal.Err == nil { // a threshold's refusal, not an empty source's
			// The refused disables and deletes wait in the queue: the
			// report counts them held, as the queue does.
			queued := e.recordQueue(ctx, rep.RunID, prep, nil)
			rep.Held += len(queued)
			rep.HeldChanges = head(append(rep.HeldChanges, queued...))
		}
		return finish(StatusRefused, prep.Refusal)
	}
	if o.DryRun {
		for op, n := range prep.Changes.Counts() {
			rep.Changes[string(op)] = n
		}
		return finish(rep.settledStatus(), nil)
	}
	var journal directory.Journal = e.store
	if e.wrapJournal != nil {
		journal = e.wrapJournal(e.store)
	}
	res, err := e.dir.Apply(ctx, prep.Changes, journal, directory.ApplyOptions{
		RunID: rep.RunID, Shadow: shadow, Now: e.now, Progress: o.Progress, Stop: o.Stop,
	})
	for op, n := range res.Done {
		rep.Changes[string(op)] = n
	}
	rep.Failures, rep.Pending = res.Failed, res.Pending
	rep.Pacing = res.Pacing
	rep.Failed = len(res.Failed)
	if err == nil && ctx.Err() == nil {
		e.recordQueue(ctx, rep.RunID, prep, &res)
	} else {
		e.recordQueue(ctx, rep.RunID, prep, nil)
	}
	if err != nil {
		return finish(StatusFailed, err)
	}
	if ctx.Err() != nil {
		return finish(StatusFailed, ctx.Err())
	}
	if stopped(o.Stop) && len(rep.Pending) > 0 {
		return finish(StatusInterrupted, fmt.Errorf("%w: %d changes left for the next run", ErrStopped, len(rep.Pending)))
	}
	e.snapshot(ctx, rep)
	if rep.Failed > 0 {
		return finish(StatusFailed, fmt.Errorf("%d of %d changes failed", rep.Failed, prep.Changes.Total()))
	}
	return finish(rep.settledStatus(), nil)
}

// SnapshotsKept is how many automatic shadow snapshots stay beside the
// state store.
const SnapshotsKept = 7

// snapshot writes the shadow beside the store after a run that changed
// it. A snapshot that can't be written is logged, never fails the run.
func (e *Engine) snapshot(ctx context.Context, rep *Report) {
	if rep.Changes.Total() == 0 && rep.Settled == 0 {
		return
	}
	path, err := e.store.Snapshot(context.WithoutCancel(ctx), rep.RunID, SnapshotsKept)
	if err != nil {
		e.log.Warn("could not write the shadow snapshot", zap.Error(err))
		return
	}
	e.log.Debug("shadow snapshot written", zap.String("path", path))
}

// ErrLostStore refuses a run on an empty state store when a snapshot of a
// fuller one lies beside it: the store was lost or replaced, and running on
// would treat orgsync's own members as strangers.
var ErrLostStore = errors.New("the state store is empty but an earlier one's snapshot exists")

func (e *Engine) lostStore(shadow *state.Shadow, recover bool) *plan.RefusedError {
	if recover || len(shadow.Members)+len(shadow.Departments) > 0 {
		return nil
	}
	snap := state.LatestSnapshot(e.store.Path())
	if snap == "" {
		return nil
	}
	f, err := os.Open(snap)
	if err != nil {
		return nil
	}
	defer f.Close()
	ex, err := state.ReadExport(f)
	if err != nil || len(ex.Members)+len(ex.Departments) == 0 {
		return nil
	}
	return &plan.RefusedError{Err: ErrLostStore, Reason: fmt.Sprintf("%v (%s: %d members, %d departments): restore it with 'orgsync state import -c CONFIG %s', or rebuild ownership from WeCom with 'orgsync sync --recover'",
		ErrLostStore, snap, len(ex.Members), len(ex.Departments), snap)}
}

// recordInterrupted marks the runs a dead process left "running" as
// interrupted, with what their journal says they applied. The caller holds
// the store's lock, so no live process owns them.
func (e *Engine) recordInterrupted(ctx context.Context) error {
	runs, err := e.store.RunningRuns(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		rep, unsettled, err := e.interruptedReport(ctx, r)
		if err != nil {
			return err
		}
		if err := e.store.FinishRun(ctx, r.ID, StatusInterrupted, rep); err != nil {
			return err
		}
		e.log.Warn("an earlier run was interrupted", zap.Int64("run_id", r.ID), zap.Int("applied", rep.Changes.Total()), zap.Int("unsettled", unsettled))
	}
	return nil
}

// interruptedReport is an interrupted run's report as its journal tells
// it: a change made is done, or resolved (its answer was lost and a later
// run found it made); a pending or uncertain one is still unsettled.
func (e *Engine) interruptedReport(ctx context.Context, r state.Run) (*Report, int, error) {
	counts, err := e.store.JournalCounts(ctx, r.ID)
	if err != nil {
		return nil, 0, err
	}
	rep := &Report{RunID: r.ID, Status: StatusInterrupted, StartedAt: r.StartedAt, FinishedAt: e.now(), Changes: ChangeCounts{}}
	unsettled, resolved := 0, 0
	for op, by := range counts {
		rep.Changes[op] = by[state.StatusDone] + by[state.StatusResolved]
		resolved += by[state.StatusResolved]
		unsettled += by[state.StatusPending] + by[state.StatusUncertain]
		rep.Failed += by[state.StatusFailed]
	}
	rep.Error = fmt.Sprintf("the process stopped during this run (killed or crashed) after %d changes", rep.Changes.Total())
	if resolved > 0 {
		rep.Error += fmt.Sprintf(" (%d of them found made by a later run, their answers having been lost)", resolved)
	}
	if unsettled > 0 {
		rep.Error += fmt.Sprintf("; %d calls left with an unknown outcome are settled by the next run", unsettled)
	}
	return rep, unsettled, nil
}

// reportSettled rewrites the reports of interrupted runs whose calls a
// later run settled, so that what they applied is counted.
func (e *Engine) reportSettled(ctx context.Context, runIDs map[int64]bool) error {
	for id := range runIDs {
		r, err := e.store.GetRun(ctx, id)
		if err != nil || r.Status != StatusInterrupted {
			continue
		}
		rep, _, err := e.interruptedReport(ctx, r)
		if err != nil {
			return err
		}
		var old Report
		if json.Unmarshal(r.Report, &old) == nil && !old.FinishedAt.IsZero() {
			rep.FinishedAt = old.FinishedAt
		}
		if err := e.store.FinishRun(ctx, id, StatusInterrupted, rep); err != nil {
			return err
		}
	}
	return nil
}

// ErrStopped is returned by RunOnce when Options.Stop ended the run before
// every change was made.
var ErrStopped = errors.New("stopped at a change boundary")

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// adoptBy is which adoption lookups policy.adopt allows.
func (e *Engine) adoptBy() directory.AdoptBy {
	var by directory.AdoptBy
	for _, a := range e.cfg.Policy.Adopt {
		by.Mobile = by.Mobile || a == "mobile"
		by.Email = by.Email || a == "email"
	}
	return by
}
