package plan

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/model"
)

var now = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

// Named fixtures: two departments under the root (id 1), 研发 = 10, 销售 = 11.
var (
	deptRD    = model.Department{Key: "研发", Name: "研发"}
	deptSales = model.Department{Key: "销售", Name: "销售"}
)

func person(userid string, depts ...string) model.Person {
	return model.Person{Key: "K-" + userid, UserID: userid, Name: "N-" + userid, Mobile: "1380013800" + userid[len(userid)-1:], Departments: depts, Enabled: true}
}

type world struct {
	desired []model.Person
	shadow  []ShadowMember
	current map[string][]int // userid → department ids
	policy  Policy
	protect []string
	adopt   map[string]string
}

func (w world) input() Input {
	sh := &Shadow{Members: map[string]*ShadowMember{}, Departments: map[string]*ShadowDept{
		"研发": {Department: model.Department{Key: "研发", Name: "研发", ID: 10, ParentID: 1}},
		"销售": {Department: model.Department{Key: "销售", Name: "销售", ID: 11, ParentID: 1}},
	}}
	for i := range w.shadow {
		m := w.shadow[i]
		sh.Members[model.UserIDKey(m.Person.UserID)] = &m
	}
	cur := Current{
		Departments: map[int]CurrentDept{1: {ID: 1}, 10: {ID: 10, ParentID: 1}, 11: {ID: 11, ParentID: 1}},
		Members:     map[string]*CurrentMember{},
	}
	for u, ds := range w.current {
		cur.Members[model.UserIDKey(u)] = &CurrentMember{UserID: u, Departments: ds}
	}
	pol := w.policy
	if pol.Mode == "" {
		pol.Mode = ModeSync
	}
	if pol.DeleteAfter == 0 {
		pol.DeleteAfter = 720 * time.Hour
	}
	prot := map[string]bool{}
	for _, p := range w.protect {
		prot[p] = true
	}
	return Input{
		Desired: model.Org{People: w.desired, Departments: []model.Department{deptRD, deptSales}},
		Current: cur, Shadow: sh, Policy: pol, Now: now, Protected: prot, AdoptMatches: w.adopt,
	}
}

func disabled(p model.Person) model.Person { p.Enabled = false; return p }

// summary renders a plan's user changes as "op:userid[fields]" for comparison.
func summary(c *Changes) []string {
	var out []string
	for _, l := range [][]UserChange{c.UserCreates, c.UserUpdates, c.UserMoves, c.UserEnables, c.UserDisables, c.UserDeletes} {
		for _, u := range l {
			s := string(u.Op) + ":" + u.UserID
			if len(u.Fields) > 0 && u.Op != OpUserMove {
				s += "[" + strings.Join(u.Fields, ",") + "]"
			}
			out = append(out, s)
		}
	}
	return out
}

