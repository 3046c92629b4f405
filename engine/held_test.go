package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// queue returns the held queue by op and object.
func (en *env) queue() map[string]state.HeldChange {
	en.t.Helper()
	hs, err := en.e.Store().ListHeld(context.Background(), state.HeldFilter{})
	must(en.t, err)
	out := map[string]state.HeldChange{}
	for _, h := range hs {
		out[h.Op+" "+h.Object] = h
	}
	return out
}

func (en *env) decide(status string, keys ...string) {
	en.t.Helper()
	q := en.queue()
	var ids []int64
	for _, k := range keys {
		h, ok := q[k]
		if !ok {
			en.t.Fatalf("%s is not in the queue: %v", k, q)
		}
		ids = append(ids, h.ID)
	}
	_, err := en.e.Store().DecideHeld(context.Background(), ids, status, "tester", "")
	must(en.t, err)
}

// fiveInD2 are E003, E006, E009, E012 and E015, in D2 in newEnv.
var fiveInD2 = []int{2, 5, 8, 11, 14}

// moveFive moves fiveInD2 to another department, over a max_moves of 2.
func (en *env) moveFive(to string) {
	for _, i := range fiveInD2 {
		en.rows[i].dept = to
	}
}

var fiveMoves = []string{"user_move e003", "user_move e006", "user_move e009", "user_move e012", "user_move e015"}

func TestARefusedMassLeaverNightIsQueuedAndAppliedOnceApproved(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	en.rows = en.rows[:10]
	_, err := en.sync(Options{})
	var refused *plan.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("got %v, want a refusal", err)
	}
	q := en.queue()
	if len(q) != 10 {
		t.Fatalf("queue has %d rows, want the 10 refused disables: %v", len(q), q)
	}
	h := q["user_disable e011"]
	if h.Status != state.HeldHeld || !strings.Contains(h.Reason, "refused") || h.RunID == 0 || len(h.Before) == 0 {
		t.Fatalf("row for e011: %+v", h)
	}
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	en.decide(state.HeldApproved, keys...)

	rep := en.mustSync()
	if rep.Changes["user_disable"] != 10 || rep.Status != StatusSucceeded {
		t.Fatalf("approved run: %s %v", rep.Status, rep.Changes)
	}
	if u := en.user("e011"); u == nil || u.Enable != 0 {
		t.Fatalf("e011 not disabled: %+v", u)
	}
	for k, h := range en.queue() {
		if h.Status != state.HeldApplied || h.RunID != rep.RunID {
			t.Fatalf("%s: %s by run %d, want applied by %d", k, h.Status, h.RunID, rep.RunID)
		}
	}
}

func TestApprovedMovesGoThroughAndTheRestStayHeld(t *testing.T) {
	en := newEnv(t, true)
	en.extra = "  max_moves: 2"
	en.mustSync()
	en.moveFive("D3")
	rep := en.mustSync()
	if rep.Held != 5 || rep.Status != StatusAttention {
		t.Fatalf("held %d, status %s", rep.Held, rep.Status)
	}
	q := en.queue()
	if h := q["user_move e003"]; h.Status != state.HeldHeld || !strings.Contains(h.Reason, "max_moves") || !strings.Contains(string(h.After), "D3") || !strings.Contains(h.Origin, "employees.csv") {
		t.Fatalf("row for e003: %+v", h)
	}
	en.decide(state.HeldApproved, "user_move e003", "user_move e006")
	rep = en.mustSync()
	if rep.Changes["user_move"] != 2 || rep.Held != 3 {
		t.Fatalf("moves %d, held %d: want the 2 approved made and 3 held", rep.Changes["user_move"], rep.Held)
	}
	q = en.queue()
	if q["user_move e003"].Status != state.HeldApplied || q["user_move e006"].Status != state.HeldApplied || q["user_move e009"].Status != state.HeldHeld {
		t.Fatalf("queue after: %v", q)
	}
}

