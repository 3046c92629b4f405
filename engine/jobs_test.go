package engine

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	wecomdir "github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/fakeclock"
	"github.com/orgsync/orgsync/internal/testservers"
	"github.com/orgsync/orgsync/state"
)

// Import jobs that outlive their run (issue 12 §1), end to end: the env's
// 20 hires go through one import job (batch_threshold 5) that runs longer
// than job_timeout. The emulator and the WeCom client share a fake clock,
// and the client makes one call at a time, so the job moves on exactly by
// what the client sleeps.

// jobEnv is newEnv whose emulator runs import jobs for jobDelay plus
// perRow a row, on clk (o gives the rest of its options), and whose runs
// wait job_timeout 1m for one. arriving, when set, is called with each
// request's API before the emulator serves it.
func jobEnv(t *testing.T, jobDelay, perRow time.Duration, o emulator.Options, arriving func(api string)) (*env, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC))
	en := newEnv(t, true)
	o.CorpID, o.RestrictedReads = testCorp, true
	o.Secrets = []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}
	o.JobDelay, o.JobRowsPerSecond, o.Now = jobDelay, float64(time.Second)/float64(perRow), clk.Now
	emu, err := emulator.New(o, zap.NewNop())
	must(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arriving != nil {
			arriving(strings.TrimPrefix(r.URL.Path, "/cgi-bin/"))
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	en.emu, en.url = emu, srv.URL
	en.target = "    batch_threshold: 5\n    job_timeout: 1m"
	return en, clk
}

// openOn is en.open with the WeCom client on clk, one call at a time.
func (en *env) openOn(clk *fakeclock.Clock) *Engine {
	en.t.Helper()
	return en.openWith(func(e *Engine) {
		tc := e.cfg.Target.Config
		secret, err := e.cfg.WeComSecret()
		must(en.t, err)
		d, err := wecomdir.New(wecomdir.Config{
			Client:         wecomdir.ClientConfig{BaseURL: tc.BaseURL, CorpID: tc.CorpID, Secret: secret, Concurrency: 1, Clock: clk},
			BatchThreshold: tc.BatchThreshold, JobTimeout: tc.JobTimeout.D(),
		}, zap.NewNop())
		must(en.t, err)
		e.dir = d
	})
}

// reference is WeCom after the same first sync with jobs that end at once.
func reference(t *testing.T) string {
	t.Helper()
	ref := newEnv(t, true)
	ref.mustSync()
	return snapshot(ref.emu)
}

// firstRunLeavesTheJob runs the first sync, whose job outlives its wait:
// its 20 creates are left pending.
func firstRunLeavesTheJob(t *testing.T, en *env, clk *fakeclock.Clock) {
	t.Helper()
	rep, err := en.openOn(clk).RunOnce(context.Background(), Options{})
	if err != nil && rep == nil {
		t.Fatalf("first run: %v", err)
	}
	pending := 0
	for _, p := range rep.Pending {
		if p.Op == "user_create" {
			pending++
		}
	}
	if pending != 20 || rep.Changes["user_create"] != 0 {
		t.Fatalf("first run: %d creates pending, %d made; want the job's 20 pending (%v)", pending, rep.Changes["user_create"], err)
	}
	if s := en.emu.Stats(); s.Calls["batch/syncuser"] != 1 || s.Calls["user/create"] != 0 {
		t.Fatalf("first run's calls %v", s.Calls)
	}
}

// converged checks that WeCom is as the reference has it, with one import
// job ever, no member made twice, and that the next run writes nothing.
func converged(t *testing.T, en *env, clk *fakeclock.Clock, want string) {
	t.Helper()
	s := en.emu.Stats()
	if s.Calls["batch/syncuser"] != 1 || s.Calls["user/create"] != 0 {
		t.Errorf("calls %v: want the one import job and no create one call each", s.Calls)
	}
	if n := s.Errors["user/create"][client.CodeUserExists] + s.Errors["user/update"][client.CodeUserExists]; n != 0 {
		t.Errorf("%d duplicate creates (60102)", n)
	}
	if n := s.Errors["batch/syncuser"][client.CodeJobRunning]; n != 0 {
		t.Errorf("%d second import jobs refused (302008)", n)
	}
	if pend, _ := en.e.Store().Pending(context.Background()); len(pend) != 0 {
		t.Errorf("%d journal entries left pending", len(pend))
	}
	if got := snapshot(en.emu); got != want {
		t.Fatalf("WeCom differs from an uninterrupted sync:\n got %s\nwant %s", got, want)
	}
	writes := s.Writes
	rep, err := en.openOn(clk).RunOnce(context.Background(), Options{})
	if err != nil || rep.Status != StatusSucceeded {
		t.Fatalf("the run after: %v (%+v)", err, rep)
	}
	if w := en.emu.Stats().Writes - writes; w != 0 {
		t.Fatalf("the run after made %d writes: %v", w, rep.Changes)
	}
}

func TestTheNextRunAwaitsAJobThatOutlivedJobTimeout(t *testing.T) {
	for _, c := range []struct {
		name string
		pg   bool
	}{{name: "sqlite"}, {name: "postgres", pg: true}} {
		t.Run(c.name, func(t *testing.T) {
			want := reference(t)
			// 20 rows at 6 s each: two minutes, twice job_timeout, and well
			// inside the next run's own bound (5 min and 20 ms a row).
			en, clk := jobEnv(t, time.Second, 6*time.Second, emulator.Options{}, nil)
			if c.pg {
				pg := testservers.StartPostgres(t)
				dsn, err := pg.NewDatabase()
				must(t, err)
				must(t, os.WriteFile(filepath.Join(en.dir, "pg-dsn"), []byte(dsn+"\n"), 0o600))
				en.state = "state:\n  driver: postgres\n  dsn_file: pg-dsn"
			}
			firstRunLeavesTheJob(t, en, clk)
			// The next run starts at once, while the job still runs.
			rep, err := en.openOn(clk).RunOnce(context.Background(), Options{})
			if err != nil {
				t.Fatalf("next run: %v (%+v)", err, rep.Failures)
			}
			if rep.Settled != 0 {
				t.Errorf("%d entries settled from WeCom's lists, want every row settled from the job", rep.Settled)
			}
			converged(t, en, clk, want)
		})
	}
}

func TestARunStartingWhileTheJobStillRunsChangesNothingAndSaysSo(t *testing.T) {
	want := reference(t)
	// An hour's job: past the first run's minute and the next run's bound.
	en, clk := jobEnv(t, time.Hour, time.Second, emulator.Options{}, nil)
	firstRunLeavesTheJob(t, en, clk)
	before, start := en.emu.Stats(), clk.Now()
	rep, err := en.openOn(clk).RunOnce(context.Background(), Options{})
	if !errors.Is(err, ErrJobRunning) || rep.Status != StatusFailed || !strings.Contains(rep.Error, "still running") || !strings.Contains(rep.Error, "20 rows") {
		t.Fatalf("the run behind the job: %v; report %q %q", err, rep.Status, rep.Error)
	}
	t.Logf("the run behind the job: %s", rep.Error)
	if waited := clk.Now().Sub(start); waited < 5*time.Minute || waited > 6*time.Minute {
		t.Errorf("waited %s for the job, want its bound", waited)
	}
	after := en.emu.Stats()
	if w := after.Writes - before.Writes; w != 0 {
		t.Fatalf("%d writes behind a running job: %v", w, after.Calls)
	}
	if pend, _ := en.e.Store().Pending(context.Background()); len(pend) != 20 {
		t.Fatalf("%d entries pending, want the job's 20 left for later", len(pend))
	}
	// The run after that, once the job ended, settles them from the job.
	clk.Advance(time.Hour)
	if rep, err := en.openOn(clk).RunOnce(context.Background(), Options{}); err != nil {
		t.Fatalf("the run after the job ended: %v (%+v)", err, rep.Failures)
	}
	converged(t, en, clk, want)
}

// killedAtSubmit is the state store as a run sees it that dies right
// after its import job was submitted and its jobid recorded, before the
// first batch/getresult: the run's context is cancelled, and no journal
// write after that instant is recorded.
type killedAtSubmit struct {
	*state.Store
	cancel context.CancelFunc
	mu     sync.Mutex
	dead   bool
}

func (k *killedAtSubmit) arriving(api string) {
	if api != "batch/getresult" {
		return
	}
	k.mu.Lock()
	k.dead = true
	k.mu.Unlock()
	k.cancel()
}

func (k *killedAtSubmit) killed() bool { k.mu.Lock(); defer k.mu.Unlock(); return k.dead }

func (k *killedAtSubmit) Begin(ctx context.Context, run int64, op, obj string, b, a any) (int64, error) {
	if k.killed() {
		return 0, errKilled
	}
	return k.Store.Begin(ctx, run, op, obj, b, a)
}

func (k *killedAtSubmit) Finish(ctx context.Context, id int64, status string, code int, msg string, mut state.Mutation) error {
	if k.killed() {
		return errKilled
	}
	return k.Store.Finish(ctx, id, status, code, msg, mut)
}

func (k *killedAtSubmit) FinishMany(ctx context.Context, e []state.FinishEntry) error {
	if k.killed() {
		return errKilled
	}
	return k.Store.FinishMany(ctx, e)
}

func (k *killedAtSubmit) SettleImportJob(ctx context.Context, id int64, outcome string, e []state.FinishEntry) error {
	if k.killed() {
		return errKilled
	}
	return k.Store.SettleImportJob(ctx, id, outcome, e)
}

func TestAKillRightAfterTheSubmitConvergesFromTheJob(t *testing.T) {
	want := reference(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := &killedAtSubmit{cancel: cancel}
	en, clk := jobEnv(t, time.Second, 6*time.Second, emulator.Options{}, k.arriving)
	e := en.openOn(clk)
	e.wrapJournal = func(s *state.Store) directory.Journal { k.Store = s; return k }
	if _, err := e.RunOnce(ctx, Options{}); err == nil {
		t.Fatal("the killed run succeeded")
	}
	if pend, _ := e.Store().Pending(context.Background()); len(pend) != 20 {
		t.Fatalf("%d entries pending after the kill, want the job's 20", len(pend))
	}
	// A new process, at once: the job is still running.
	rep, err := en.openOn(clk).RunOnce(context.Background(), Options{})
	if err != nil {
		t.Fatalf("the run after the kill: %v (%+v)", err, rep.Failures)
	}
	converged(t, en, clk, want)
}

func TestAJobWeComForgotIsSettledFromItsListsAsBefore(t *testing.T) {
	want := reference(t)
	// The job's result is gone when the next run asks (40089), as after
	// five newer jobs, or if results expire with time (UNCONFIRMED).
	en, clk := jobEnv(t, time.Second, 6*time.Second, emulator.Options{JobResultTTL: 10 * time.Minute}, nil)
	firstRunLeavesTheJob(t, en, clk)
	clk.Advance(time.Hour)
	rep, err := en.openOn(clk).RunOnce(context.Background(), Options{})
	if err != nil {
		t.Fatalf("next run: %v (%+v)", err, rep.Failures)
	}
	if rep.Settled != 20 {
		t.Errorf("%d entries settled from WeCom's lists, want the job's 20", rep.Settled)
	}
	converged(t, en, clk, want)
}

// TestAStuckJobIsNoLongerAwaitedAfterMaxJobAge: a job WeCom reports running
// for longer than any import takes would fail every later run for good.
// Past maxJobAge the run stops awaiting it, settles its rows from WeCom's
// lists and goes on, making no second job while WeCom's still runs.
func TestAStuckJobIsNoLongerAwaitedAfterMaxJobAge(t *testing.T) {
	// A day's job: stuck, as far as any run can tell.
	en, clk := jobEnv(t, time.Hour, 24*time.Hour/20, emulator.Options{}, nil)
	firstRunLeavesTheJob(t, en, clk)
	if _, err := en.openOn(clk).RunOnce(context.Background(), Options{}); !errors.Is(err, ErrJobRunning) {
		t.Fatalf("the run behind a fresh job: %v, want ErrJobRunning", err)
	}
	// The state store's clock (submit times) is the real one here; the
	// client's is the fake one the emulator's job runs on.
	clk.Advance(maxJobAge)
	e := en.openOn(clk)
	e.SetClock(func() time.Time { return time.Now().Add(maxJobAge) })
	before, start := en.emu.Stats(), clk.Now()
	rep, err := e.RunOnce(context.Background(), Options{})
	if errors.Is(err, ErrJobRunning) {
		t.Fatalf("a job older than %s still stops the run: %v", maxJobAge, err)
	}
	if waited := clk.Now().Sub(start); waited >= 5*time.Minute {
		t.Errorf("waited %s for a stuck job", waited)
	}
	if open, err := en.e.Store().OpenImportJobs(context.Background()); err != nil || len(open) != 0 {
		t.Fatalf("open jobs after the stuck one was given up: %v %v", open, err)
	}
	after := en.emu.Stats()
	if n := after.Errors["batch/syncuser"][0] - before.Errors["batch/syncuser"][0]; n != 0 {
		t.Errorf("%d second jobs accepted behind a running one", n)
	}
	if len(rep.Pending) != 20 || !strings.Contains(rep.Pending[0].Error, "302008") {
		t.Errorf("the stuck job's rows: %d pending (%+v), want its 20 left for later behind WeCom's 302008", len(rep.Pending), rep.Pending)
	}
	if n := after.Calls["user/create"] - before.Calls["user/create"]; n != 0 {
		t.Errorf("%d one-call creates of rows WeCom's job still makes", n)
	}
	t.Logf("the run after giving the job up: %s, %d pending", rep.Status, len(rep.Pending))
}

// TestAPlanLooksAtARunningJobOnceAndSaysSo: a plan (Prepare, a dry run)
// behind a running import job does not wait the job's bound, as a run
// does: it looks once and stops with ErrJobRunning, writing nothing, so
// an operator at a terminal learns it at once.
func TestAPlanLooksAtARunningJobOnceAndSaysSo(t *testing.T) {
	en, clk := jobEnv(t, time.Hour, time.Second, emulator.Options{}, nil)
	firstRunLeavesTheJob(t, en, clk)
	before, start := en.emu.Stats(), clk.Now()
	_, err := en.openOn(clk).Prepare(context.Background(), 0)
	if !errors.Is(err, ErrJobRunning) || !strings.Contains(err.Error(), "a plan does not wait") {
		t.Fatalf("a plan behind a running job: %v", err)
	}
	if waited := clk.Now().Sub(start); waited > 10*time.Second {
		t.Errorf("the plan waited %s for the job", waited)
	}
	rep, err := en.e.RunOnce(context.Background(), Options{DryRun: true})
	if !errors.Is(err, ErrJobRunning) || rep.Status != StatusFailed {
		t.Fatalf("a dry run behind a running job: %v (%s)", err, rep.Status)
	}
	if w := en.emu.Stats().Writes - before.Writes; w != 0 {
		t.Fatalf("%d writes", w)
	}
	if pend, _ := en.e.Store().Pending(context.Background()); len(pend) != 20 {
		t.Fatalf("%d entries pending, want the job's 20", len(pend))
	}
}
