package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	wecomdir "github.com/orgsync/orgsync/directory/wecom"
	wecom "github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// outsideScope makes department 2 the managed root and department 900 a
// department beside it, outside the scope, holding a hand-made member whose
// userid is e005's.
func outsideScope(t *testing.T, en *env) {
	t.Helper()
	ctx := context.Background()
	c := en.client()
	if _, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "受管", ParentID: 1, ID: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "外部", ParentID: 1, ID: 900}); err != nil {
		t.Fatal(err)
	}
	must(t, c.CreateUser(ctx, wecom.UserCreate{UserID: "e005", Name: "外人", Mobile: "13900000005", Position: "顾问", Department: []int{900}}))
	en.target = "    root_department_id: 2"
}

func TestAMemberOutsideTheManagedScopeIsNeverTakenOverWithoutAnAdoptRule(t *testing.T) {
	bothReadModes(t, func(t *testing.T, en *env) {
		outsideScope(t, en)
		rep := en.mustSync()
		u := en.user("e005")
		if u == nil || u.Name != "外人" || u.Mobile != "13900000005" || u.Position != "顾问" || len(u.Department) != 1 || u.Department[0] != 900 {
			t.Fatalf("the outside member was changed: %+v", u)
		}
		if rep.Changes["user_create"] != 19 {
			t.Fatalf("want the 19 others created, got %v", rep.Changes)
		}
		found := false
		for _, n := range rep.Plan.Notices {
			if n.Object == "e005" && strings.Contains(n.Msg, "outside the managed scope") {
				found = true
			}
		}
		if !found {
			t.Fatalf("the plan does not say why e005 was left alone: %+v", rep.Plan.Notices)
		}
		// A later run with E005 gone from the source must not touch it either.
		en.rows = append(en.rows[:4], en.rows[5:]...)
		rep = en.mustSync()
		if n := rep.Changes["user_disable"]; n != 0 {
			t.Fatalf("disabled %d members; the outside member is not ours", n)
		}
		if u := en.user("e005"); u.Status == 2 {
			t.Fatalf("outside member disabled: %+v", u)
		}
	})
}

func TestAnAdoptRuleTakesOverAMemberOutsideTheScopeAsAPlannedChange(t *testing.T) {
	en := newEnv(t, true)
	outsideScope(t, en)
	en.extra = "  adopt: [userid]"
	p, err := en.open().Prepare(context.Background(), 0)
	must(t, err)
	var adopt *plan.UserChange
	for i, u := range p.Changes.UserUpdates {
		if u.UserID == "e005" {
			adopt = &p.Changes.UserUpdates[i]
		}
	}
	if adopt == nil || !adopt.Adopt || !strings.Contains(adopt.Reason, "outside the managed scope") {
		t.Fatalf("no visible adopt change for e005: %+v", p.Changes.UserUpdates)
	}
	en.mustSync()
	if u := en.user("e005"); u.Name != "员工5" {
		t.Fatalf("adopted member = %+v", u)
	}
}

// A create that meets 60102 although its own call had no lost answer is
// someone else's member (it appeared after the lists were read): apply
// must not update it.
func TestACreateThatClashesWithSomeoneElsesMemberFailsWithoutWriting(t *testing.T) {
	en := newEnv(t, true)
	ctx := context.Background()
	c := en.client()
	must(t, c.CreateUser(ctx, wecom.UserCreate{UserID: "zhang", Name: "张三(手工)", Mobile: "13900000001", Department: []int{1}}))
	st, err := state.Open(ctx, en.dir+"/state.db")
	must(t, err)
	defer st.Close()
	d, err := wecomdir.New(wecomdir.Config{Client: wecom.Config{BaseURL: en.url, CorpID: testCorp, Secret: config.Secret(testSecret)}}, zap.NewNop())
	must(t, err)
	ch := &plan.Changes{UserCreates: []plan.UserChange{{Op: plan.OpUserCreate, UserID: "zhang", After: &model.Person{UserID: "zhang", Name: "张三", Mobile: "13900000002", Enabled: true}}}}
	res, err := d.Apply(ctx, ch, st, directory.ApplyOptions{})
	must(t, err)
	if len(res.Failed) != 1 || res.Failed[0].Code != wecom.CodeUserExists || !strings.Contains(res.Failed[0].Error, "not taken over") {
		t.Fatalf("result %+v", res)
	}
	if u := en.user("zhang"); u.Name != "张三(手工)" || u.Mobile != "13900000001" {
		t.Fatalf("someone else's member was overwritten: %+v", u)
	}
	sh, err := st.LoadShadow(ctx)
	must(t, err)
	if sh.Members["zhang"] != nil {
		t.Fatal("the clashing member became orgsync's")
	}
}

