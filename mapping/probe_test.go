package mapping

import (
	"strings"
	"testing"

	"github.com/orgsync/orgsync/connectors"
)

func TestProbeFindsRulesTheDataCannotSatisfy(t *testing.T) {
	header := append(append([]string{}, baseHeader...), "排序", "城市")
	rows := [][]string{
		{"e1", "张三", "总部", "13800138000", "", "3", "bj"},
		{"e2", "李四", "总部", "13800138001", "", "x", "sh"},
	}
	cases := []struct {
		name, extra, want string // want "" = no problem
	}{
		{name: "int of a name fails on every record", extra: "  position: int(姓名)\n",
			want: `mapping.user.position (line 9): int(姓名): fails on every record of hr (2 of 2 read), e.g. hr:t.csv:2: "": invalid operation: int(张三)`},
		{name: "a column the source lacks", extra: "  position: job_title\n",
			want: `mapping.user.position (line 9): job_title: the source hr has no column "job_title" (columns: 工号, 姓名, 部门, 手机, 邮箱, 排序, 城市)`},
		{name: "int of a column that is mostly numbers is fine", extra: "  position: int(排序)\n"},
		{name: "a lookup the data misses is the data's problem", extra: "  position: lookup(\"c\", 城市)\nlookups: {c: {}}\n"},
		{name: "a plain config", extra: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := compileYAML(t, baseRules+c.extra)
			err := m.Probe([]*connectors.Batch{batch("hr", header, rows...)})
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && (err == nil || err.Error() != c.want):
				t.Fatalf("err %v\nwant %s", err, c.want)
			}
		})
	}
	if err := compileYAML(t, baseRules).Probe([]*connectors.Batch{{Source: "hr"}, nil}); err != nil {
		t.Fatalf("empty batches: %v", err)
	}
	if !strings.Contains(compileYAML(t, baseRules+"  position: job_title\n").Probe([]*connectors.Batch{batch("hr", header, rows...)}).Error(), "line 9") {
		t.Fatal("no line")
	}
}
