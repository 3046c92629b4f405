package engine

import (
	"fmt"
	"strings"
	"testing"
)

// pathEnv is a company whose export names departments by path only (no
// org codes): the common HR export.
func pathEnv(t *testing.T, restricted bool) *env {
	en := newEnv(t, restricted)
	en.paths = true
	en.maxDis = "50%"
	depts := []string{"总部/研发中心/后端组", "总部/研发中心/前端组", "总部/销售部/华东", "总部/销售部/华南", "总部/人事部"}
	en.rows = nil
	for i := 1; i <= 40; i++ {
		en.rows = append(en.rows, row{id: fmt.Sprintf("E%03d", i), name: fmt.Sprintf("员工%d", i), dept: depts[i%len(depts)], mobile: fmt.Sprintf("1380013%04d", i), status: "在职"})
	}
	return en
}

// deptIDs is department name → id in WeCom.
func deptIDs(en *env) map[string]int64 {
	out := map[string]int64{}
	for _, d := range en.emu.State().Departments {
		out[d.Name] = d.ID
	}
	return out
}

func TestARenamedDepartmentStaysTheSameDepartment(t *testing.T) {
	cases := []struct {
		name    string
		change  func(dept string) string
		renamed map[string]string // old name → new name, ids kept
		updates int               // department_update calls
		reason  string
	}{
		{name: "a renamed department, its subtree with it",
			change:  func(d string) string { return strings.Replace(d, "研发中心", "技术中心", 1) },
			renamed: map[string]string{"研发中心": "技术中心", "后端组": "后端组", "前端组": "前端组"}, updates: 1,
			reason: "matched by members (16 of 16)"},
		{name: "a renamed leaf",
			change:  func(d string) string { return strings.Replace(d, "华东", "华东大区", 1) },
			renamed: map[string]string{"华东": "华东大区"}, updates: 1, reason: "matched by members (8 of 8)"},
		{name: "a moved department",
			change:  func(d string) string { return strings.Replace(d, "总部/销售部/华南", "总部/华南", 1) },
			renamed: map[string]string{"华南": "华南"}, updates: 1, reason: "moved in the source: matched by members"},
		{name: "a swap of two names",
			change: func(d string) string {
				switch {
				case strings.HasSuffix(d, "后端组"):
					return strings.Replace(d, "后端组", "前端组", 1)
				case strings.HasSuffix(d, "前端组"):
					return strings.Replace(d, "前端组", "后端组", 1)
				}
				return d
			},
			// Three calls: one of them passes through a temporary name.
			renamed: map[string]string{"后端组": "前端组", "前端组": "后端组"}, updates: 3, reason: "matched by members (8 of 8)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, restricted := range []bool{true, false} {
				t.Run(fmt.Sprintf("restricted reads %v", restricted), func(t *testing.T) {
					en := pathEnv(t, restricted)
					en.mustSync()
					before := deptIDs(en)
					for i := range en.rows {
						en.rows[i].dept = tc.change(en.rows[i].dept)
					}
					rep := en.mustSync()
					after := deptIDs(en)
					for from, to := range tc.renamed {
						if after[to] != before[from] {
							t.Errorf("%s (id %d) is now %s with id %d: not the same department", from, before[from], to, after[to])
						}
					}
					c := rep.Changes
					if c["department_create"] != 0 || c["department_delete"] != 0 || c["user_move"] != 0 || c["department_update"] != tc.updates {
						t.Fatalf("changes %v, want %d department updates only", c.NonZero(), tc.updates)
					}
					if r := rep.Plan.DeptUpdates[len(rep.Plan.DeptUpdates)-1].Reason; !strings.Contains(r, tc.reason) {
						t.Fatalf("reason %q, want %q", r, tc.reason)
					}
					writes := en.emu.Stats().Writes
					en.mustSync()
					if w := en.emu.Stats().Writes - writes; w != 0 {
						t.Fatalf("the night after the rename makes %d writes", w)
					}
				})
			}
		})
	}
}

func TestAnAmbiguousRenameCreatesButHoldsTheDelete(t *testing.T) {
	en := pathEnv(t, true)
	en.mustSync()
	before := deptIDs(en)
	// 华东's people split in two new departments: no department is the
	// same one by its people.
	n := 0
	for i := range en.rows {
		if strings.HasSuffix(en.rows[i].dept, "华东") {
			en.rows[i].dept = []string{"总部/销售部/华东一区", "总部/销售部/华东二区"}[n%2]
			n++
		}
	}
	rep, err := en.sync(Options{})
	must(t, err)
	if rep.Changes["department_create"] != 2 || rep.Changes["department_delete"] != 0 || rep.Held != 1 || !strings.Contains(rep.HeldChanges[0].Reason, "possibly renamed") {
		t.Fatalf("changes %v, held %+v", rep.Changes.NonZero(), rep.HeldChanges)
	}
	if deptIDs(en)["华东"] != before["华东"] {
		t.Fatal("华东 was deleted")
	}
	rep, err = en.sync(Options{AllowDestructive: 1})
	if err != nil || rep.Changes["department_delete"] != 1 {
		t.Fatalf("approved: %v %v", err, rep.Changes.NonZero())
	}
}