// Lost answers (the write happened, the answer did not arrive) followed
// by token errors on the retry used to be journaled as failed and the
// member was then never orgsync's. An uncertain call is settled from
// WeCom's lists by the next run.
func TestLostAnswersNeverLoseOwnership(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			en := newEnv(t, true)
			for i := 21; i <= 80; i++ {
				en.rows = append(en.rows, row{id: fmt.Sprintf("E%03d", i), name: fmt.Sprintf("员工%d", i), dept: "D3", mobile: fmt.Sprintf("1380013%04d", i), status: "在职"})
			}
			en.maxDis = "100%"
			en.emu.SetFaults(emulator.Faults{Rate: 0.3, Kinds: []string{emulator.FaultDropAfter, emulator.FaultTokenExpiry}})
			for i := 0; i < 3; i++ {
				_, _ = en.sync(Options{})
			}
			en.emu.SetFaults(emulator.Faults{})
			rep := en.mustSync()
			if rep.Unowned != 0 {
				t.Fatalf("%d members exist in WeCom but are not orgsync's", rep.Unowned)
			}
			sh, err := en.e.Store().LoadShadow(context.Background())
			must(t, err)
			for _, u := range en.emu.State().Users {
				if sh.Members[model.UserIDKey(u.UserID)] == nil {
					t.Errorf("%s exists but is not owned", u.UserID)
				}
			}
			if len(en.emu.State().Users) != 80 {
				t.Fatalf("%d users in WeCom, want 80", len(en.emu.State().Users))
			}
			// Every one of them leaves: every one is disabled (nobody keeps access).
			for i := 1; i < len(en.rows); i++ {
				en.rows[i].status = "离职"
			}
			rep, err = en.sync(Options{AllowDestructive: 1000})
			if err != nil || rep.Changes["user_disable"] != 79 {
				t.Fatalf("leavers: %v %v", err, rep.Changes)
			}
		})
	}
}

