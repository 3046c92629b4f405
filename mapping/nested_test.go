package mapping

import (
	"testing"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
)

// JSON sources nest fields; an HR API leaves out what a person lacks. A
// missing nested field is nil (so ?? falls back), never an error that
// rejects the record.
func TestNestedFieldsAreNilSafe(t *testing.T) {
	m := compileYAML(t, `
key: id
user:
  userid: lower(id)
  name: name
  mobile: mobile
  position: job.title ?? "未设置"
  alias: person.names.english
`)
	b := &connectors.Batch{Source: "api", Complete: true}
	names := []string{"id", "name", "mobile", "job", "person"}
	for i, vals := range [][]any{
		{"E1", "张三", "13800000001", map[string]any{"title": "工程师"}, map[string]any{"names": map[string]any{"english": "Zhang San"}}},
		{"E2", "李四", "13800000002", nil, nil},
		{"E3", "王五", "13800000003", map[string]any{}, map[string]any{"names": nil}},
	} {
		b.Records = append(b.Records, connectors.Record{Origin: model.Origin{Source: "api", Locator: string(rune('1' + i))}, Names: names, Values: vals})
	}
	org, rejected := m.Map([]*connectors.Batch{b})
	if len(rejected) != 0 {
		t.Fatalf("rejected %v", rejected)
	}
	want := map[string][2]string{"e1": {"工程师", "Zhang San"}, "e2": {"未设置", ""}, "e3": {"未设置", ""}}
	for _, p := range org.People {
		if w := want[p.UserID]; p.Position != w[0] || p.Alias() != w[1] {
			t.Errorf("%s: position %q alias %q, want %q %q", p.UserID, p.Position, p.Alias(), w[0], w[1])
		}
	}
}