func TestCalculateMembers(t *testing.T) {
	zs := person("zs1", "研发")
	ls := person("ls2", "研发")
	zsSales := person("zs1", "销售")
	zsNewMobile := zs
	zsNewMobile.Mobile = "13900139000"
	tests := []struct {
		name        string
		w           world
		want        []string
		wantUnowned int
		wantNotice  string
	}{
		{name: "a new person is created",
			w:    world{desired: []model.Person{zs}},
			want: []string{"user_create:zs1"}},
		{name: "nothing changed makes no change",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {10}}},
			want: nil},
		{name: "a department change in the source is a move",
			w:    world{desired: []model.Person{zsSales}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {10}}},
			want: []string{"user_move:zs1"}},
		{name: "a member moved by hand in WeCom is put back",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {11}}},
			want: []string{"user_move:zs1"}},
		{name: "a changed field is an update of that field only",
			w:    world{desired: []model.Person{zsNewMobile}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {10}}},
			want: []string{"user_update:zs1[mobile]"}},
		{name: "a managed member deleted by hand is re-created",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{}},
			want: []string{"user_create:zs1"}},
		{name: "a leaver is disabled",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}, {Person: ls}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}},
			want: []string{"user_disable:ls2"}},
		{name: "a leaver disabled longer than delete_after is deleted",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}, {Person: disabled(ls), DisabledAt: now.Add(-31 * 24 * time.Hour)}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}},
			want: []string{"user_delete:ls2"}},
		{name: "a leaver disabled recently is left disabled",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}, {Person: disabled(ls), DisabledAt: now.Add(-24 * time.Hour)}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}},
			want: nil},
		{name: "leavers: delete deletes at once",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}, {Person: ls}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}, policy: Policy{Leavers: "delete"}},
			want: []string{"user_delete:ls2"}},
		{name: "a rehire is enabled, not re-created",
			w:    world{desired: []model.Person{ls, zs}, shadow: []ShadowMember{{Person: zs}, {Person: disabled(ls), DisabledAt: now.Add(-24 * time.Hour)}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}},
			want: []string{"user_enable:ls2"}},
		{name: "enabled false in the source disables",
			w:    world{desired: []model.Person{disabled(zs)}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {10}}},
			want: []string{"user_disable:zs1"}},
		{name: "a disabled person who is not in WeCom is not created",
			w:          world{desired: []model.Person{disabled(zs)}},
			want:       nil,
			wantNotice: "not created"},
		{name: "a member created by hand is never touched",
			w:           world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {10}, "handmade": {10}}},
			want:        nil,
			wantUnowned: 1},
		{name: "a desired person whose userid exists unowned is reported, not changed",
			w:          world{desired: []model.Person{zs}, current: map[string][]int{"ZS1": {10}}},
			want:       nil,
			wantNotice: "does not own"},
		{name: "adopt by userid takes over a pre-existing member with every field",
			w:    world{desired: []model.Person{zs}, current: map[string][]int{"ZS1": {10}}, policy: Policy{AdoptUserID: true}},
			want: []string{"user_update:zs1[" + strings.Join(allFields, ",") + "]"}},
		{name: "adopt by mobile match manages the existing userid",
			w:    world{desired: []model.Person{zs}, current: map[string][]int{"old-zs": {10}}, adopt: map[string]string{"K-zs1": "old-zs"}},
			want: []string{"user_update:old-zs[" + strings.Join(allFields, ",") + "]"}},
		{name: "a changed userid rule keeps the userid WeCom has",
			w:          world{desired: []model.Person{func() model.Person { p := zs; p.UserID = "zhangsan"; return p }()}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {10}}},
			want:       nil,
			wantNotice: "cannot change"},
		{name: "a leaver whose record was rejected is protected",
			w:          world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}, {Person: ls}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}, protect: []string{"K-ls2"}},
			want:       nil,
			wantNotice: "rejected"},
		{name: "a protected userid is never changed",
			w:    world{desired: []model.Person{zsNewMobile}, shadow: []ShadowMember{{Person: zs}, {Person: ls}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}, policy: Policy{Protected: []string{"ZS1", "ls2"}}},
			want: nil},
		{name: "upsert-only never disables",
			w:    world{desired: []model.Person{zs}, shadow: []ShadowMember{{Person: zs}, {Person: ls}}, current: map[string][]int{"zs1": {10}, "ls2": {10}}, policy: Policy{Mode: ModeUpsertOnly}},
			want: nil},
		{name: "create-only never updates",
			w:    world{desired: []model.Person{zsNewMobile, ls}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {10}}, policy: Policy{Mode: ModeCreateOnly}},
			want: []string{"user_create:ls2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Calculate(tt.w.input())
			if got := summary(c); !slices.Equal(got, tt.want) {
				t.Fatalf("changes = %v, want %v", got, tt.want)
			}
			if c.Unowned != tt.wantUnowned {
				t.Fatalf("unowned = %d, want %d", c.Unowned, tt.wantUnowned)
			}
			if tt.wantNotice != "" {
				found := false
				for _, n := range c.Notices {
					found = found || strings.Contains(n.Msg, tt.wantNotice)
				}
				if !found {
					t.Fatalf("no notice containing %q in %+v", tt.wantNotice, c.Notices)
				}
			}
		})
	}
}