// Department ids are unique corp-wide: a managed subtree must not pick an
// id that a department elsewhere already has (60008 on every later run).
func TestNewDepartmentIDsDoNotCollideWithDepartmentsOutsideTheScope(t *testing.T) {
	en := newEnv(t, true)
	ctx := context.Background()
	c := en.client()
	for _, d := range []wecom.DepartmentCreate{{Name: "受管", ParentID: 1, ID: 2}, {Name: "外部甲", ParentID: 1, ID: 3}, {Name: "外部乙", ParentID: 1, ID: 4}} {
		if _, err := c.CreateDepartment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	en.target = "    root_department_id: 2"
	rep := en.mustSync()
	if rep.Failed != 0 || rep.Changes["department_create"] != 4 {
		t.Fatalf("report %+v", rep)
	}
	for _, name := range []string{"外部甲", "外部乙"} {
		if d := en.deptByName(name); d == nil || d.ParentID != 1 {
			t.Fatalf("%s changed: %+v", name, d)
		}
	}
}

func TestARunWhoseProcessDiedIsRecordedAsInterruptedWithWhatItApplied(t *testing.T) {
	en := newEnv(t, true)
	ctx := context.Background()
	// What a process killed mid-apply leaves: a run still "running", two
	// changes done and one call with no answer.
	st, err := state.Open(ctx, en.dir+"/state.db")
	must(t, err)
	id, err := st.StartRun(ctx)
	must(t, err)
	for i, op := range []string{"user_create", "user_create", "user_update"} {
		e, err := st.Begin(ctx, id, op, fmt.Sprintf("u%d", i), nil, nil)
		must(t, err)
		if i < 2 {
			must(t, st.Finish(ctx, e, state.StatusDone, 0, "", state.Mutation{}))
		}
	}
	must(t, st.Close())

	rep := en.mustSync()
	if rep.Settled != 1 {
		t.Fatalf("settled %d, want the one call left without an answer", rep.Settled)
	}
	r, err := en.e.Store().GetRun(ctx, id)
	must(t, err)
	if r.Status != StatusInterrupted || !strings.Contains(string(r.Report), `"user_create":2`) || !strings.Contains(string(r.Report), "stopped during this run (killed or crashed) after 2 changes") {
		t.Fatalf("the killed run reads %s: %s", r.Status, r.Report)
	}
	j, err := en.e.Store().Journal(ctx, state.JournalFilter{RunID: id})
	must(t, err)
	for _, e := range j {
		if e.Status == state.StatusFailed && e.ErrMsg == "" {
			t.Fatalf("entry %d settled as failed without saying why", e.ID)
		}
	}
}

func TestARunThatHoldsChangesOrRejectsRecordsNeedsAttention(t *testing.T) {
	en := newEnv(t, true)
	if rep := en.mustSync(); rep.Status != StatusSucceeded {
		t.Fatalf("a clean first sync is %s: %v", rep.Status, rep.Attention)
	}
	en.rows[3].mobile = "not-a-phone"
	rep := en.mustSync()
	if rep.Status != StatusAttention || len(rep.Attention) == 0 || !strings.Contains(strings.Join(rep.Attention, ";"), "rejected") {
		t.Fatalf("status %s, attention %v", rep.Status, rep.Attention)
	}
}

// heldOnly asserts a run made no disable, delete or department change of
// the destructive kinds, and held some with a reason that says why.
func heldOnly(t *testing.T, rep *Report, why string) {
	t.Helper()
	for _, op := range []string{"user_disable", "user_delete", "department_delete"} {
		if rep.Changes[op] != 0 {
			t.Fatalf("%d %s made: %v", rep.Changes[op], op, rep.Changes)
		}
	}
	if rep.Held == 0 || !strings.Contains(rep.HeldChanges[0].Reason, why) {
		t.Fatalf("held %d: %+v (want a reason with %q)", rep.Held, rep.HeldChanges, why)
	}
	if rep.Status != StatusAttention {
		t.Fatalf("status %s, want %s", rep.Status, StatusAttention)
	}
}

func TestASourceThatShrankSharplyHoldsDisables(t *testing.T) {
	en := newEnv(t, true)
	for i := 21; i <= 200; i++ {
		en.rows = append(en.rows, row{id: fmt.Sprintf("E%03d", i), name: fmt.Sprintf("员工%d", i), dept: "D3", mobile: fmt.Sprintf("1380013%04d", i), status: "在职"})
	}
	en.mustSync()
	en.rows = en.rows[:170] // 30 of 200 gone: 15%, over max_shrink 5% or 10
	rep, err := en.sync(Options{})
	must(t, err)
	heldOnly(t, rep, "the export looks truncated")
	// A run with the usual churn goes on.
	en.rows = en.rows[:195]
	en.maxDis = "50%"
}

func TestAReHeadedSourceChangesNothingDestructive(t *testing.T) {
	rehead := func(t *testing.T, en *env, from, to string) (*Report, error) {
		en.rows = en.rows[:19] // one real leaver…
		en.open()
		// …in an export whose header changed.
		b, err := os.ReadFile(en.dir + "/employees.csv")
		must(t, err)
		head, rest, _ := strings.Cut(string(b), "\n")
		must(t, os.WriteFile(en.dir+"/employees.csv", []byte(strings.Replace(head, from, to, 1)+"\n"+rest), 0o644))
		return en.e.RunOnce(context.Background(), Options{})
	}
	t.Run("a column the rules read is renamed: the run fails naming it", func(t *testing.T) {
		en := newEnv(t, true)
		en.mustSync()
		writes := en.emu.Stats().Writes
		rep, err := rehead(t, en, "手机", "移动电话")
		if err == nil || !strings.Contains(err.Error(), "手机") || rep.Status != StatusFailed {
			t.Fatalf("got %v (%s)", err, rep.Status)
		}
		if en.emu.Stats().Writes != writes {
			t.Fatal("the run wrote to WeCom")
		}
	})
	t.Run("a column no rule reads is gone: destructive changes are held", func(t *testing.T) {
		en := newEnv(t, true)
		en.note = true
		en.mustSync()
		rep, err := rehead(t, en, ",备注", ",说明")
		if err != nil && rep == nil {
			t.Fatal(err)
		}
		heldOnly(t, rep, "columns 备注 are gone")
	})
}

func TestAMissingSentinelIsASourceOutage(t *testing.T) {
	en := newEnv(t, true)
	en.extra = "  sentinels: [e002]"
	en.mustSync()
	en.rows = append(en.rows[:1], en.rows[2:]...) // e002 gone
	rep, err := en.sync(Options{})
	must(t, err)
	heldOnly(t, rep, `sentinel "e002" is missing`)
}

func TestTheDailyDisableBudgetSpansRuns(t *testing.T) {
	en := newEnv(t, true)
	en.maxDis = "100%"
	en.extra = "  max_disables_per_day: 3"
	en.mustSync()
	for i, want := range []string{StatusSucceeded, StatusSucceeded, StatusRefused} {
		en.rows[10+i].status = "离职" // one leaver a run
		en.rows[11+i].status = "离职"
		rep, _ := en.sync(Options{})
		if rep.Status != want {
			t.Fatalf("run %d: %s (%s), want %s", i, rep.Status, rep.Refusal, want)
		}
	}
}

func TestAMassClearOfDirectLeadersIsHeld(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	for i := range en.rows {
		en.rows[i].leader = "" // an export whose 直属上级工号 column came out blank
	}
	rep, err := en.sync(Options{})
	must(t, err)
	if rep.Held != 19 || rep.Changes["user_update"] != 0 || !strings.Contains(rep.HeldChanges[0].Reason, "direct_leader is cleared") {
		t.Fatalf("held %d, changes %v: %+v", rep.Held, rep.Changes, rep.HeldChanges)
	}
	for _, u := range en.emu.State().Users {
		if u.UserID != "e001" && len(u.DirectLeader) == 0 {
			t.Fatalf("%s lost its leader", u.UserID)
		}
	}
	rep, err = en.sync(Options{AllowDestructive: 19})
	if err != nil || rep.Changes["user_update"] != 19 {
		t.Fatalf("approved: %v %v", err, rep.Changes)
	}
}

// loseStore deletes the state file as a lost disk or a mistaken rm would,
// and keeps or drops the snapshots beside it.
func loseStore(t *testing.T, en *env, keepSnapshots bool) {
	t.Helper()
	if en.e != nil {
		en.e.Close()
		en.e = nil
	}
	for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
		_ = os.Remove(en.dir + "/state.db" + suffix)
	}
	if !keepSnapshots {
		must(t, os.RemoveAll(en.dir+"/state.db.snapshots"))
	}
}

