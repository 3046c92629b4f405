package mapping

import (
	"strings"
	"testing"

	"github.com/orgsync/orgsync/connectors"
)

// A record the source could not read cleanly (a short row, a stray quote)
// is rejected with the source's reason, keeping every identifier its
// values still give, so that its member is protected; the others map.
func TestARecordWithASourceProblemIsRejectedWithItsIdentifiers(t *testing.T) {
	m := compileYAML(t, `
key: 工号
user: {userid: lower(工号), name: 姓名, mobile: 手机}
`)
	b := batch("hr", []string{"工号", "姓名", "手机"}, []string{"E1", "张三", "13800000001"}, []string{"E2", "李四", "13800000002"})
	b.Records[1].Problem = "2 values but the header has 3 columns: the row is not read"
	org, rejected := m.Map([]*connectors.Batch{b})
	if len(org.People) != 1 || org.People[0].UserID != "e1" {
		t.Fatalf("people %+v", org.People)
	}
	if len(rejected) != 1 {
		t.Fatalf("rejected %+v", rejected)
	}
	r := rejected[0]
	if !strings.Contains(r.Error(), "hr:t.csv:3: 2 values but the header has 3 columns") || r.Key != "E2" || r.UserID != "e2" || r.Mobile == "" {
		t.Fatalf("rejection %+v (%s)", r, r.Error())
	}
}
