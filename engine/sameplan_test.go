package engine

import (
	"encoding/json"
	"testing"

	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
)

func TestSamePlanComparesEverythingButNotices(t *testing.T) {
	reviewed := func() *plan.Changes {
		return &plan.Changes{
			UserCreates: []plan.UserChange{{Op: plan.OpUserCreate, UserID: "zhangsan", After: &model.Person{UserID: "zhangsan", Name: "张三", Departments: []string{"研发"}}, Reason: "new"}},
			RekeyDepts:  map[string]string{"a": "b", "c": "d"},
			Held:        []plan.Held{{Op: plan.OpUserDisable, Object: "lisi", Reason: "source incomplete"}},
			Notices:     []plan.Notice{{Object: "admin", Msg: "not owned"}},
			Unowned:     1,
		}
	}
	// What 'sync --plan' reads back from 'plan --out'.
	var fromFile plan.Changes
	b, _ := json.Marshal(reviewed())
	if err := json.Unmarshal(b, &fromFile); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(c *plan.Changes)
		same   bool
	}{
		{"the same plan", func(*plan.Changes) {}, true},
		{"other notices", func(c *plan.Changes) { c.Notices = []plan.Notice{{Object: "x", Msg: "y"}} }, true},
		{"no notices", func(c *plan.Changes) { c.Notices = nil }, true},
		{"empty lists for none", func(c *plan.Changes) { c.UserDeletes = []plan.UserChange{} }, true},
		{"a field of a change", func(c *plan.Changes) { c.UserCreates[0].After.Name = "张三丰" }, false},
		{"one more change", func(c *plan.Changes) {
			c.UserDisables = append(c.UserDisables, plan.UserChange{Op: plan.OpUserDisable, UserID: "wangwu"})
		}, false},
		{"a held change fewer", func(c *plan.Changes) { c.Held = nil }, false},
		{"the unowned count", func(c *plan.Changes) { c.Unowned = 2 }, false},
		{"a re-keyed department", func(c *plan.Changes) { c.RekeyDepts["a"] = "z" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := reviewed()
			tc.change(fresh)
			if got := samePlan(&fromFile, fresh); got != tc.same {
				t.Fatalf("samePlan = %v, want %v", got, tc.same)
			}
		})
	}
}
