package plan

import (
	"strings"
	"testing"

	"github.com/orgsync/orgsync/model"
)

// managedUpdate is a user_update of one field from before to after.
func managedUpdate(i int, field string, before, after model.Person) UserChange {
	before.UserID, after.UserID = "u"+string(rune('a'+i%26))+strings.Repeat("x", i/26), ""
	after.UserID = before.UserID
	return UserChange{Op: OpUserUpdate, UserID: before.UserID, Before: &before, After: &after, Fields: []string{field}}
}

func TestGuardHoldsEveryKindOfChangeOverItsThreshold(t *testing.T) {
	ten := MustThreshold("10%")
	limits := Limits{Moves: ten, Updates: ten, Clears: MustThreshold("5%"), DeptRenames: ten, DeptMoves: ten, DeptDeletes: ten}
	n := func(k int, f func(i int) UserChange) []UserChange {
		var out []UserChange
		for i := 0; i < k; i++ {
			out = append(out, f(i))
		}
		return out
	}
	depts := func(k int, op Op, what ...string) []DeptChange {
		var out []DeptChange
		for i := 0; i < k; i++ {
			out = append(out, DeptChange{Op: op, Key: "d" + string(rune('a'+i)), What: what})
		}
		return out
	}
	cases := []struct {
		name     string
		changes  Changes
		wantHeld int
		wantKept func(c *Changes) int
		reason   string
	}{
		{name: "mobiles cleared for a mass of members are held",
			changes: Changes{UserUpdates: n(30, func(i int) UserChange {
				return managedUpdate(i, "mobile", model.Person{Mobile: "+86 13800000000"}, model.Person{})
			})},
			wantHeld: 30, wantKept: func(c *Changes) int { return len(c.UserUpdates) }, reason: "mobile is cleared"},
		{name: "a few mobiles cleared pass",
			changes: Changes{UserUpdates: n(5, func(i int) UserChange {
				return managedUpdate(i, "mobile", model.Person{Mobile: "+86 13800000000"}, model.Person{})
			})},
			wantHeld: 0, wantKept: func(c *Changes) int { return len(c.UserUpdates) }},
		{name: "every name rewritten is held",
			changes: Changes{UserUpdates: n(100, func(i int) UserChange {
				return managedUpdate(i, "name", model.Person{Name: "李伟"}, model.Person{Name: "鏉庝紵"})
			})},
			wantHeld: 100, wantKept: func(c *Changes) int { return len(c.UserUpdates) }, reason: "name changes"},
		{name: "a mass move is held with the department deletes it would allow",
			changes: Changes{UserMoves: n(40, func(i int) UserChange {
				u := managedUpdate(i, "department", model.Person{Departments: []string{"a"}}, model.Person{Departments: []string{"b"}})
				u.Op = OpUserMove
				return u
			}), DeptDeletes: depts(1, OpDeptDelete)},
			wantHeld: 41, wantKept: func(c *Changes) int { return len(c.UserMoves) + len(c.DeptDeletes) }, reason: "member moves"},
		{name: "department renames over the threshold are held",
			changes:  Changes{DeptUpdates: depts(5, OpDeptUpdate, "name")},
			wantHeld: 5, wantKept: func(c *Changes) int { return len(c.DeptUpdates) }, reason: "department renames"},
		{name: "department moves over the threshold are held",
			changes:  Changes{DeptUpdates: depts(5, OpDeptUpdate, "parent")},
			wantHeld: 5, wantKept: func(c *Changes) int { return len(c.DeptUpdates) }, reason: "department moves"},
		{name: "department deletes over the threshold are held",
			changes:  Changes{DeptDeletes: depts(5, OpDeptDelete)},
			wantHeld: 5, wantKept: func(c *Changes) int { return len(c.DeptDeletes) }, reason: "department deletes"},
		{name: "reorders are not renames",
			changes:  Changes{DeptUpdates: depts(5, OpDeptUpdate, "order")},
			wantHeld: 0, wantKept: func(c *Changes) int { return len(c.DeptUpdates) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.changes
			c.UserCreates = []UserChange{{Op: OpUserCreate, UserID: "new"}}
			if err := Guard(&c, GuardInput{DesiredPeople: 200, ManagedMembers: 200, ManagedDepts: 20, Limits: limits}); err != nil {
				t.Fatal(err)
			}
			if len(c.Held) != tc.wantHeld || len(c.UserCreates) != 1 {
				t.Fatalf("held %d (want %d), creates %d: %+v", len(c.Held), tc.wantHeld, len(c.UserCreates), c.Held)
			}
			if tc.wantHeld > 0 {
				if k := tc.wantKept(&c); k != 0 {
					t.Fatalf("%d guarded changes still planned", k)
				}
				if !strings.Contains(c.Held[0].Reason, tc.reason) || !strings.Contains(c.Held[0].Reason, "--allow-destructive") {
					t.Fatalf("reason %q", c.Held[0].Reason)
				}
			}
			// The same plan, approved for its count, goes through whole.
			c2 := tc.changes
			if err := Guard(&c2, GuardInput{DesiredPeople: 200, ManagedMembers: 200, ManagedDepts: 20, Limits: limits, AllowDestructive: max(tc.wantHeld, 1)}); err != nil || len(c2.Held) != 0 {
				t.Fatalf("approved plan: %v, held %d", err, len(c2.Held))
			}
		})
	}
}

func TestASourceProblemHoldsDepartmentRenamesAndMovesToo(t *testing.T) {
	c := &Changes{DeptUpdates: []DeptChange{{Op: OpDeptUpdate, Key: "a", What: []string{"name"}}, {Op: OpDeptUpdate, Key: "b", What: []string{"order"}}}}
	if err := Guard(c, GuardInput{DesiredPeople: 10, SourceProblems: []string{"hr: re-encoded"}}); err != nil {
		t.Fatal(err)
	}
	if len(c.DeptUpdates) != 1 || c.DeptUpdates[0].Key != "b" || len(c.Held) != 1 {
		t.Fatalf("updates %+v held %+v", c.DeptUpdates, c.Held)
	}
}

func TestTheRollingBudgetCountsEarlierRuns(t *testing.T) {
	c := &Changes{UserDisables: []UserChange{{Op: OpUserDisable, UserID: "a"}, {Op: OpUserDisable, UserID: "b"}}}
	g := GuardInput{DesiredPeople: 100, ManagedMembers: 100, Limits: Limits{Disables: MustThreshold("5"), DisablesPerDay: MustThreshold("10")}, RecentDisables: 9}
	err := Guard(c, g)
	if err == nil || !strings.Contains(err.Error(), "in the last 24 hours earlier runs disabled 9") {
		t.Fatalf("got %v", err)
	}
	g.RecentDisables = 8
	if err := Guard(c, g); err != nil {
		t.Fatalf("within the budget: %v", err)
	}
}
