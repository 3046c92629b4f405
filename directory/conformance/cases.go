package conformance

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// deptMarket is deptSales after the path-keyed rename of the lifecycle.
const deptMarket = "总部/市场部"

func testCheck(t *testing.T, h Harness) {
	w := newWorld(t, h, Options{})
	msg, err := w.dir.Check(w.ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if msg == "" {
		t.Fatal("Check returned no description of what it saw")
	}
}

func testFirstSync(t *testing.T, h Harness) {
	w := newWorld(t, h, Options{})
	org := company()
	before := w.dir.Calls()
	w.load()
	if w.dir.Calls() <= before {
		t.Fatal("Load made no call that Calls counts")
	}
	ch := w.syncClean(org)
	if got, want := nonZero(ch.Counts()), map[plan.Op]int{plan.OpDeptCreate: 4, plan.OpUserCreate: 6}; !maps.Equal(got, want) {
		t.Fatalf("first plan: %v, want %v", got, want)
	}
	w.expectDirectory(org)
	w.expectQuiet(org)
}

// lifecycleStep is one night of the lifecycle: the source says desired,
// the plan must hold exactly want, and afterwards the directory holds
// expect (desired, plus leavers that are disabled but still there).
type lifecycleStep struct {
	name    string
	desired model.Org
	expect  *model.Org
	advance time.Duration
	want    map[plan.Op]int
	check   func(t *testing.T, w *world, before *state.Shadow)
}

func lifecycleSteps() []lifecycleStep {
	base := company()
	updated := edit(base, "u05", func(p *model.Person) { p.Name, p.Position, p.Mobile = "孙七七", "销售经理", "13900000005" })
	moved := edit(updated, "u03", func(p *model.Person) { p.Departments = []string{deptSales} })
	renamed := clone(moved)
	for i := range renamed.Departments {
		if renamed.Departments[i].Key == deptSales {
			renamed.Departments[i].Name = "销售一部"
		}
	}
	// A path-keyed export renames 销售一部 to 市场部: every key under it
	// changes, and the department must stay the same department.
	rekeyed := clone(renamed)
	for i := range rekeyed.Departments {
		if rekeyed.Departments[i].Key == deptSales {
			rekeyed.Departments[i].Key, rekeyed.Departments[i].Name = deptMarket, "市场部"
		}
	}
	for i := range rekeyed.People {
		for j, k := range rekeyed.People[i].Departments {
			if k == deptSales {
				rekeyed.People[i].Departments[j] = deptMarket
			}
		}
	}
	left := without(rekeyed, "u04")
	leftExpect := edit(rekeyed, "u04", func(p *model.Person) { p.Enabled = false })
	// Research and its backend team close: their people move up or over.
	closed := edit(left, "u02", func(p *model.Person) { p.Departments = []string{deptHQ}; p.SetLeaderOf(nil) })
	closed = edit(closed, "u06", func(p *model.Person) { p.Departments = []string{deptMarket} })
	closed.Departments = slices.DeleteFunc(closed.Departments, func(d model.Department) bool { return d.Key == deptRD || d.Key == deptBackend })

	return []lifecycleStep{
		{name: "a first sync creates the tree and its members", desired: base,
			want: map[plan.Op]int{plan.OpDeptCreate: 4, plan.OpUserCreate: 6}},
		{name: "changed fields are updated in place", desired: updated,
			want: map[plan.Op]int{plan.OpUserUpdate: 1}},
		{name: "a member moved in the source is moved", desired: moved,
			want: map[plan.Op]int{plan.OpUserMove: 1}},
		{name: "a department renamed under the same key is updated, not re-created", desired: renamed,
			want:  map[plan.Op]int{plan.OpDeptUpdate: 1},
			check: sameDeptID(deptSales, deptSales)},
		{name: "a department renamed in a path-keyed source keeps its id and its members", desired: rekeyed,
			want:  map[plan.Op]int{plan.OpDeptUpdate: 1},
			check: sameDeptID(deptSales, deptMarket)},
		{name: "a leaver is disabled", desired: left, expect: &leftExpect,
			want: map[plan.Op]int{plan.OpUserDisable: 1}},
		{name: "a rehired leaver is enabled again", desired: rekeyed,
			want: map[plan.Op]int{plan.OpUserEnable: 1}},
		{name: "the leaver leaves again and is disabled", desired: left, expect: &leftExpect,
			want: map[plan.Op]int{plan.OpUserDisable: 1}},
		{name: "a leaver disabled longer than delete_after is deleted", desired: left, advance: 31 * 24 * time.Hour,
			want: map[plan.Op]int{plan.OpUserDelete: 1}},
		{name: "departments emptied by moves are deleted bottom-up", desired: closed,
			want: map[plan.Op]int{plan.OpUserMove: 2, plan.OpDeptDelete: 2}},
	}
}

// sameDeptID checks that the department keyed from before the step is the
// department keyed to after it: same id.
func sameDeptID(from, to string) func(t *testing.T, w *world, before *state.Shadow) {
	return func(t *testing.T, w *world, before *state.Shadow) {
		t.Helper()
		old := before.Departments[from]
		now := w.shadow().Departments[to]
		if old == nil || now == nil {
			t.Fatalf("department %s → %s: shadow rows %v → %v", from, to, old, now)
		}
		if old.Department.ID != now.Department.ID {
			t.Fatalf("department %s → %s: id %d became %d (re-created, not renamed)", from, to, old.Department.ID, now.Department.ID)
		}
	}
}

func testLifecycle(t *testing.T, h Harness) {
	w := newWorld(t, h, Options{})
	for _, st := range lifecycleSteps() {
		ok := t.Run(st.name, func(t *testing.T) {
			w.t = t
			w.advance(st.advance)
			before := w.shadow()
			ch := w.syncClean(st.desired)
			if got := nonZero(ch.Counts()); !maps.Equal(got, st.want) {
				t.Fatalf("plan: %v, want %v (notices %v)", got, st.want, ch.Notices)
			}
			expect := st.desired
			if st.expect != nil {
				expect = *st.expect
			}
			w.expectDirectory(expect)
			if st.check != nil {
				st.check(t, w, before)
			}
			w.expectQuiet(st.desired)
		})
		if !ok {
			return // each step builds on the one before
		}
	}
}

func testDrift(t *testing.T, h Harness) {
	cases := []struct {
		name string
		// byHand changes the directory behind orgsync's back; ids maps
		// the fixture's department keys to their ids.
		byHand func(c Controls, ids map[string]int, root int) error
		want   map[plan.Op]int
	}{
		{"a member moved by hand to another department is moved back",
			func(c Controls, ids map[string]int, _ int) error { return c.MoveByHand("u03", ids[deptSales]) },
			map[plan.Op]int{plan.OpUserMove: 1}},
		{"a member moved by hand to the root department is moved back",
			func(c Controls, _ map[string]int, root int) error { return c.MoveByHand("u05", root) },
			map[plan.Op]int{plan.OpUserMove: 1}},
		{"a member deleted by hand is re-created",
			func(c Controls, _ map[string]int, _ int) error { return c.DeleteByHand("u04") },
			map[plan.Op]int{plan.OpUserCreate: 1}},
		{"a member in two departments moved by hand into one is put back in both",
			func(c Controls, ids map[string]int, _ int) error { return c.MoveByHand("u06", ids[deptBackend]) },
			map[plan.Op]int{plan.OpUserMove: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, h, Options{})
			if w.ctl.MoveByHand == nil || w.ctl.DeleteByHand == nil {
				t.Skip("the harness cannot change the directory by hand")
			}
			org := company()
			w.syncClean(org)
			if err := tc.byHand(w.ctl, deptIDs(w.shadow()), h.RootID); err != nil {
				t.Fatalf("change by hand: %v", err)
			}
			ch := w.syncClean(org)
			if got := nonZero(ch.Counts()); !maps.Equal(got, tc.want) {
				t.Fatalf("plan after the change by hand: %v, want %v", got, tc.want)
			}
			w.expectDirectory(org)
			w.expectQuiet(org)
		})
	}
}

