package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// caseTimeout bounds every call a case makes; no case needs more.
const caseTimeout = 30 * time.Second

// world is one case's directory, server controls and state store, used the
// way the engine uses them.
type world struct {
	t      *testing.T
	h      Harness
	dir    directory.Directory
	ctl    Controls
	store  *state.Store
	ctx    context.Context
	policy plan.Policy

	mu  sync.Mutex
	now time.Time // the clock plan and apply see (leaver clocks)
}

func newWorld(t *testing.T, h Harness, o Options) *world {
	t.Helper()
	dir, ctl := h.New(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	t.Cleanup(cancel)
	st, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatalf("state.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return &world{
		t: t, h: h, dir: dir, ctl: ctl, store: st, ctx: ctx,
		policy: plan.Policy{Mode: plan.ModeSync, Leavers: "disable", DeleteAfter: 30 * 24 * time.Hour, RootDepartmentID: h.RootID},
		now:    time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

func (w *world) load() plan.Current {
	w.t.Helper()
	cur, err := w.dir.Load(w.ctx)
	if err != nil {
		w.t.Fatalf("Load: %v", err)
	}
	return cur
}

func (w *world) shadow() *state.Shadow {
	w.t.Helper()
	sh, err := w.store.LoadShadow(w.ctx)
	if err != nil {
		w.t.Fatalf("LoadShadow: %v", err)
	}
	return sh
}

// planFor loads the directory, settles what earlier runs left uncertain or
// pending, and plans desired against it.
func (w *world) planFor(desired model.Org, matches map[string]string) (*plan.Changes, *state.Shadow) {
	w.t.Helper()
	cur := w.load()
	w.settle(cur)
	sh := w.shadow()
	ch := plan.Calculate(plan.Input{Desired: desired, Current: cur, Shadow: sh, AdoptMatches: matches, Policy: w.policy, Now: w.clock()})
	return ch, sh
}

// apply applies a plan as one run and returns the run id and the result.
// Apply must not abort in any case of the suite.
func (w *world) apply(ch *plan.Changes, sh *state.Shadow) (int64, directory.Result) {
	w.t.Helper()
	run, err := w.store.StartRun(w.ctx)
	if err != nil {
		w.t.Fatalf("StartRun: %v", err)
	}
	res, err := w.dir.Apply(w.ctx, ch, w.store, directory.ApplyOptions{RunID: run, Shadow: sh, Now: w.clock})
	if err != nil {
		w.t.Fatalf("Apply: %v (result %s)", err, describe(res))
	}
	if err := w.store.FinishRun(w.ctx, run, "succeeded", nil); err != nil {
		w.t.Fatalf("FinishRun: %v", err)
	}
	return run, res
}

// sync is one engine run without sources: plan desired, then apply it.
func (w *world) sync(desired model.Org) (*plan.Changes, directory.Result) {
	w.t.Helper()
	ch, sh := w.planFor(desired, nil)
	_, res := w.apply(ch, sh)
	return ch, res
}

// syncClean is a sync that must succeed in full.
func (w *world) syncClean(desired model.Org) *plan.Changes {
	w.t.Helper()
	ch, res := w.sync(desired)
	if len(res.Failed)+len(res.Pending) > 0 {
		w.t.Fatalf("sync of %v: %s", nonZero(ch.Counts()), describe(res))
	}
	for op, n := range ch.Counts() {
		if res.Done[op] < n {
			w.t.Fatalf("%s: %d planned, %d done (%s)", op, n, res.Done[op], describe(res))
		}
	}
	return ch
}

// settle resolves journal entries that an earlier run left pending or
// uncertain, from the directory's lists, as the engine does before it
// plans (engine.settlePending): a create whose object now exists was made
// (department ids are chosen by orgsync, so they are recognisable); a
// delete whose object is gone was made; anything else is settled as not
// made and simply planned again, which is idempotent. A Directory must
// journal enough (op, object, the department id in After, Before of a
// delete) for this to work.
func (w *world) settle(cur plan.Current) {
	w.t.Helper()
	pend, err := w.store.Pending(w.ctx)
	if err != nil {
		w.t.Fatalf("Pending: %v", err)
	}
	for _, en := range pend {
		st := directory.Settle(en, cur)
		if err := w.store.Resolve(w.ctx, en.ID, st.Status, st.Msg, st.Mut); err != nil {
			w.t.Fatalf("Resolve: %v", err)
		}
	}
}

// deptIDs maps managed department keys to ids, from the shadow.
func deptIDs(sh *state.Shadow) map[string]int {
	out := make(map[string]int, len(sh.Departments))
	for k, d := range sh.Departments {
		out[k] = d.Department.ID
	}
	return out
}

// expectDirectory checks that Load, the shadow and (when the harness can
// read it) the server hold exactly want: its departments with their
// parents, its people in their departments (and no one else), with the
// fields, leaders and enabled flags of want.
func (w *world) expectDirectory(want model.Org) {
	w.t.Helper()
	cur := w.load()
	sh := w.shadow()
	ids := deptIDs(sh)
	root := w.h.RootID
	if _, ok := cur.Departments[root]; !ok {
		w.t.Fatalf("Load has no managed root department %d", root)
	}
	wantIDs := map[int]string{}
	for _, d := range want.Departments {
		id, ok := ids[d.Key]
		if !ok || id == 0 {
			w.t.Fatalf("department %s is not in the shadow", d.Key)
		}
		if other, dup := wantIDs[id]; dup {
			w.t.Fatalf("departments %s and %s share id %d", other, d.Key, id)
		}
		wantIDs[id] = d.Key
		got, ok := cur.Departments[id]
		if !ok {
			w.t.Fatalf("department %s (id %d) is not in Load", d.Key, id)
		}
		parent := root
		if d.ParentKey != "" {
			parent = ids[d.ParentKey]
		}
		if got.ParentID != parent {
			w.t.Fatalf("department %s (id %d): parent %d in Load, want %d (%s)", d.Key, id, got.ParentID, parent, d.ParentKey)
		}
		if got.Name != "" && got.Name != d.Name {
			w.t.Fatalf("department %s (id %d): name %q in Load, want %q", d.Key, id, got.Name, d.Name)
		}
	}
	for id := range cur.Departments {
		if _, ok := wantIDs[id]; !ok && id != root {
			w.t.Fatalf("Load has department %d that the desired directory does not (%v)", id, cur.Departments[id])
		}
	}
	wantMembers := map[string]bool{}
	for _, p := range want.People {
		k := model.UserIDKey(p.UserID)
		wantMembers[k] = true
		m := cur.Members[k]
		if m == nil {
			w.t.Fatalf("member %s is not in Load", p.UserID)
		}
		if got, exp := sortedInts(m.Departments), w.personDeptIDs(p, ids); !slices.Equal(got, exp) {
			w.t.Fatalf("member %s: departments %v in Load, want %v (%v)", p.UserID, got, exp, p.Departments)
		}
		s := sh.Members[k]
		if s == nil {
			w.t.Fatalf("member %s is in the directory but not in the shadow: orgsync would not own it", p.UserID)
		}
		if s.Person.Key != p.Key || s.Person.Enabled != p.Enabled || !slices.Equal(s.Person.DirectLeaders, p.DirectLeaders) {
			w.t.Fatalf("member %s in the shadow: key %q enabled %v leaders %v; want key %q enabled %v leaders %v",
				p.UserID, s.Person.Key, s.Person.Enabled, s.Person.DirectLeaders, p.Key, p.Enabled, p.DirectLeaders)
		}
	}
	for k, m := range cur.Members {
		if !wantMembers[k] {
			w.t.Fatalf("Load has member %s (departments %v) that the desired directory does not", m.UserID, m.Departments)
		}
	}
	if len(cur.Members) != len(want.People) {
		w.t.Fatalf("Load has %d members, want %d", len(cur.Members), len(want.People))
	}
	if w.ctl.State == nil {
		return
	}
	srv := w.ctl.State()
	for _, d := range want.Departments {
		if got := srv.Departments[ids[d.Key]]; got.Name != d.Name {
			w.t.Fatalf("department %s (id %d) is named %q on the server, want %q", d.Key, ids[d.Key], got.Name, d.Name)
		}
	}
	for _, p := range want.People {
		got, ok := srv.Members[model.UserIDKey(p.UserID)]
		if !ok {
			w.t.Fatalf("member %s is not on the server", p.UserID)
		}
		if got.Name != p.Name || got.Mobile != p.Mobile || got.Position != p.Position || got.Enabled != p.Enabled ||
			!slices.Equal(got.DirectLeaders, p.DirectLeaders) {
			w.t.Fatalf("member %s on the server: %+v; want name %q mobile %q position %q enabled %v leaders %v",
				p.UserID, got, p.Name, p.Mobile, p.Position, p.Enabled, p.DirectLeaders)
		}
		if exp := w.personDeptIDs(p, ids); !slices.Equal(sortedInts(got.Departments), exp) {
			w.t.Fatalf("member %s on the server: departments %v, want %v", p.UserID, got.Departments, exp)
		}
	}
}

func (w *world) personDeptIDs(p model.Person, ids map[string]int) []int {
	if len(p.Departments) == 0 {
		return []int{w.h.RootID}
	}
	out := make([]int, 0, len(p.Departments))
	for _, k := range p.Departments {
		out = append(out, ids[k])
	}
	return sortedInts(out)
}

// expectQuiet checks that a new plan against a fresh Load and the shadow
// is empty, and that applying it makes no call at all.
func (w *world) expectQuiet(desired model.Org) {
	w.t.Helper()
	ch, sh := w.planFor(desired, nil)
	if !ch.Empty() || len(ch.ForgetMembers)+len(ch.ForgetDepts)+len(ch.RekeyDepts) > 0 || ch.Unowned != 0 {
		w.t.Fatalf("a quiet night plans %v, forgets %v %v, re-keys %v, unowned %d; notices %v",
			nonZero(ch.Counts()), ch.ForgetMembers, ch.ForgetDepts, ch.RekeyDepts, ch.Unowned, ch.Notices)
	}
	before := w.dir.Calls()
	_, res := w.apply(ch, sh)
	if n := w.dir.Calls() - before; n != 0 {
		w.t.Fatalf("applying an empty plan made %d calls (result %s)", n, describe(res))
	}
}

// journal returns a run's journal entries, oldest first.
func (w *world) journal(run int64) []state.Entry {
	w.t.Helper()
	es, err := w.store.Journal(w.ctx, state.JournalFilter{RunID: run, Limit: 100000})
	if err != nil {
		w.t.Fatalf("Journal: %v", err)
	}
	slices.Reverse(es)
	return es
}

func sortedInts(s []int) []int {
	out := slices.Clone(s)
	sort.Ints(out)
	return out
}

func nonZero(m map[plan.Op]int) map[plan.Op]int {
	out := map[plan.Op]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func describe(r directory.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "done %v", r.Done)
	for _, f := range r.Failed {
		fmt.Fprintf(&b, "; failed %s %s: %s", f.Op, f.Object, f.Error)
	}
	for _, p := range r.Pending {
		fmt.Fprintf(&b, "; pending %s %s: %s", p.Op, p.Object, p.Error)
	}
	return b.String()
}
