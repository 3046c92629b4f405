package wecom_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/fakeclock"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// Import jobs that outlive their run (issue 12 §1). The emulator and the
// client share a fake clock, and the client makes one call at a time:
// every sleep moves the job on by exactly that much.

var jobsEpoch = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// slowJobWorld is a directory whose import jobs take jobDelay plus a
// second a row, and which waits jobTimeout for one.
func slowJobWorld(t *testing.T, jobDelay, jobTimeout time.Duration, opts emulator.Options) (*wecom.Directory, *emulator.Server, *state.Store, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(jobsEpoch)
	opts.JobDelay, opts.JobRowsPerSecond, opts.Now = jobDelay, 1, clk.Now
	d, emu, st := batchWorldWith(t, opts, wecom.Config{BatchThreshold: 10, JobTimeout: jobTimeout,
		Client: client.Config{Clock: clk, Concurrency: 1}})
	return d, emu, st, clk
}

// replanCreates is the next run's plan for want: the creates of the
// members the shadow does not own yet (a member the job made but the
// run did not settle would be made again, and give 60102).
func replanCreates(t *testing.T, st *state.Store, want *plan.Changes) *plan.Changes {
	t.Helper()
	sh, err := st.LoadShadow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ch := &plan.Changes{}
	for _, u := range want.UserCreates {
		if sh.Members[model.UserIDKey(u.UserID)] == nil {
			ch.UserCreates = append(ch.UserCreates, u)
		}
	}
	return ch
}

// noRacingWrites fails when the emulator saw a create or import that
// raced (or duplicated) the first job.
func noRacingWrites(t *testing.T, emu *emulator.Server, jobs int) {
	t.Helper()
	s := emu.Stats()
	if s.Calls["batch/syncuser"] != jobs {
		t.Errorf("%d import jobs submitted, want %d", s.Calls["batch/syncuser"], jobs)
	}
	if n := s.Errors["user/create"][client.CodeUserExists]; n != 0 {
		t.Errorf("%d creates of members the job made (60102)", n)
	}
	if n := s.Errors["batch/syncuser"][client.CodeJobRunning]; n != 0 {
		t.Errorf("%d import jobs refused behind the running one (302008)", n)
	}
}