// faultRounds is how many fresh servers each fault case runs on: faults
// are random, so one round may miss a path another takes.
const faultRounds = 2

// faultScenarios are the changes the fault cases make under faults: a first
// sync (creates, top-down, leaders), and a night of every other kind.
func faultScenarios() []struct {
	name    string
	leavers string
	setup   *model.Org
	target  model.Org
} {
	base := company()
	night := clone(base)
	for _, u := range []string{"u01", "u02", "u05"} {
		night = edit(night, u, func(p *model.Person) { p.Position = "经理" })
	}
	night = edit(night, "u03", func(p *model.Person) { p.Departments = []string{deptSales} })
	night = edit(night, "u06", func(p *model.Person) { p.Departments = []string{deptSales} })
	night = without(night, "u04")
	night.Departments = slices.DeleteFunc(night.Departments, func(d model.Department) bool { return d.Key == deptBackend })
	for i := range night.Departments {
		if night.Departments[i].Key == deptSales {
			night.Departments[i].Name = "销售一部"
		}
	}
	return []struct {
		name    string
		leavers string
		setup   *model.Org
		target  model.Org
	}{
		{name: "a first sync", leavers: "disable", target: base},
		{name: "a night of updates, moves, a rename, a delete and a department delete", leavers: "delete", setup: &base, target: night},
	}
}

