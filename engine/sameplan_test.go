package engine

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
)

// reviewed is a plan with a change, a re-keying, a held change and a
// notice.
func reviewed() *plan.Changes {
	return &plan.Changes{
		UserCreates: []plan.UserChange{{Op: plan.OpUserCreate, UserID: "zhangsan", After: &model.Person{UserID: "zhangsan", Name: "张三 <&>", Departments: []string{"研发"}}, Reason: "new"}},
		RekeyDepts:  map[string]string{"a": "b", "c": "d"},
		Held:        []plan.Held{{Op: plan.OpUserDisable, Object: "lisi", Reason: "source incomplete"}},
		Notices:     []plan.Notice{{Object: "admin", Msg: "not owned"}},
		Unowned:     1,
	}
}

// driftCases change a fresh plan from reviewed(); same says whether the
// reviewed plan still matches it.
var driftCases = []struct {
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
}

func TestSamePlanComparesEverythingButNotices(t *testing.T) {
	// What 'sync --plan' reads back from 'plan --out'.
	var fromFile plan.Changes
	b, _ := json.Marshal(reviewed())
	if err := json.Unmarshal(b, &fromFile); err != nil {
		t.Fatal(err)
	}
	for _, tc := range driftCases {
		t.Run(tc.name, func(t *testing.T) {
			fresh := reviewed()
			tc.change(fresh)
			if got := samePlan(&fromFile, fresh); got != tc.same {
				t.Fatalf("samePlan = %v, want %v", got, tc.same)
			}
		})
	}
}

// A reviewed plan's file, read by plan.DigestJSON into Options.PlanSum,
// drifts exactly when the decoded plan in Options.Plan would.
func TestPlanSumFromTheFileDriftsAsThePlanWould(t *testing.T) {
	files := map[string][]byte{}
	for name, indent := range map[string]string{"compact": "", "--indent": "  "} {
		var b bytes.Buffer
		if err := reviewed().WriteJSON(&b, "", indent); err != nil {
			t.Fatal(err)
		}
		files[name] = b.Bytes()
	}
	files["json.MarshalIndent, HTML escaped"], _ = json.MarshalIndent(reviewed(), "", "  ")
	for layout, file := range files {
		var decoded plan.Changes
		if err := json.Unmarshal(file, &decoded); err != nil {
			t.Fatal(err)
		}
		s, err := plan.DigestJSON(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		if !bytes.Equal(s.Sum, PlanDigest(&decoded)) || !bytes.Equal(s.Sum, PlanDigest(reviewed())) {
			t.Fatalf("%s: DigestJSON = %x, PlanDigest of the plan = %x", layout, s.Sum, PlanDigest(reviewed()))
		}
		for _, tc := range driftCases {
			t.Run(layout+", "+tc.name, func(t *testing.T) {
				fresh := reviewed()
				tc.change(fresh)
				bySum := Options{PlanSum: s.Sum}.drifted(fresh)
				byPlan := Options{Plan: &decoded}.drifted(fresh)
				if bySum != !tc.same || byPlan != bySum {
					t.Fatalf("drifted by PlanSum = %v, by Plan = %v, want %v", bySum, byPlan, !tc.same)
				}
			})
		}
	}
}