func statuses(t *testing.T, st *state.Store, runID int64) map[string]int {
	t.Helper()
	counts, err := st.JournalCounts(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, by := range counts {
		for s, n := range by {
			out[s] += n
		}
	}
	return out
}

func TestTheNextRunSettlesAJobThatOutlivedItsWaitFromTheJobsResult(t *testing.T) {
	// 40 rows at a second each: the job runs 40 s past its 1 s start,
	// three times the submitting run's 15 s wait, well inside the next
	// run's own bound (5 min and 20 ms a row).
	d, emu, st, _ := slowJobWorld(t, time.Second, 15*time.Second, emulator.Options{})
	ctx := context.Background()
	// Someone else's member holds row 7's mobile: the job rejects that row.
	if err := d.Client().CreateUser(ctx, client.UserCreate{UserID: "other", Name: "别人", Mobile: "13800000007", Department: []int{1}}); err != nil {
		t.Fatal(err)
	}
	emu.ResetStats()
	want := creates(40)
	res, err := d.Apply(ctx, want, st, directory.ApplyOptions{RunID: 1})
	if err != nil || len(res.Pending) != 40 || !strings.Contains(res.Pending[0].Error, "the next run awaits its result") {
		t.Fatalf("apply: %v, %d pending (%+v)", err, len(res.Pending), res.Pending)
	}
	// The next run starts at once, while the job still runs.
	running, err := d.AwaitJobs(ctx, st)
	if err != nil || len(running) != 0 {
		t.Fatalf("AwaitJobs = %v, %v", running, err)
	}
	if got := statuses(t, st, 1); got[state.StatusResolved] != 39 || got[state.StatusFailed] != 1 || len(got) != 2 {
		t.Fatalf("run 1's rows after the await: %v; want 39 resolved and the rejected row failed", got)
	}
	if pend, _ := st.Pending(ctx); len(pend) != 0 {
		t.Fatalf("%d rows left for the list-based settle", len(pend))
	}
	if open, _ := st.OpenImportJobs(ctx); len(open) != 0 {
		t.Fatalf("jobs still open: %+v", open)
	}
	// The plan makes only the rejected row again, one call: its own
	// errcode, and nothing the job made.
	res, err = d.Apply(ctx, replanCreates(t, st, want), st, directory.ApplyOptions{RunID: 2})
	if err != nil || len(res.Failed) != 1 || res.Failed[0].Object != "u007" || res.Failed[0].Code != client.CodeMobileExists {
		t.Fatalf("the next run's apply: %v %+v", err, res)
	}
	noRacingWrites(t, emu, 1)
	if n := emu.Stats().Calls["user/create"]; n != 1 {
		t.Fatalf("%d creates one call each, want the rejected row's only", n)
	}
	sh, _ := st.LoadShadow(ctx)
	if len(sh.Members) != 39 || sh.Members["u001"].Person.Position != "工程师" {
		t.Fatalf("%d members owned", len(sh.Members))
	}
}

func TestAnUpdateJobSettledByTheNextRunKeepsTheMembersOwnershipAndClock(t *testing.T) {
	d, emu, st, clk := slowJobWorld(t, time.Second, time.Minute, emulator.Options{})
	ctx := context.Background()
	created := creates(300)
	for i := range created.UserCreates {
		created.UserCreates[i].After.DirectLeaders = nil
	}
	// The first import outlives its minute too; an hour later the next
	// run settles it from the job.
	if _, err := d.Apply(ctx, created, st, directory.ApplyOptions{RunID: 1}); err != nil {
		t.Fatal(err)
	}
	_ = clk.Sleep(ctx, time.Hour)
	if running, err := d.AwaitJobs(ctx, st); err != nil || len(running) != 0 {
		t.Fatalf("AwaitJobs after the first import = %v, %v", running, err)
	}
	// u005 is adopted and carries a leaver clock: the settle keeps both.
	disabled := jobsEpoch.Add(-time.Hour).Truncate(time.Second)
	sh, _ := st.LoadShadow(ctx)
	if len(sh.Members) != 300 {
		t.Fatalf("%d members owned after the first import", len(sh.Members))
	}
	m := *sh.Members["u005"]
	m.Adopted, m.DisabledAt = true, disabled
	if err := st.Apply(ctx, state.Mutation{PutMember: &m}); err != nil {
		t.Fatal(err)
	}
	// Someone else holds the number row 140 moves to: the job rejects it.
	if err := d.Client().CreateUser(ctx, client.UserCreate{UserID: "other", Name: "别人", Mobile: "13900000140", Department: []int{1}}); err != nil {
		t.Fatal(err)
	}
	emu.ResetStats()
	sh, _ = st.LoadShadow(ctx)
	res, err := d.Apply(ctx, updates(created, 0, 150, 0), st, directory.ApplyOptions{RunID: 2, Shadow: sh})
	if err != nil || len(res.Pending) != 150 {
		t.Fatalf("updates: %v, %d pending", err, len(res.Pending))
	}
	if running, err := d.AwaitJobs(ctx, st); err != nil || len(running) != 0 {
		t.Fatalf("AwaitJobs = %v, %v", running, err)
	}
	if pend, _ := st.Pending(ctx); len(pend) != 0 {
		t.Fatalf("%d rows left pending", len(pend))
	}
	if got := statuses(t, st, 2); got[state.StatusResolved] != 149 || got[state.StatusFailed] != 1 {
		t.Fatalf("run 2's rows: %v; want 149 resolved and the rejected row failed (planned again)", got)
	}
	sh, _ = st.LoadShadow(ctx)
	for _, c := range []struct {
		name       string
		userid     string
		mobile     string
		adopted    bool
		disabledAt time.Time
	}{
		{"a row the job made is in the shadow", "u000", "13900000000", false, time.Time{}},
		{"an adopted member with a leaver clock keeps both", "u005", "13900000005", true, disabled},
		{"a row the job rejected keeps the old value", "u140", "13800000140", false, time.Time{}},
		{"a member not in the file is as it was", "u200", "13800000200", false, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := sh.Members[c.userid]
			if m == nil || m.Person.Mobile != c.mobile || m.Adopted != c.adopted || !m.DisabledAt.Equal(c.disabledAt) {
				t.Fatalf("%s = %+v", c.userid, m)
			}
		})
	}
	noRacingWrites(t, emu, 1)
}