// faultyRun prepares a world for a scenario and applies its target with
// faults on; it returns the run, its plan and result, and the world.
func faultyRun(t *testing.T, h Harness, leavers string, setup *model.Org, target model.Org) (*world, int64, *plan.Changes, directory.Result, int) {
	t.Helper()
	w := newWorld(t, h, Options{})
	if w.ctl.Faults == nil {
		t.Skip("the harness cannot inject faults")
	}
	w.policy.Leavers = leavers
	if setup != nil {
		w.syncClean(*setup)
	}
	ch, sh := w.planFor(target, nil)
	if ch.Empty() {
		t.Fatal("nothing to apply: the scenario proves nothing")
	}
	w.ctl.Faults(true)
	run, res := w.apply(ch, sh)
	return w, run, ch, res, w.ctl.Faults(false)
}

// faultRoundsFor runs a scenario's rounds as subtests and fails when no
// round had a fault injected: the scenario would prove nothing.
func faultRoundsFor(t *testing.T, name string, round func(t *testing.T) int) {
	t.Helper()
	injected, ran := 0, 0
	for r := 1; r <= faultRounds; r++ {
		t.Run(fmt.Sprintf("%s (round %d)", name, r), func(t *testing.T) {
			injected += round(t) // a skipped or failed round does not return
			ran++
		})
	}
	if ran == faultRounds && injected == 0 {
		t.Errorf("%s: no fault was injected in %d rounds: the case proves nothing", name, faultRounds)
	}
}

