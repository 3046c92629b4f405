package wecom_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

type applyEnv struct {
	url    string
	emu    *emulator.Server
	client *client.Client
	store  *state.Store
}

func newApplyEnv(t *testing.T, opts emulator.Options, tweak ...func(*client.Config)) *applyEnv {
	t.Helper()
	opts.Secrets = []emulator.SecretSpec{{Secret: "apply-secret", Role: emulator.RoleContactsSyncEdit}}
	opts.CorpID = "wwapplytest"
	opts.RestrictedReads = true
	emu, err := emulator.New(opts, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := client.Config{BaseURL: srv.URL, CorpID: "wwapplytest", Secret: config.Secret("apply-secret"),
		RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := client.New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &applyEnv{url: srv.URL, emu: emu, client: c, store: st}
}

// current reads WeCom the way the engine does (simplelist + list_id).
func (e *applyEnv) current(t *testing.T) plan.Current { return readCurrent(t, e.client) }

// readCurrent reads the whole emulator through c (simplelist + list_id), as
// the directory's Load does with the whole corp in scope.
func readCurrent(t *testing.T, c *client.Client) plan.Current {
	t.Helper()
	ctx := context.Background()
	refs, err := c.DepartmentSimpleList(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	cur := plan.Current{Departments: map[int]plan.CurrentDept{}, Members: map[string]*plan.CurrentMember{}}
	for _, r := range refs {
		cur.Departments[r.ID] = plan.CurrentDept{ID: r.ID, ParentID: r.ParentID, Order: r.Order}
	}
	rows, err := c.ListUserIDs(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		k := model.UserIDKey(r.UserID)
		if cur.Members[k] == nil {
			cur.Members[k] = &plan.CurrentMember{UserID: r.UserID}
		}
		cur.Members[k].Departments = append(cur.Members[k].Departments, r.Department)
	}
	return cur
}

// sync plans against the emulator and applies, returning the plan and result.
func (e *applyEnv) sync(t *testing.T, desired model.Org, pol plan.Policy) (*plan.Changes, wecom.Result) {
	t.Helper()
	ctx := context.Background()
	sh, err := e.store.LoadShadow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pol.Mode == "" {
		pol.Mode = plan.ModeSync
	}
	ch := plan.Calculate(plan.Input{Desired: desired, Current: e.current(t), Shadow: sh, Policy: pol, Now: time.Now()})
	run, _ := e.store.StartRun(ctx)
	a := &wecom.Applier{Client: e.client, Journal: e.store, RunID: run, Shadow: sh, RootID: 1, Concurrency: 4}
	res, err := a.Apply(ctx, ch)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return ch, res
}

func company(n int) model.Org {
	org := model.Org{Departments: []model.Department{
		{Key: "总部", Name: "总部"},
		{Key: "总部/研发", Name: "研发", ParentKey: "总部", Order: 20},
		{Key: "总部/销售", Name: "销售", ParentKey: "总部", Order: 10},
	}}
	for i := 1; i <= n; i++ {
		p := model.Person{Key: fmt.Sprintf("E%03d", i), UserID: fmt.Sprintf("u%03d", i), Name: fmt.Sprintf("员工%d", i),
			Mobile: fmt.Sprintf("1380000%04d", i), Enabled: true, Departments: []string{"总部/研发"}}
		if i%2 == 0 {
			p.Departments = []string{"总部/销售"}
		}
		if i > 1 && i < n {
			// Every member reports to the last person, listed after them.
			p.DirectLeaders = []string{fmt.Sprintf("u%03d", n)}
		}
		org.People = append(org.People, p)
	}
	return org
}

func TestApplyFirstSyncConvergesAndLinksLeadersCreatedLater(t *testing.T) {
	env := newApplyEnv(t, emulator.Options{})
	org := company(9)
	ch, res := env.sync(t, org, plan.Policy{})
	if res.Done[plan.OpDeptCreate] != 3 || res.Done[plan.OpUserCreate] != 9 || len(res.Failed) != 0 {
		t.Fatalf("result = %+v (plan %d changes)", res, ch.Total())
	}
	snap := env.emu.State()
	if len(snap.Users) != 9 {
		t.Fatalf("emulator has %d users", len(snap.Users))
	}
	for _, u := range snap.Users {
		if u.UserID != "u009" && u.UserID != "u001" && (len(u.DirectLeader) != 1 || u.DirectLeader[0] != "u009") {
			t.Fatalf("%s direct_leader = %v, want [u009]", u.UserID, u.DirectLeader)
		}
	}
	// Leaders are created before their reports, so no link needs an update.
	if n := env.emu.Stats().Calls["user/update"]; n != 0 {
		t.Fatalf("first sync made %d user/update calls; leader links belong in the creates", n)
	}
	// The next plan is empty: zero write calls on a quiet night.
	before := env.emu.Stats().Writes
	ch2, _ := env.sync(t, org, plan.Policy{})
	if !ch2.Empty() {
		t.Fatalf("second plan not empty: %+v", ch2.Counts())
	}
	if w := env.emu.Stats().Writes - before; w != 0 {
		t.Fatalf("second sync made %d write calls", w)
	}
}

func TestApplyBatchDeleteSurvivesAnIDAlreadyGone(t *testing.T) {
	env := newApplyEnv(t, emulator.Options{})
	org := company(5)
	env.sync(t, org, plan.Policy{})
	// Everyone but u001 leaves; u003 is deleted by hand between plan and apply.
	ctx := context.Background()
	sh, _ := env.store.LoadShadow(ctx)
	leaveOrg := org
	leaveOrg.People = org.People[:1]
	ch := plan.Calculate(plan.Input{Desired: leaveOrg, Current: env.current(t), Shadow: sh, Policy: plan.Policy{Mode: plan.ModeSync, Leavers: "delete"}, Now: time.Now()})
	if len(ch.UserDeletes) != 4 {
		t.Fatalf("plan deletes = %d", len(ch.UserDeletes))
	}
	if err := env.client.DeleteUser(ctx, "u003"); err != nil {
		t.Fatal(err)
	}
	a := &wecom.Applier{Client: env.client, Journal: env.store, RunID: 2, Shadow: sh, RootID: 1}
	res, err := a.Apply(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Done[plan.OpUserDelete] != 4 || len(res.Failed) != 0 {
		t.Fatalf("result = %+v", res)
	}
	if n := len(env.emu.State().Users); n != 1 {
		t.Fatalf("emulator has %d users, want 1", n)
	}
}

func TestApplyStopsCreatesAtTheSeatQuotaAndFinishesTheRest(t *testing.T) {
	env := newApplyEnv(t, emulator.Options{MaxSeats: 4})
	org := company(6)
	for i := range org.People {
		org.People[i].DirectLeaders = nil
	}
	_, res := env.sync(t, org, plan.Policy{})
	if res.Done[plan.OpUserCreate] != 4 {
		t.Fatalf("created %d, want 4 (the quota)", res.Done[plan.OpUserCreate])
	}
	if res.Done[plan.OpDeptCreate] != 3 {
		t.Fatalf("departments created %d, want 3", res.Done[plan.OpDeptCreate])
	}
	quota := 0
	for _, f := range append(res.Failed, res.Pending...) {
		if f.Op == plan.OpUserCreate {
			quota++
		}
	}
	if quota != 2 {
		t.Fatalf("failed+pending creates = %d, want 2: %+v", quota, res)
	}
}

func TestApplyStopsABannedAPIAndTheNextRunPicksUpTheRest(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	// WeCom allows 4 calls per API per window; the client does not wait a
	// window out (MaxBanWait is tiny), as with an hour-long ban.
	env := newApplyEnv(t, emulator.Options{RateLimitPerMinute: 4, RateLimitWindow: time.Hour, Now: clock},
		func(c *client.Config) { c.MaxBanWait = time.Millisecond; c.Concurrency = 1 })
	org := company(6)
	for i := range org.People {
		org.People[i].DirectLeaders = nil
	}
	_, res := env.sync(t, org, plan.Policy{})
	if res.Done[plan.OpDeptCreate] != 3 || res.Done[plan.OpUserCreate] != 4 {
		t.Fatalf("done = %v", res.Done)
	}
	if len(res.Pending) != 2 || !strings.Contains(res.Pending[0].Error, "45009") {
		t.Fatalf("pending = %+v, failed = %+v", res.Pending, res.Failed)
	}
	if n := env.emu.Stats().Errors["user/create"][45009]; n != 1 {
		t.Fatalf("WeCom answered 45009 %d times: the client kept calling a banned API", n)
	}
	// The next run, after the window, creates the rest.
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	env.client, _ = client.New(client.Config{BaseURL: env.url, CorpID: "wwapplytest", Secret: config.Secret("apply-secret")}, zap.NewNop())
	_, res = env.sync(t, org, plan.Policy{})
	if res.Done[plan.OpUserCreate] != 2 || len(res.Pending)+len(res.Failed) != 0 {
		t.Fatalf("next run: %+v", res)
	}
	if n := len(env.emu.State().Users); n != 6 {
		t.Fatalf("users = %d", n)
	}
}

// TestApplyConvergesWhenAnswersAreLostAfterWritesApplied: with WeCom
// applying writes but the connection dropping before the answer, the
// client retries; a retried create meets 60102 and apply turns it into an
// update of the member it meant to create; a retried delete meets 60111
// and counts as done.
func TestApplyConvergesWhenAnswersAreLostAfterWritesApplied(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			env := newApplyEnv(t, emulator.Options{Seed: seed}, func(c *client.Config) { c.MaxRetries = 8 })
			env.emu.SetFaults(emulator.Faults{Rate: 0.3, Kinds: []string{emulator.FaultDropAfter}})
			org := company(20)
			_, res := env.sync(t, org, plan.Policy{})
			if len(res.Failed) != 0 || res.Done[plan.OpUserCreate] != 20 || res.Done[plan.OpDeptCreate] != 3 {
				t.Fatalf("result = %+v", res)
			}
			if env.emu.Stats().Faults[emulator.FaultDropAfter] == 0 {
				t.Fatal("no answer was lost: the test proves nothing")
			}
			env.emu.SetFaults(emulator.Faults{})
			for _, u := range env.emu.State().Users {
				if u.Name == "" || len(u.Department) == 0 {
					t.Fatalf("member %+v incomplete", u)
				}
			}
			before := env.emu.Stats().Writes
			ch, _ := env.sync(t, org, plan.Policy{})
			if !ch.Empty() || env.emu.Stats().Writes != before {
				t.Fatalf("not converged: %v", ch.Counts())
			}
		})
	}
}

// TestApplyFallbacksWereExercised pins a seed under which both idempotent
// fallbacks (60102 on a retried member create, 60008 on a retried
// department create) happen, so the test above cannot pass vacuously.
func TestApplyFallbacksWereExercised(t *testing.T) {
	env := newApplyEnv(t, emulator.Options{Seed: 7}, func(c *client.Config) { c.MaxRetries = 8 })
	env.emu.SetFaults(emulator.Faults{Rate: 0.3, Kinds: []string{emulator.FaultDropAfter}})
	env.sync(t, company(20), plan.Policy{})
	st := env.emu.Stats()
	if st.Errors["user/create"][60102] == 0 || st.Errors["department/create"][60008] == 0 {
		t.Fatalf("seed 7 no longer exercises both fallbacks: %v / %v", st.Errors["user/create"], st.Errors["department/create"])
	}
}
