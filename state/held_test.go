package state

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

var (
	heldDisable = HeldChange{Op: "user_disable", Object: "e001", Reason: "51 disables (max_disables 5%)", Origin: "hr",
		Before: json.RawMessage(`{"userid":"e001"}`), Fingerprint: "fp-disable"}
	heldMove = HeldChange{Op: "user_move", Object: "e002", Reason: "30 member moves (max_moves 10% or 20)", Origin: "hr:people.csv:3",
		Before: json.RawMessage(`{"departments":["a"]}`), After: json.RawMessage(`{"departments":["b"]}`), Fingerprint: "fp-move"}
)

func heldByObject(t *testing.T, s *Store) map[string]HeldChange {
	t.Helper()
	hs, err := s.ListHeld(context.Background(), HeldFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]HeldChange{}
	for _, h := range hs {
		out[h.Op+" "+h.Object] = h
	}
	return out
}

func TestHoldKeepsOneRowPerChangeWithItsEvidence(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		must(t, s.Hold(ctx, 1, []HeldChange{heldDisable, heldMove}))
		again := heldMove
		again.Reason = "31 member moves"
		must(t, s.Hold(ctx, 2, []HeldChange{again}))

		got := heldByObject(t, s)
		if len(got) != 2 {
			t.Fatalf("rows: %v", got)
		}
		m := got["user_move e002"]
		if m.Status != HeldHeld || m.RunID != 2 || m.Reason != "31 member moves" || m.Origin != "hr:people.csv:3" || string(m.After) != `{"departments":["b"]}` {
			t.Fatalf("move row: %+v", m)
		}
		if d := got["user_disable e001"]; d.RunID != 1 || d.After != nil || string(d.Before) != `{"userid":"e001"}` {
			t.Fatalf("disable row: %+v", d)
		}
	})
}

func TestApprovedStaysApprovedWhileTheChangeIsTheSame(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		must(t, s.Hold(ctx, 1, []HeldChange{heldMove}))
		id := heldByObject(t, s)["user_move e002"].ID
		decided, err := s.DecideHeld(ctx, []int64{id}, HeldApproved, "alice", "")
		must(t, err)
		if len(decided) != 1 || decided[0].Status != HeldApproved || decided[0].DecidedBy != "alice" || decided[0].DecidedAt.IsZero() {
			t.Fatalf("decided: %+v", decided)
		}

		must(t, s.Hold(ctx, 2, []HeldChange{heldMove})) // held again, e.g. by a source problem
		if h := heldByObject(t, s)["user_move e002"]; h.Status != HeldApproved || h.DecidedBy != "alice" {
			t.Fatalf("same change held again lost its approval: %+v", h)
		}

		changed := heldMove
		changed.Fingerprint, changed.After = "fp-move-2", json.RawMessage(`{"departments":["c"]}`)
		must(t, s.Hold(ctx, 3, []HeldChange{changed}))
		h := heldByObject(t, s)["user_move e002"]
		if h.Status != HeldHeld || h.DecidedBy != "" || !h.DecidedAt.IsZero() || h.Fingerprint != "fp-move-2" {
			t.Fatalf("a different change kept the approval: %+v", h)
		}
		ev, err := s.HeldEvents(ctx, id)
		must(t, err)
		var actions []string
		for _, e := range ev {
			actions = append(actions, e.Actor+":"+e.Action)
		}
		want := []string{"run 1:held", "alice:approved", "run 3:reopened"}
		if len(actions) != len(want) || actions[0] != want[0] || actions[1] != want[1] || actions[2] != want[2] {
			t.Fatalf("audit trail %v, want %v", actions, want)
		}
	})
}

func TestRejectedIsReopenedOnlyByAChangedChange(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		must(t, s.Hold(ctx, 1, []HeldChange{heldDisable}))
		id := heldByObject(t, s)["user_disable e001"].ID
		_, err := s.DecideHeld(ctx, []int64{id}, HeldRejected, "bob", "still employed")
		must(t, err)
		changed := heldDisable
		changed.Fingerprint = "fp-disable-2"
		must(t, s.Hold(ctx, 2, []HeldChange{changed}))
		if h := heldByObject(t, s)["user_disable e001"]; h.Status != HeldHeld {
			t.Fatalf("changed change not reopened: %+v", h)
		}
	})
}

func TestDecisionsOnClosedOrUnknownRowsChangeNothing(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		must(t, s.Hold(ctx, 1, []HeldChange{heldDisable, heldMove}))
		rows := heldByObject(t, s)
		dis, mv := rows["user_disable e001"].ID, rows["user_move e002"].ID
		must(t, s.CloseHeld(ctx, 2, []int64{mv}, HeldObsolete, "no longer planned"))

		if _, err := s.DecideHeld(ctx, []int64{dis, mv}, HeldApproved, "alice", ""); !errors.Is(err, ErrHeldClosed) {
			t.Fatalf("approve an obsolete row: %v", err)
		}
		if _, err := s.DecideHeld(ctx, []int64{dis, 99}, HeldApproved, "alice", ""); !errors.Is(err, ErrHeldNotFound) {
			t.Fatalf("approve an unknown row: %v", err)
		}
		if h := heldByObject(t, s)["user_disable e001"]; h.Status != HeldHeld {
			t.Fatalf("a failed decision changed a row: %+v", h)
		}
		if _, err := s.DecideHeld(ctx, []int64{dis}, HeldApproved, " ", ""); err == nil {
			t.Fatal("a decision without who decided was accepted")
		}
		live, err := s.ListHeld(ctx, HeldFilter{Status: HeldOpen, Op: "user_disable"})
		must(t, err)
		if len(live) != 1 || live[0].ID != dis {
			t.Fatalf("open disables: %+v", live)
		}
	})
}

func TestHeldSurvivesReopen(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		must(t, s.Hold(ctx, 1, []HeldChange{heldMove}))
		s.Close()
		s2, err := reopen(s)
		must(t, err)
		defer s2.Close()
		h, err := s2.GetHeld(ctx, 1)
		must(t, err)
		if h.Object != "e002" || h.Status != HeldHeld {
			t.Fatalf("after reopen: %+v", h)
		}
		if _, err := s2.GetHeld(ctx, 2); !errors.Is(err, ErrHeldNotFound) {
			t.Fatalf("GetHeld(2): %v", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