func testRetries(t *testing.T, h Harness) {
	for _, sc := range faultScenarios() {
		faultRoundsFor(t, "with lost answers, "+sc.name+" converges within two runs", func(t *testing.T) int {
			w, _, _, res, injected := faultyRun(t, h, sc.leavers, sc.setup, sc.target)
			t.Logf("run under faults: %s", describe(res))
			// The second run, with no faults: settle, plan, apply.
			_, res2 := w.sync(sc.target)
			if len(res2.Failed) > 0 {
				t.Fatalf("the second run failed: %s", describe(res2))
			}
			w.expectDirectory(sc.target)
			pend, err := w.store.Pending(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(pend) > 0 {
				t.Fatalf("%d journal entries still unsettled after the second run: %+v", len(pend), pend)
			}
			w.expectQuiet(sc.target)
			return injected
		})
	}
}

func testUncertain(t *testing.T, h Harness) {
	for _, sc := range faultScenarios() {
		faultRoundsFor(t, sc.name, func(t *testing.T) int {
			w, run, ch, res, injected := faultyRun(t, h, sc.leavers, sc.setup, sc.target)
			// Random faults may hit a call and then its fallback: the last
			// entry of each object is the journal's final word on it.
			uncertain := w.checkOutcomes(run, ch, res, false)
			t.Logf("%d faults, %d objects left uncertain; %s", injected, uncertain, describe(res))
			return injected
		})
	}
}

// checkOutcomes checks a run's journal and result against what the
// directory shows happened: every entry is finished (done, failed or
// uncertain: Apply journals after every call), no write that happened is
// failed, and every planned change is accounted for. With strict, every
// entry is checked; without, only each object's last. It returns how many
// objects' last entries are uncertain.
func (w *world) checkOutcomes(run int64, ch *plan.Changes, res directory.Result, strict bool) int {
	t := w.t
	t.Helper()
	cur := w.load()
	ids := deptIDs(w.shadow())
	var srv *State
	if w.ctl.State != nil {
		s := w.ctl.State()
		srv = &s
	}
	entries := w.journal(run)
	last := map[string]state.Entry{}
	for _, e := range entries {
		switch e.Status {
		case state.StatusDone, state.StatusFailed, state.StatusUncertain:
		default:
			t.Errorf("journal entry %d (%s %s) is %q after Apply returned: every call must be journaled after it too", e.ID, e.Op, e.Object, e.Status)
		}
		last[e.Op+" "+e.Object] = e
	}
	check := entries
	if !strict {
		check = check[:0:0]
		for _, e := range last {
			check = append(check, e)
		}
	}
	for _, e := range check {
		if e.Status != state.StatusFailed {
			continue
		}
		if happened(cur, srv, ids, w.h.RootID, plan.Op(e.Op), e.Object, decode(e.Op, e.Before), decode(e.Op, e.After)) {
			t.Errorf("journal entry %d: %s %s is failed (%s), but the write happened: it must be done or uncertain", e.ID, e.Op, e.Object, e.ErrMsg)
		}
	}
	for _, f := range res.Failed {
		before, after := planned(ch, f.Op, f.Object)
		if happened(cur, srv, ids, w.h.RootID, f.Op, f.Object, before, after) {
			t.Errorf("Result.Failed has %s %s (%s), but the write happened", f.Op, f.Object, f.Error)
		}
	}
	accounted := len(res.Failed) + len(res.Pending)
	for _, n := range res.Done {
		accounted += n
	}
	if accounted < ch.Total() {
		t.Errorf("the result accounts for %d of %d changes: %s", accounted, ch.Total(), describe(res))
	}
	uncertain := 0
	for _, e := range last {
		if e.Status == state.StatusUncertain {
			uncertain++
		}
	}
	return uncertain
}

// testLostAnswer loses, once, the answer to the first call that makes each
// kind of change, after the write was applied: the directory's retry then
// meets its own write (exists, already gone), and must take it as done or
// leave it uncertain — never failed — and the next run must converge.
func testLostAnswer(t *testing.T, h Harness) {
	base := company()
	left := without(base, "u04")
	closed := edit(base, "u03", func(p *model.Person) { p.Departments = []string{deptSales} })
	closed = edit(closed, "u06", func(p *model.Person) { p.Departments = []string{deptSales} })
	closed = without(closed, "u04")
	closed.Departments = slices.DeleteFunc(closed.Departments, func(d model.Department) bool { return d.Key == deptBackend })
	renamed := clone(base)
	for i := range renamed.Departments {
		if renamed.Departments[i].Key == deptSales {
			renamed.Departments[i].Name = "销售一部"
		}
	}
	leftExpect := edit(base, "u04", func(p *model.Person) { p.Enabled = false })
	cases := []struct {
		op      plan.Op
		leavers string
		setup   []model.Org
		target  model.Org
		expect  *model.Org // the directory afterwards, when not target
	}{
		{plan.OpDeptCreate, "disable", nil, base, nil},
		{plan.OpUserCreate, "disable", nil, base, nil},
		{plan.OpUserUpdate, "disable", []model.Org{base}, edit(base, "u05", func(p *model.Person) { p.Position = "销售经理" }), nil},
		{plan.OpUserMove, "disable", []model.Org{base}, edit(base, "u03", func(p *model.Person) { p.Departments = []string{deptSales} }), nil},
		{plan.OpDeptUpdate, "disable", []model.Org{base}, renamed, nil},
		{plan.OpUserDisable, "disable", []model.Org{base}, left, &leftExpect},
		{plan.OpUserEnable, "disable", []model.Org{base, left}, base, nil},
		{plan.OpUserDelete, "delete", []model.Org{base}, left, nil},
		{plan.OpDeptDelete, "delete", []model.Org{base}, closed, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("a lost answer to %s is done or uncertain, never failed, and the next run converges", tc.op), func(t *testing.T) {
			w := newWorld(t, h, Options{})
			if w.ctl.LoseAnswer == nil {
				t.Skip("the harness cannot lose an answer")
			}
			w.policy.Leavers = tc.leavers
			for _, o := range tc.setup {
				w.syncClean(o)
			}
			ch, sh := w.planFor(tc.target, nil)
			if ch.Counts()[tc.op] == 0 {
				t.Fatalf("the plan has no %s: %v", tc.op, nonZero(ch.Counts()))
			}
			w.ctl.LoseAnswer(tc.op)
			run, res := w.apply(ch, sh)
			if lost := w.ctl.LoseAnswer(""); lost != 1 {
				t.Fatalf("%d answers were lost, want 1: the case proves nothing", lost)
			}
			w.checkOutcomes(run, ch, res, true)
			if len(res.Failed) > 0 {
				t.Errorf("a lost answer failed changes: %s", describe(res))
			}
			_, res2 := w.sync(tc.target)
			if len(res2.Failed) > 0 {
				t.Fatalf("the next run failed: %s", describe(res2))
			}
			expect := tc.target
			if tc.expect != nil {
				expect = *tc.expect
			}
			w.expectDirectory(expect)
			w.expectQuiet(tc.target)
		})
	}
}

// decode reads a journal entry's before or after as the op's object type.
func decode(op string, raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	switch plan.Op(op) {
	case plan.OpDeptCreate, plan.OpDeptUpdate, plan.OpDeptDelete:
		var d model.Department
		if json.Unmarshal(raw, &d) != nil {
			return nil
		}
		return &d
	}
	var p model.Person
	if json.Unmarshal(raw, &p) != nil {
		return nil
	}
	return &p
}

// planned finds a change's before and after in the plan.
func planned(ch *plan.Changes, op plan.Op, object string) (before, after any) {
	for _, l := range [][]plan.DeptChange{ch.DeptCreates, ch.DeptUpdates, ch.DeptDeletes} {
		for _, d := range l {
			if d.Op == op && d.Key == object {
				var b, a *model.Department
				if d.Before != nil {
					b = d.Before
				}
				if d.After != nil {
					cp := *d.After
					cp.ID = d.ID
					a = &cp
				}
				if op == plan.OpDeptDelete && b != nil {
					cp := *b
					cp.ID = d.ID
					b = &cp
				}
				return nilIfNil(b), nilIfNil(a)
			}
		}
	}
	for _, l := range [][]plan.UserChange{ch.UserCreates, ch.UserUpdates, ch.UserMoves, ch.UserEnables, ch.UserDisables, ch.UserDeletes} {
		for _, u := range l {
			if u.Op == op && u.UserID == object {
				return nilIfNil(u.Before), nilIfNil(u.After)
			}
		}
	}
	return nil, nil
}

func nilIfNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

// happened reports whether the directory shows a change's write as made,
// as far as Load (and the server's state, when readable) can tell; a write
// it cannot see is reported as not happened.
func happened(cur plan.Current, srv *State, ids map[string]int, root int, op plan.Op, object string, before, after any) bool {
	k := model.UserIDKey(object)
	switch op {
	case plan.OpUserCreate:
		return cur.Members[k] != nil
	case plan.OpUserDelete:
		return cur.Members[k] == nil && cur.Outside[k] == nil
	case plan.OpDeptCreate:
		if d, ok := after.(*model.Department); ok && d.ID > 0 {
			_, there := cur.Departments[d.ID]
			return there
		}
	case plan.OpDeptDelete:
		if d, ok := before.(*model.Department); ok && d.ID > 0 {
			_, there := cur.Departments[d.ID]
			return !there
		}
	case plan.OpDeptUpdate:
		b, _ := before.(*model.Department)
		a, _ := after.(*model.Department)
		if srv != nil && a != nil && b != nil && a.Name != b.Name {
			return srv.Departments[a.ID].Name == a.Name
		}
	case plan.OpUserMove:
		b, _ := before.(*model.Person)
		a, _ := after.(*model.Person)
		m := cur.Members[k]
		if m == nil || a == nil || b == nil {
			return false
		}
		want := deptIDsOf(a.Departments, ids, root)
		return !slices.Equal(deptIDsOf(b.Departments, ids, root), want) && slices.Equal(sortedInts(m.Departments), want)
	case plan.OpUserEnable, plan.OpUserDisable:
		if srv != nil {
			if m, ok := srv.Members[k]; ok {
				return m.Enabled == (op == plan.OpUserEnable)
			}
		}
	}
	return false
}

func deptIDsOf(keys []string, ids map[string]int, root int) []int {
	if len(keys) == 0 {
		return []int{root}
	}
	out := make([]int, 0, len(keys))
	for _, k := range keys {
		out = append(out, ids[k])
	}
	return sortedInts(out)
}

func testRateLimit(t *testing.T, h Harness) {
	w := newWorld(t, h, Options{RateLimited: true})
	org := many(40)
	start := time.Now()
	ch := w.syncClean(org)
	took := time.Since(start)
	if ch.Counts()[plan.OpUserCreate] != 40 {
		t.Fatalf("plan: %v", nonZero(ch.Counts()))
	}
	if w.ctl.Throttled != nil && w.ctl.Throttled() == 0 {
		t.Fatal("the server refused no call for its rate limit: the case proves nothing")
	}
	if took > 10*time.Second {
		t.Fatalf("the sync took %s: waiting out rate-limit windows must stay bounded", took)
	}
	t.Logf("40 creates in %s, %d calls refused for the rate limit", took, w.ctl.Throttled())
	w.expectDirectory(org)
	w.expectQuiet(org)
}

func testAdopt(t *testing.T, h Harness) {
	w := newWorld(t, h, Options{})
	if w.ctl.CreateByHand == nil {
		t.Skip("the harness cannot make a member by hand")
	}
	org := company()
	lead := person(org, "u02")
	// Made by hand before orgsync ran, with the desired person's mobile
	// under another userid, and no email.
	hand := Member{UserID: "zhangwei_old", Name: lead.Name, Mobile: lead.Mobile, Departments: []int{h.RootID}, Enabled: true}
	if err := w.ctl.CreateByHand(hand); err != nil {
		t.Fatalf("create by hand: %v", err)
	}
	cur, sh := w.load(), w.shadow()
	for _, tc := range []struct {
		name string
		by   directory.AdoptBy
		want map[string]string
	}{
		{"no adopt rule matches nobody", directory.AdoptBy{}, map[string]string{}},
		{"adopt by email does not match a member with the same mobile", directory.AdoptBy{Email: true}, map[string]string{}},
		{"adopt by mobile matches the member made by hand", directory.AdoptBy{Mobile: true}, map[string]string{lead.Key: hand.UserID}},
		{"adopt by mobile or email matches the member made by hand", directory.AdoptBy{Mobile: true, Email: true}, map[string]string{lead.Key: hand.UserID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.dir.Adopt(w.ctx, org, sh, cur, tc.by)
			if err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("Adopt(%+v) = %v, want %v", tc.by, got, tc.want)
			}
		})
	}
	t.Run("the adopted member keeps its userid, its reports name it as leader, and the next night is quiet", func(t *testing.T) {
		w.t = t
		matches, err := w.dir.Adopt(w.ctx, org, w.shadow(), w.load(), directory.AdoptBy{Mobile: true})
		if err != nil {
			t.Fatalf("Adopt: %v", err)
		}
		ch, sh := w.planFor(org, matches)
		if got, want := nonZero(ch.Counts()), map[plan.Op]int{plan.OpDeptCreate: 4, plan.OpUserCreate: 5, plan.OpUserUpdate: 1}; !maps.Equal(got, want) {
			t.Fatalf("plan: %v, want %v (notices %v)", got, want, ch.Notices)
		}
		_, res := w.apply(ch, sh)
		if len(res.Failed)+len(res.Pending) > 0 {
			t.Fatalf("adopting sync: %s", describe(res))
		}
		want := clone(org)
		for i := range want.People {
			p := &want.People[i]
			if p.UserID == lead.UserID {
				p.UserID = hand.UserID
			}
			for j, l := range p.DirectLeaders {
				if l == lead.UserID {
					p.DirectLeaders[j] = hand.UserID
				}
			}
		}
		w.expectDirectory(want)
		if m := w.shadow().Members[model.UserIDKey(hand.UserID)]; m == nil || !m.Adopted {
			t.Fatalf("the adopted member's shadow row: %+v (want adopted)", m)
		}
		w.expectQuiet(org)
	})
}