func TestLosingTheStateStoreNeverDisablesAndThereIsAWayBack(t *testing.T) {
	bothReadModes(t, func(t *testing.T, en *env) {
		en.mustSync()

		t.Run("a run on the lost store refuses while a snapshot exists", func(t *testing.T) {
			loseStore(t, en, true)
			writes := en.emu.Stats().Writes
			rep, err := en.sync(Options{})
			var refused *plan.RefusedError
			if !errors.As(err, &refused) || !errors.Is(err, ErrLostStore) || !strings.Contains(rep.Refusal, "orgsync state import") {
				t.Fatalf("got %v (%s)", err, rep.Refusal)
			}
			if en.emu.Stats().Writes != writes {
				t.Fatal("the refused run wrote to WeCom")
			}
		})
		t.Run("importing the latest snapshot restores ownership: the next night makes no write", func(t *testing.T) {
			snap := state.LatestSnapshot(en.dir + "/state.db")
			f, err := os.Open(snap)
			must(t, err)
			ex, err := state.ReadExport(f)
			f.Close()
			must(t, err)
			must(t, en.open().Store().Import(context.Background(), ex, false))
			writes := en.emu.Stats().Writes
			rep := en.mustSync()
			if w := en.emu.Stats().Writes - writes; w != 0 || rep.Unowned != 0 {
				t.Fatalf("after restore: %d writes, %d unowned, %v", w, rep.Unowned, rep.Changes)
			}
		})
		t.Run("with no copy left, nothing is disabled and --recover rebuilds ownership", func(t *testing.T) {
			loseStore(t, en, false)
			en.rows = en.rows[:19] // and someone left meanwhile
			rep, _ := en.sync(Options{})
			if rep.Changes["user_disable"] != 0 || rep.Changes["user_delete"] != 0 {
				t.Fatalf("a lost store disabled or deleted: %v", rep.Changes)
			}
			rep, err := en.sync(Options{Recover: true})
			if err != nil {
				t.Fatalf("recover: %v %+v", err, rep.Failures)
			}
			if rep.Changes["department_create"] != 0 {
				t.Fatalf("recover created departments again: %v", rep.Changes)
			}
			rep = en.mustSync()
			if rep.Unowned != 1 { // e020, the leaver, was never re-adopted
				t.Fatalf("after recovery %d unowned, want the leaver only", rep.Unowned)
			}
			writes := en.emu.Stats().Writes
			en.mustSync()
			if w := en.emu.Stats().Writes - writes; w != 0 {
				t.Fatalf("after recovery a quiet night makes %d writes", w)
			}
		})
	})
}

