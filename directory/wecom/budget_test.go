package wecom_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// budgetDepts are the departments of budgetOrg; everyone is in all four,
// so n people are 4n user/list_id rows.
var budgetDepts = []string{"总部", "总部/研发部", "总部/销售部", "总部/客服部"}

// budgetOrg is n people, each in the four budgetDepts.
func budgetOrg(n int) model.Org {
	org := model.Org{Departments: []model.Department{{Key: "总部", Name: "总部"}}}
	for _, k := range budgetDepts[1:] {
		org.Departments = append(org.Departments, model.Department{Key: k, Name: strings.TrimPrefix(k, "总部/"), ParentKey: "总部"})
	}
	for i := 0; i < n; i++ {
		org.People = append(org.People, model.Person{
			Key: fmt.Sprintf("K%06d", i), UserID: fmt.Sprintf("b%06d", i), Name: fmt.Sprintf("员工%d", i),
			Mobile: fmt.Sprintf("135%08d", i), Position: "工程师", Departments: budgetDepts, Enabled: true,
		})
	}
	return org
}

// budgetRun is one run as the engine makes it, minus the sources: load
// WeCom, plan against the shadow, apply. It returns the plan and the
// emulator's counts for the run.
func budgetRun(t *testing.T, d *wecom.Directory, emu *emulator.Server, st *state.Store, run int64, desired model.Org) (*plan.Changes, emulator.Stats) {
	t.Helper()
	ctx := context.Background()
	emu.ResetStats()
	cur, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := st.LoadShadow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := plan.Calculate(plan.Input{Desired: desired, Current: cur, Shadow: sh, Policy: plan.Policy{Leavers: "delete", RootDepartmentID: 1}, Now: time.Now()})
	res, err := d.Apply(ctx, ch, st, directory.ApplyOptions{RunID: run, Shadow: sh})
	if err != nil || len(res.Failed)+len(res.Pending) != 0 {
		t.Fatalf("run %d: %v failed %v, %d pending", run, err, res.Failed, len(res.Pending))
	}
	return ch, emu.Stats()
}

// TestCallBudgets (issue 12 §3): a run with no changes makes no write and
// reads WeCom in ⌈rows / 10,000⌉ user/list_id pages and one
// department/simplelist; a run with C changes makes at most C writes, and
// fewer where batchdelete or an import job serves several.
func TestCallBudgets(t *testing.T) {
	const n = 2550 // 10,200 list_id rows: two pages
	d, emu, st := batchWorldWith(t, emulator.Options{JobDelay: -1, RateLimitPerMinute: -1}, wecom.Config{BatchThreshold: 100})
	org := budgetOrg(n)
	seedMembers(t, d, emu, st, org)

	t.Run("no changes: no write, ⌈rows/10,000⌉ list_id pages and one simplelist", func(t *testing.T) {
		ch, s := budgetRun(t, d, emu, st, 2, org)
		pages := int(math.Ceil(float64(n*len(budgetDepts)) / 10000))
		if ch.Total() != 0 || s.Writes != 0 || s.Calls["user/list_id"] > pages || s.Calls["department/simplelist"] != 1 {
			t.Fatalf("plan %v; writes %d, calls %v: want 0 writes, ≤ %d list_id, 1 simplelist", ch.Counts(), s.Writes, s.Calls, pages)
		}
	})

	t.Run("C changes one call each: at most C writes, leavers in one batchdelete", func(t *testing.T) {
		next := budgetOrg(n + 5) // 5 hires
		for i := 0; i < 10; i++ {
			next.People[i].Position = "架构师"
		}
		next.People = slices.Delete(next.People, 100, 105) // 5 leavers
		ch, s := budgetRun(t, d, emu, st, 3, next)
		c := ch.Total()
		if c != 20 || s.Writes > c || s.Calls["user/batchdelete"] != 1 {
			t.Fatalf("plan %v: %d writes for %d changes, calls %v", ch.Counts(), s.Writes, c, s.Calls)
		}
		org = next
	})

	t.Run("a reorganisation above the threshold: two writes for its moves", func(t *testing.T) {
		next := model.Org{Departments: org.Departments, People: slices.Clone(org.People)}
		for i := range next.People[10:160] { // not the 10 already 架构师: one file
			i += 10
			next.People[i].Position = "架构师"
			next.People[i].Departments = budgetDepts[1:3]
		}
		ch, s := budgetRun(t, d, emu, st, 4, next)
		c := ch.Total()
		// One file (所在部门, 是否部门内领导, 职位): its upload and its job.
		if c != 150 || s.Writes != 2 || s.Calls["user/update"] != 0 {
			t.Fatalf("plan %v: %d writes for %d changes, calls %v", ch.Counts(), s.Writes, c, s.Calls)
		}
		if ch2, s2 := budgetRun(t, d, emu, st, 5, next); ch2.Total() != 0 || s2.Writes != 0 {
			t.Fatalf("after the reorganisation: plan %v, %d writes", ch2.Counts(), s2.Writes)
		}
	})
}

// seedMembers makes the first import of org the quick way: its departments
// through a run, its members through one import job of the client and one
// shadow transaction (journaling every row would be most of the test's
// time).
func seedMembers(t *testing.T, d *wecom.Directory, emu *emulator.Server, st *state.Store, org model.Org) {
	t.Helper()
	ctx := context.Background()
	if ch, _ := budgetRun(t, d, emu, st, 1, model.Org{Departments: org.Departments}); ch.Counts()[plan.OpDeptCreate] != len(org.Departments) {
		t.Fatalf("departments: %v", ch.Counts())
	}
	sh, err := st.LoadShadow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	file.WriteString("姓名,帐号,手机号,所在部门,职位\n")
	muts := make([]state.Mutation, 0, len(org.People))
	for _, p := range org.People {
		ids := make([]string, len(p.Departments))
		for i, k := range p.Departments {
			ids[i] = fmt.Sprint(sh.Departments[k].Department.ID)
		}
		fmt.Fprintf(&file, "%s,%s,%s,%s,%s\n", p.Name, p.UserID, p.Mobile, strings.Join(ids, ";"), p.Position)
		muts = append(muts, state.Mutation{PutMember: &state.Member{Person: p}})
	}
	c := d.Client()
	media, err := c.UploadMedia(ctx, "file", "seed.csv", []byte(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.SyncUsers(ctx, client.BatchJob{MediaID: media.MediaID})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.WaitBatchResult(ctx, job, time.Millisecond, 0)
	if err != nil || len(res.Result) != len(org.People) {
		t.Fatalf("seed job: %v", err)
	}
	if err := st.ApplyAll(ctx, muts); err != nil {
		t.Fatal(err)
	}
}