func TestAJobStillRunningAfterTheBoundIsLeftPendingUntilItEnds(t *testing.T) {
	// An hour's job: past the submitting run's minute and the next run's
	// bound both.
	d, emu, st, clk := slowJobWorld(t, time.Hour, time.Minute, emulator.Options{})
	ctx := context.Background()
	want := creates(40)
	if res, err := d.Apply(ctx, want, st, directory.ApplyOptions{RunID: 1}); err != nil || len(res.Pending) != 40 {
		t.Fatalf("apply: %v, %d pending", err, len(res.Pending))
	}
	before, start := emu.Stats(), clk.Now()
	running, err := d.AwaitJobs(ctx, st)
	if err != nil || len(running) != 1 || !strings.Contains(running[0], "not finished after waiting") || !strings.Contains(running[0], "40 rows") {
		t.Fatalf("AwaitJobs = %q, %v", running, err)
	}
	if waited := clk.Now().Sub(start); waited < 5*time.Minute || waited > 6*time.Minute {
		t.Fatalf("waited %s for the job, want its bound (5 min and 20 ms a row)", waited)
	}
	if w := emu.Stats().Writes - before.Writes; w != 0 {
		t.Fatalf("%d writes while awaiting", w)
	}
	if pend, _ := st.Pending(ctx); len(pend) != 40 {
		t.Fatalf("%d rows pending, want all 40 left for later", len(pend))
	}
	if open, _ := st.OpenImportJobs(ctx); len(open) != 1 {
		t.Fatalf("open jobs %+v", open)
	}
	// The run after that, once the job ended, settles every row from it.
	_ = clk.Sleep(ctx, time.Hour)
	settledFromTheJob(t, d, st, emu, want)
}

// cancelAfterSubmit is the state store as a run sees it that is killed
// the instant its import job is recorded: the job's record is written,
// and no journal write after it is.
type cancelAfterSubmit struct {
	*state.Store
	cancel context.CancelFunc
	mu     sync.Mutex
	dead   bool
}

func (c *cancelAfterSubmit) RecordImportJob(ctx context.Context, runID int64, job string, entries []int64) (int64, error) {
	id, err := c.Store.RecordImportJob(ctx, runID, job, entries)
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	c.cancel()
	return id, err
}

func (c *cancelAfterSubmit) killed() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.dead }

func (c *cancelAfterSubmit) FinishMany(ctx context.Context, e []state.FinishEntry) error {
	if c.killed() {
		return context.Canceled
	}
	return c.Store.FinishMany(ctx, e)
}

func (c *cancelAfterSubmit) SettleImportJob(ctx context.Context, id int64, outcome string, e []state.FinishEntry) error {
	if c.killed() {
		return context.Canceled
	}
	return c.Store.SettleImportJob(ctx, id, outcome, e)
}

