package engine

import (
	"runtime/debug"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
)

// TestMapReleasingKeepsTheGCPercent: mapping lowers the GC percent for its
// own while only; afterwards the process has what it had (the runtime's
// default, an operator's GOGC, or off), and the people are mapped as
// MapAndRelease maps them.
func TestMapReleasingKeepsTheGCPercent(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("key: 工号\nuser:\n  userid: lower(工号)\n  name: 姓名\n  department: 部门\n  email: 邮箱\n"), &node); err != nil {
		t.Fatal(err)
	}
	cfg, err := mapping.Decode(&node)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, before := range []int{100, 300, mapGCPercent, 30, -1} {
		debug.SetGCPercent(before)
		b := &connectors.Batch{Source: "hr", Complete: true, Records: []connectors.Record{{
			Origin: model.Origin{Source: "hr", Locator: "a.csv:2"},
			Names:  []string{"工号", "姓名", "部门", "邮箱"},
			Texts:  []string{"E1", "张三", "研发", "zs@example.com"},
		}}}
		res := mapReleasing(m, []*connectors.Batch{b})
		if got := debug.SetGCPercent(before); got != before {
			t.Errorf("GC percent %d before mapping, %d after", before, got)
		}
		if len(res.Org.People) != 1 || res.Org.People[0].UserID != "e1" || b.Records[0].Len() != 0 {
			t.Fatalf("GC percent %d: people %+v, rejected %v, record values left %d", before, res.Org.People, res.Rejected, b.Records[0].Len())
		}
	}
}