func TestCalculateDepartments(t *testing.T) {
	t.Run("a new nested department is created top-down with assigned ids above every known id", func(t *testing.T) {
		w := world{}
		in := w.input()
		in.Desired.Departments = append(in.Desired.Departments,
			model.Department{Key: "研发/后端", Name: "后端", ParentKey: "研发"},
			model.Department{Key: "研发/后端/存储", Name: "存储", ParentKey: "研发/后端"},
		)
		c := Calculate(in)
		if len(c.DeptCreates) != 2 || c.DeptCreates[0].Key != "研发/后端" || c.DeptCreates[1].Key != "研发/后端/存储" {
			t.Fatalf("creates = %+v", c.DeptCreates)
		}
		if c.DeptCreates[0].ID != 12 || c.DeptCreates[1].ID != 13 {
			t.Fatalf("ids = %d, %d; want 12, 13", c.DeptCreates[0].ID, c.DeptCreates[1].ID)
		}
		if c.DeptCreates[0].After.ParentID != 10 {
			t.Fatalf("parent id = %d, want 10", c.DeptCreates[0].After.ParentID)
		}
	})
	t.Run("a renamed department (same key) is an update, not delete plus create", func(t *testing.T) {
		in := world{}.input()
		in.Desired.Departments[0].Name = "研发中心"
		c := Calculate(in)
		if len(c.DeptUpdates) != 1 || !slices.Equal(c.DeptUpdates[0].What, []string{"name"}) || len(c.DeptCreates)+len(c.DeptDeletes) != 0 {
			t.Fatalf("plan = %+v", c)
		}
	})
	t.Run("an empty managed department no longer in the source is deleted", func(t *testing.T) {
		in := world{}.input()
		in.Desired.Departments = in.Desired.Departments[:1]
		c := Calculate(in)
		if len(c.DeptDeletes) != 1 || c.DeptDeletes[0].ID != 11 {
			t.Fatalf("deletes = %+v", c.DeptDeletes)
		}
	})
	t.Run("a department with a member orgsync does not own is kept", func(t *testing.T) {
		w := world{current: map[string][]int{"handmade": {11}}}
		in := w.input()
		in.Desired.Departments = in.Desired.Departments[:1]
		c := Calculate(in)
		if len(c.DeptDeletes) != 0 {
			t.Fatalf("deletes = %+v", c.DeptDeletes)
		}
	})
	t.Run("a department emptied by this plan's moves is deleted", func(t *testing.T) {
		zs := person("zs1", "销售")
		w := world{desired: []model.Person{person("zs1", "研发")}, shadow: []ShadowMember{{Person: zs}}, current: map[string][]int{"zs1": {11}}}
		in := w.input()
		in.Desired.Departments = in.Desired.Departments[:1]
		c := Calculate(in)
		if len(c.DeptDeletes) != 1 || len(c.UserMoves) != 1 {
			t.Fatalf("plan = %+v", c)
		}
	})
	t.Run("a hand-made department of the same name is left alone without an adopt rule", func(t *testing.T) {
		in := world{}.input()
		in.Current.Departments[20] = CurrentDept{ID: 20, ParentID: 1, Name: "市场"}
		in.Desired.Departments = append(in.Desired.Departments, model.Department{Key: "市场", Name: "市场"})
		c := Calculate(in)
		if len(c.DeptCreates) != 0 || len(c.DeptUpdates) != 0 || len(c.Notices) != 1 || !strings.Contains(c.Notices[0].Msg, "adopt: [departments]") {
			t.Fatalf("plan = %+v", c)
		}
	})
	t.Run("with adopt: [departments] a department with readable name under the same parent is adopted, not duplicated", func(t *testing.T) {
		in := world{}.input()
		in.Policy.AdoptDepartments = true
		in.Current.Departments[20] = CurrentDept{ID: 20, ParentID: 1, Name: "市场"}
		in.Desired.Departments = append(in.Desired.Departments, model.Department{Key: "市场", Name: "市场"})
		c := Calculate(in)
		if len(c.DeptCreates) != 0 || len(c.DeptUpdates) != 1 || !c.DeptUpdates[0].Adopt || c.DeptUpdates[0].ID != 20 {
			t.Fatalf("plan = %+v", c)
		}
	})
}