// testStop closes ApplyOptions.Stop: before the apply, it makes no call and
// reports every change pending (the next run makes them); during it, calls
// in flight finish and are journaled, and nothing is failed for the stop.
func testStop(t *testing.T, h Harness) {
	t.Run("an apply stopped before it starts makes no call and reports every change pending", func(t *testing.T) {
		w := newWorld(t, h, Options{})
		org := company()
		ch, sh := w.planFor(org, nil)
		stop := make(chan struct{})
		close(stop)
		run, err := w.store.StartRun(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := w.dir.Calls()
		res, err := w.dir.Apply(w.ctx, ch, w.store, directory.ApplyOptions{RunID: run, Shadow: sh, Now: w.clock, Stop: stop})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if n := w.dir.Calls() - before; n != 0 {
			t.Errorf("a stopped apply made %d calls", n)
		}
		if len(res.Failed) > 0 || len(res.Pending) != ch.Total() {
			t.Errorf("a stopped apply of %d changes: %d pending, %d failed, want all pending: %s", ch.Total(), len(res.Pending), len(res.Failed), describe(res))
		}
		if es := w.journal(run); len(es) != 0 {
			t.Errorf("a stopped apply journaled %d entries", len(es))
		}
		w.syncClean(org)
		w.expectDirectory(org)
	})
	t.Run("an apply stopped midway journals every call it made, fails nothing for the stop, and the next run finishes", func(t *testing.T) {
		w := newWorld(t, h, Options{})
		org := company()
		ch, sh := w.planFor(org, nil)
		stop := make(chan struct{})
		var once sync.Once
		run, err := w.store.StartRun(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.dir.Apply(w.ctx, ch, w.store, directory.ApplyOptions{RunID: run, Shadow: sh, Now: w.clock, Stop: stop,
			Progress: func(done, total int) {
				if done >= 4 { // the departments are made; stop before the members
					once.Do(func() { close(stop) })
				}
			}})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if len(res.Failed) > 0 {
			t.Errorf("a stop failed changes: %s", describe(res))
		}
		if len(res.Pending) == 0 {
			t.Errorf("a stop after 4 of %d changes left nothing pending: %s", ch.Total(), describe(res))
		}
		w.checkOutcomes(run, ch, res, true)
		w.syncClean(org)
		w.expectDirectory(org)
		w.expectQuiet(org)
	})
}

// testLoadUnderFaults: Load never returns a partial state: under faults
// it returns the whole directory or an error.
func testLoadUnderFaults(t *testing.T, h Harness) {
	w := newWorld(t, h, Options{})
	if w.ctl.Faults == nil {
		t.Skip("the harness cannot inject faults")
	}
	org := company()
	w.syncClean(org)
	want := w.load()
	w.ctl.Faults(true)
	var got []plan.Current
	errs := 0
	for i := 0; i < 10; i++ {
		cur, err := w.dir.Load(w.ctx)
		if err != nil {
			errs++
			continue
		}
		got = append(got, cur)
	}
	injected := w.ctl.Faults(false)
	if injected == 0 {
		t.Fatal("no fault was injected during 10 loads: the case proves nothing")
	}
	for i, cur := range got {
		if !maps.EqualFunc(cur.Departments, want.Departments, func(a, b plan.CurrentDept) bool { return a == b }) {
			t.Fatalf("load %d under faults: departments %v, want %v", i, cur.Departments, want.Departments)
		}
		if !maps.EqualFunc(cur.Members, want.Members, func(a, b *plan.CurrentMember) bool {
			return a.UserID == b.UserID && slices.Equal(sortedInts(a.Departments), sortedInts(b.Departments))
		}) {
			t.Fatalf("load %d under faults: %d members, want %d", i, len(cur.Members), len(want.Members))
		}
	}
	t.Logf("10 loads under %d faults: %d whole, %d errors", injected, len(got), errs)
}