func TestAKillRightAfterTheSubmitIsSettledFromTheJob(t *testing.T) {
	d, emu, st, _ := slowJobWorld(t, time.Second, time.Minute, emulator.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want := creates(40)
	j := &cancelAfterSubmit{Store: st, cancel: cancel}
	if _, err := d.Apply(ctx, want, j, directory.ApplyOptions{RunID: 1}); err == nil {
		t.Fatal("the killed run's apply succeeded")
	}
	// Every row is still pending, as after kill -9: nothing recorded its
	// outcome.
	if pend, _ := st.Pending(context.Background()); len(pend) != 40 || pend[0].Status != state.StatusPending {
		t.Fatalf("%d pending after the kill", len(pend))
	}
	settledFromTheJob(t, d, st, emu, want)
}

func TestAJobWeComNoLongerKnowsIsSettledFromItsLists(t *testing.T) {
	for _, c := range []struct {
		name   string
		opts   emulator.Options
		refuse int // getresult's errcode from the start, instead of the emulator's
	}{
		{name: "40089: its result expired (JobResultTTL)", opts: emulator.Options{JobResultTTL: 10 * time.Minute}},
		{name: "40088: WeCom does not know the id", refuse: client.CodeJobUnknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := fakeclock.New(jobsEpoch)
			c.opts.JobDelay, c.opts.JobRowsPerSecond, c.opts.Now = time.Second, 1, clk.Now
			refuse := ""
			if c.refuse != 0 {
				refuse = "batch/getresult"
			}
			d, emu, st := batchWorldRefusing(t, c.opts, wecom.Config{BatchThreshold: 10, JobTimeout: 15 * time.Second,
				Client: client.Config{Clock: clk, Concurrency: 1}}, refuse, c.refuse)
			ctx := context.Background()
			want := creates(40)
			if res, err := d.Apply(ctx, want, st, directory.ApplyOptions{RunID: 1}); err != nil || len(res.Pending) != 40 {
				t.Fatalf("apply: %v, %d pending", err, len(res.Pending))
			}
			_ = clk.Sleep(ctx, time.Hour) // the job ends, and its result expires
			if running, err := d.AwaitJobs(ctx, st); err != nil || len(running) != 0 {
				t.Fatalf("AwaitJobs = %v, %v", running, err)
			}
			jobs, _ := st.ImportJobs(ctx, 0)
			if len(jobs) != 1 || jobs[0].Outcome != state.JobUnknown {
				t.Fatalf("jobs %+v", jobs)
			}
			// Nothing was settled from a result: the rows go to the lists.
			if pend, _ := st.Pending(ctx); len(pend) != 40 {
				t.Fatalf("%d pending", len(pend))
			}
			settleNextRun(t, d, st)
			if ch := replanCreates(t, st, want); len(ch.UserCreates) != 0 {
				t.Fatalf("%d creates planned again", len(ch.UserCreates))
			}
			noRacingWrites(t, emu, 1)
		})
	}
}

func TestAJournalThatKeepsNoJobsAwaitsNothing(t *testing.T) {
	d, _, st, _ := slowJobWorld(t, time.Second, time.Minute, emulator.Options{})
	// A wrapper with only the journal's own methods: no job store.
	var j directory.Journal = struct{ directory.Journal }{st}
	if running, err := d.AwaitJobs(context.Background(), j); err != nil || running != nil {
		t.Fatalf("AwaitJobs = %v, %v", running, err)
	}
}

// settledFromTheJob is the next run's await of run 1's job of want's 40
// creates: every row settled from the job's result, none planned again,
// and no write that would have raced the job.
func settledFromTheJob(t *testing.T, d *wecom.Directory, st *state.Store, emu *emulator.Server, want *plan.Changes) {
	t.Helper()
	if running, err := d.AwaitJobs(context.Background(), st); err != nil || len(running) != 0 {
		t.Fatalf("AwaitJobs = %v, %v", running, err)
	}
	if got := statuses(t, st, 1); got[state.StatusResolved] != 40 {
		t.Fatalf("run 1's rows: %v", got)
	}
	if ch := replanCreates(t, st, want); len(ch.UserCreates) != 0 {
		t.Fatalf("%d creates planned again", len(ch.UserCreates))
	}
	noRacingWrites(t, emu, 1)
}