func TestGuard(t *testing.T) {
	leavers := func(n int) *Changes {
		c := &Changes{}
		for i := 0; i < n; i++ {
			c.UserDisables = append(c.UserDisables, UserChange{Op: OpUserDisable, UserID: "u"})
		}
		c.UserCreates = []UserChange{{Op: OpUserCreate, UserID: "new"}}
		return c
	}
	five, _ := ParseThreshold("5%")
	twenty, _ := ParseThreshold("20")
	t.Run("an empty source is refused", func(t *testing.T) {
		err := Guard(leavers(0), GuardInput{DesiredPeople: 0})
		if !errors.Is(err, ErrEmptySource) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a source problem holds every disable but lets creates through", func(t *testing.T) {
		c := leavers(30)
		if err := Guard(c, GuardInput{DesiredPeople: 10, ManagedMembers: 40, Limits: Limits{Disables: five}, SourceProblems: []string{"hr: truncated file"}}); err != nil {
			t.Fatal(err)
		}
		if len(c.UserDisables) != 0 || len(c.Held) != 30 || len(c.UserCreates) != 1 {
			t.Fatalf("disables %d held %d creates %d", len(c.UserDisables), len(c.Held), len(c.UserCreates))
		}
		if !strings.Contains(c.Held[0].Reason, "truncated") {
			t.Fatalf("held reason = %q", c.Held[0].Reason)
		}
	})
	t.Run("disables over a percentage refuse the run with counts and thresholds", func(t *testing.T) {
		err := Guard(leavers(6), GuardInput{DesiredPeople: 94, ManagedMembers: 100, Limits: Limits{Disables: five, Deletes: twenty}})
		var re *RefusedError
		if !errors.As(err, &re) || re.Disables != 6 || !strings.Contains(err.Error(), "5% = 5 of 100") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("disables at the threshold pass", func(t *testing.T) {
		if err := Guard(leavers(5), GuardInput{DesiredPeople: 95, ManagedMembers: 100, Limits: Limits{Disables: five}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("--allow-destructive approves a refused run up to its count", func(t *testing.T) {
		if err := Guard(leavers(6), GuardInput{DesiredPeople: 94, ManagedMembers: 100, Limits: Limits{Disables: five}, AllowDestructive: 6}); err != nil {
			t.Fatal(err)
		}
		if err := Guard(leavers(7), GuardInput{DesiredPeople: 94, ManagedMembers: 100, Limits: Limits{Disables: five}, AllowDestructive: 6}); err == nil {
			t.Fatal("approval of 6 let 7 through")
		}
	})
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]int{"20": 20, "5%": 5, "0": 0, "0%": 0, "12.5%": 12, "5% or 20": 20, "30% or 20": 30, "20 or 5%": 20} {
		th, err := ParseThreshold(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := th.Limit(100); got != want {
			t.Errorf("%q.Limit(100) = %d, want %d", in, got, want)
		}
	}
	for _, bad := range []string{"-1", "abc", "150%", "5% or 6%", "5 or 6", "5% or"} {
		if _, err := ParseThreshold(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestShortcutsChangeNoPlan compares Calculate with and without its
// shortcuts (rename detection and the passes over leavers and unowned
// members skipped when counts show them empty) on random worlds of
// desired people, a shadow and WeCom's members that agree or differ by a
// leaver, a newcomer, a member WeCom lists that orgsync does not own, one
// outside the scope, a protected userid or a userid rule that changed.
func TestShortcutsChangeNoPlan(t *testing.T) {
	shortcut := 0
	for seed := uint64(1); seed <= 400; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		in := Input{
			Shadow:  &Shadow{Members: map[string]*ShadowMember{}, Departments: map[string]*ShadowDept{"d": {Department: model.Department{Key: "d", Name: "d", ID: 2}}}},
			Current: Current{Departments: map[int]CurrentDept{1: {ID: 1}, 2: {ID: 2, ParentID: 1}}, Members: map[string]*CurrentMember{}, Outside: map[string]*CurrentMember{}},
			Desired: model.Org{Departments: []model.Department{{Key: "d", Name: "d"}}},
			Policy:  Policy{Leavers: []string{"disable", "delete"}[r.IntN(2)]},
		}
		n := 3 + r.IntN(6)
		for i := range n {
			p := model.Person{Key: fmt.Sprintf("k%d", i), UserID: fmt.Sprintf("u%d", i), Name: "n", Departments: []string{"d"}, Enabled: true}
			in.Desired.People = append(in.Desired.People, p)
			in.Shadow.Members[p.UserID] = &ShadowMember{Person: p}
			in.Current.Members[p.UserID] = &CurrentMember{UserID: p.UserID, Departments: []int{2}}
		}
		kinds := []string{"none", "leaver", "newcomer", "unowned", "outside", "protected", "rule", "gone from WeCom", "leaver gone from WeCom"}
		var changes []string
		for range 1 + r.IntN(2) {
			changes = append(changes, kinds[r.IntN(len(kinds))])
		}
		for _, change := range changes {
			applyChange(&in, change, n, r)
		}
		change := strings.Join(changes, " + ")
		got, want := calculate(in, false), calculate(in, true)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d (%s): with the shortcuts %+v\nwithout %+v", seed, change, got, want)
		}
		if change == "none" && got.Empty() && got.Unowned == 0 {
			shortcut++
		}
	}
	if shortcut == 0 {
		t.Fatal("no quiet world: the shortcuts were never compared")
	}
}

func applyChange(in *Input, change string, n int, r *rand.Rand) {
	switch change {
	case "leaver":
		in.Desired.People = in.Desired.People[1:]
	case "newcomer":
		in.Desired.People = append(in.Desired.People, model.Person{Key: "new", UserID: "new", Name: "n", Departments: []string{"d"}, Enabled: true})
	case "unowned":
		in.Current.Members["stranger"] = &CurrentMember{UserID: "stranger", Departments: []int{2}}
	case "outside":
		in.Current.Outside["u0"] = &CurrentMember{UserID: "u0", Departments: []int{99}}
		delete(in.Current.Members, "u0")
	case "protected":
		in.Policy.Protected = []string{fmt.Sprintf("u%d", r.IntN(n))}
		if r.IntN(2) == 0 {
			in.Desired.People = in.Desired.People[1:] // and a leaver
		}
	case "rule":
		in.Desired.People[0].UserID = "renamed0" // the shadow keeps u0 by its key
	case "gone from WeCom":
		delete(in.Current.Members, "u1")
	case "leaver gone from WeCom":
		in.Desired.People = in.Desired.People[:len(in.Desired.People)-1]
		delete(in.Current.Members, fmt.Sprintf("u%d", n-1))
	}
}
