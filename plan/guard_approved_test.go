package plan

import (
	"errors"
	"fmt"
	"testing"

	"github.com/orgsync/orgsync/model"
)

// approveUsers approves the member changes of the given userids.
type approveUsers map[string]bool

func (a approveUsers) User(u UserChange) bool { return a[u.UserID] }
func (a approveUsers) Dept(DeptChange) bool   { return false }

func disables(n int) []UserChange {
	var out []UserChange
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("u%02d", i)
		out = append(out, UserChange{Op: OpUserDisable, UserID: id, Before: &model.Person{UserID: id}})
	}
	return out
}

func TestApprovedChangesAreWeighedAgainstNoThreshold(t *testing.T) {
	limits := Limits{Disables: MustThreshold("5"), Moves: MustThreshold("5")}
	in := func(a Approval) GuardInput {
		return GuardInput{DesiredPeople: 100, ManagedMembers: 100, Limits: limits, Approved: a}
	}
	all := approveUsers{}
	for i := 0; i < 20; i++ {
		all[fmt.Sprintf("u%02d", i)] = true
	}

	c := Changes{UserDisables: disables(20)}
	var refused *RefusedError
	if err := Guard(&c, in(nil)); !errors.As(err, &refused) {
		t.Fatalf("20 disables over 5 unapproved: %v, want a refusal", err)
	}

	c = Changes{UserDisables: disables(20)}
	if err := Guard(&c, in(all)); err != nil || len(c.UserDisables) != 20 || len(c.Held) != 0 {
		t.Fatalf("20 approved disables: err %v, kept %d, held %d", err, len(c.UserDisables), len(c.Held))
	}
	for i, u := range c.UserDisables {
		if u.UserID != fmt.Sprintf("u%02d", i) {
			t.Fatalf("plan order lost: %d is %s", i, u.UserID)
		}
	}

	// 12 of 20 approved: the 8 others are still over the threshold.
	some := approveUsers{}
	for i := 0; i < 12; i++ {
		some[fmt.Sprintf("u%02d", i)] = true
	}
	c = Changes{UserDisables: disables(20)}
	if err := Guard(&c, in(some)); !errors.As(err, &refused) || refused.Disables != 8 {
		t.Fatalf("8 unapproved disables over 5: %v", err)
	}

	// Moves: the approved ones go, the rest over the threshold are held.
	var moves []UserChange
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("u%02d", i)
		moves = append(moves, UserChange{Op: OpUserMove, UserID: id, Before: &model.Person{Departments: []string{"a"}}, After: &model.Person{Departments: []string{"b"}}, Fields: []string{"department"}})
	}
	c = Changes{UserMoves: moves}
	if err := Guard(&c, in(approveUsers{"u03": true, "u07": true})); err != nil || len(c.UserMoves) != 2 || len(c.Held) != 18 {
		t.Fatalf("2 approved of 20 moves: err %v, kept %d, held %d", err, len(c.UserMoves), len(c.Held))
	}
	if c.UserMoves[0].UserID != "u03" || c.UserMoves[1].UserID != "u07" {
		t.Fatalf("kept %v", c.UserMoves)
	}
}

func TestASourceProblemHoldsApprovedDisablesToo(t *testing.T) {
	c := Changes{UserDisables: disables(3)}
	err := Guard(&c, GuardInput{DesiredPeople: 100, ManagedMembers: 100, SourceProblems: []string{"hr: incomplete read"},
		Approved: approveUsers{"u00": true, "u01": true, "u02": true}})
	if err != nil || len(c.UserDisables) != 0 || len(c.Held) != 3 {
		t.Fatalf("err %v, kept %d, held %d", err, len(c.UserDisables), len(c.Held))
	}
}