func TestAnApprovedChangeThatNoLongerHoldsIsNotApplied(t *testing.T) {
	en := newEnv(t, true)
	en.extra = "  max_moves: 2"
	en.mustSync()
	en.moveFive("D3")
	en.mustSync()
	en.decide(state.HeldApproved, fiveMoves...)

	// The source changed its mind: E003 stays in D2, the others go to D4.
	en.moveFive("D4")
	en.rows[2].dept = "D2"
	rep := en.mustSync()
	q := en.queue()
	if q["user_move e003"].Status != state.HeldObsolete {
		t.Fatalf("a move no longer planned is %s, want obsolete", q["user_move e003"].Status)
	}
	if h := q["user_move e006"]; h.Status != state.HeldHeld || h.DecidedBy != "" || !strings.Contains(string(h.After), "D4") {
		t.Fatalf("a move to another department kept the approval of the first: %+v", h)
	}
	if rep.Changes["user_move"] != 0 || rep.Held != 4 {
		t.Fatalf("moves made %d, held %d: want none made, the 4 new ones held", rep.Changes["user_move"], rep.Held)
	}
}

func TestARejectedChangeIsNotProposedAgainUntilTheSourceChanges(t *testing.T) {
	en := newEnv(t, true)
	en.extra = "  max_moves: 2"
	en.mustSync()
	en.moveFive("D3")
	en.mustSync()
	en.decide(state.HeldRejected, fiveMoves...)

	rep := en.mustSync()
	if rep.Held != 0 || rep.Changes["user_move"] != 0 || rep.Status != StatusSucceeded {
		t.Fatalf("rejected moves proposed again: held %d, moves %d, status %s", rep.Held, rep.Changes["user_move"], rep.Status)
	}
	found := false
	for _, n := range rep.Plan.Notices {
		found = found || (n.Object == "e003" && strings.Contains(n.Msg, "rejected"))
	}
	if !found {
		t.Fatalf("no notice says the rejected move is left out: %v", rep.Plan.Notices)
	}
	if q := en.queue(); q["user_move e003"].Status != state.HeldRejected {
		t.Fatalf("e003: %+v", q["user_move e003"])
	}

	en.moveFive("D4") // the source changes: a new proposal
	rep = en.mustSync()
	if rep.Held != 5 {
		t.Fatalf("held %d, want the 5 new moves", rep.Held)
	}
	if h := en.queue()["user_move e003"]; h.Status != state.HeldHeld || !strings.Contains(string(h.After), "D4") {
		t.Fatalf("not reopened: %+v", h)
	}
}

func TestADryRunLeavesTheQueueAlone(t *testing.T) {
	en := newEnv(t, true)
	en.extra = "  max_moves: 2"
	en.mustSync()
	en.moveFive("D3")
	rep, err := en.sync(Options{DryRun: true})
	if err != nil || rep.Held != 5 {
		t.Fatalf("dry run: %v, held %d", err, rep.Held)
	}
	if q := en.queue(); len(q) != 0 {
		t.Fatalf("a dry run wrote the queue: %v", q)
	}
}

func TestAnApprovedDepartmentRenameIsMade(t *testing.T) {
	en := newEnv(t, true)
	en.extra = `  max_department_renames: "0"`
	en.mustSync()
	en.depts[2][1] = "市场部" // D3 销售部 → 市场部
	rep := en.mustSync()
	if rep.Held != 1 || en.deptByName("销售部") == nil {
		t.Fatalf("held %d; the rename must wait", rep.Held)
	}
	h := en.queue()["department_update D3"]
	if h.Status != state.HeldHeld || !strings.Contains(string(h.After), "市场部") || !strings.Contains(string(h.Before), "销售部") {
		t.Fatalf("queue row: %+v", h)
	}
	en.decide(state.HeldApproved, "department_update D3")
	rep = en.mustSync()
	if rep.Changes["department_update"] != 1 || en.deptByName("市场部") == nil {
		t.Fatalf("approved rename not made: %v", rep.Changes)
	}
	if h := en.queue()["department_update D3"]; h.Status != state.HeldApplied {
		t.Fatalf("after: %+v", h)
	}
}