// A leader adopted under another userid than the rule gives: the reports
// name WeCom's userid, and a quiet night after makes no write.
func TestReportsOfALeaderAdoptedUnderAnotherUserIDNameThatUserID(t *testing.T) {
	bothReadModes(t, func(t *testing.T, en *env) {
		en.extra = "  adopt: [mobile]"
		must(t, en.client().CreateUser(context.Background(), wecom.UserCreate{UserID: "zhangwei_old", Name: "张伟", Mobile: "13800130001", Department: []int{1}}))
		rep := en.mustSync()
		if en.user("e001") != nil {
			t.Fatal("e001 created beside the adopted zhangwei_old")
		}
		for _, u := range en.emu.State().Users {
			if u.UserID != "zhangwei_old" && (len(u.DirectLeader) != 1 || u.DirectLeader[0] != "zhangwei_old") {
				t.Fatalf("%s has leaders %v (report %v)", u.UserID, u.DirectLeader, rep.Changes)
			}
		}
		writes := en.emu.Stats().Writes
		rep = en.mustSync()
		if w := en.emu.Stats().Writes - writes; w != 0 {
			t.Fatalf("the quiet night after made %d writes: %v", w, rep.Changes)
		}
	})
}

// plan and sync take one route: a plan reviewed after an interrupted run
// is still the plan sync computes, so 'sync --plan' applies it.
func TestAPlanReviewedAfterAnInterruptedRunIsAppliedWithoutDrift(t *testing.T) {
	for _, kill := range []int{1, 7, 13} { // during department creates, and member creates
		t.Run(fmt.Sprintf("killed after %d journal writes", kill), func(t *testing.T) {
			en := newEnv(t, true)
			e := en.open()
			cj := &crashingJournal{after: kill}
			e.wrapJournal = func(s *state.Store) directory.Journal { cj.Store = s; return cj }
			if _, err := e.RunOnce(context.Background(), Options{}); err == nil {
				t.Fatal("the run was not interrupted")
			}
			reviewed, err := en.open().Prepare(context.Background(), 0)
			must(t, err)
			rep, err := en.sync(Options{Plan: reviewed.Changes})
			if err != nil {
				t.Fatalf("sync --plan after a crash: %v (%s)", err, rep.Refusal)
			}
			if rep.Unowned != 0 || rep.Failed != 0 {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

// A run killed while its import job ran (the rows journaled, their
// results never recorded) converges on the next run: the members the job
// made are owned, nothing is created twice.
func TestAKillDuringAnImportJobConverges(t *testing.T) {
	for _, kill := range []int{8 + 10, 8 + 20 + 3} { // during the rows' Begin; after the job, during their Finish
		t.Run(fmt.Sprintf("killed after %d journal writes", kill), func(t *testing.T) {
			en := newEnv(t, true)
			en.target = "    batch_threshold: 5"
			e := en.open()
			cj := &crashingJournal{after: kill}
			e.wrapJournal = func(s *state.Store) directory.Journal { cj.Store = s; return cj }
			if _, err := e.RunOnce(context.Background(), Options{}); err == nil {
				t.Fatal("the run was not interrupted")
			}
			rep := en.mustSync()
			if rep.Unowned != 0 || rep.Failed != 0 {
				t.Fatalf("rerun: %+v", rep)
			}
			if n := en.emu.Stats().Errors["user/create"][60102]; n != 0 {
				t.Fatalf("%d duplicate creates", n)
			}
			if len(en.emu.State().Users) != 20 {
				t.Fatalf("%d users", len(en.emu.State().Users))
			}
			writes := en.emu.Stats().Writes
			en.mustSync()
			if w := en.emu.Stats().Writes - writes; w != 0 {
				t.Fatalf("the run after made %d writes", w)
			}
		})
	}
}

func TestARefusedRunCountsTheChangesItQueuedAsHeld(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	for i := 10; i < 20; i++ {
		en.rows[i].status = "离职" // 10 of 20 leave: over max_disables 25%
	}
	rep, err := en.sync(Options{})
	var refused *plan.RefusedError
	if !errors.As(err, &refused) || rep.Held != 10 || len(rep.HeldChanges) != 10 || !strings.HasPrefix(rep.HeldChanges[0].Reason, "refused: ") {
		t.Fatalf("err %v, held %d %+v", err, rep.Held, rep.HeldChanges)
	}
}
