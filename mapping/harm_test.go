package mapping

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/connectors"
)

// Issue 9 "never do harm": a broken row must not cost its member anything.

func joinErrors(errs []RecordError) string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return strings.Join(out, "\n")
}

func TestRejectedRowKeepsEveryIdentifier(t *testing.T) {
	const rules = `
key: 工号
user:
  userid: 账号
  name: 姓名
  mobile: 手机
  email: 邮箱
`
	header := []string{"工号", "账号", "姓名", "手机", "邮箱"}
	m := compileYAML(t, rules)
	org, errs := m.Map([]*connectors.Batch{batch("hr", header,
		[]string{"", "zhangsan", "张三", "+86 138-0013-8000", "Zhang.San@Example.COM"}, // blank key
		[]string{"", "", "李四", "12x", "LiSi@Example.com"},                            // blank key and userid, bad mobile
	)})
	if len(org.People) != 0 || len(errs) == 0 {
		t.Fatalf("people %v problems\n%s", org.People, joinErrors(errs))
	}
	for _, e := range errs {
		switch e.Origin.Locator {
		case "t.csv:2":
			if e.UserID != "zhangsan" || e.Mobile != "13800138000" || e.Email != "zhang.san@example.com" || e.Unidentified() {
				t.Errorf("%v: identifiers %+v", e, e)
			}
		case "t.csv:3":
			if e.UserID != "" || e.Key != "" || e.Mobile != "12x" || e.Email != "lisi@example.com" {
				t.Errorf("%v: identifiers %+v", e, e)
			}
		}
	}
	if n := RejectedRecords(errs); n != 2 || len(errs) != 4 {
		t.Fatalf("RejectedRecords = %d for %d problems:\n%s", n, len(errs), joinErrors(errs))
	}
}

func TestEveryRejectionCarriesTheIdentifiers(t *testing.T) {
	// One row per way to be rejected; each must name its member by every
	// identifier it has, whatever failed.
	m := compileYAML(t, leaderRules+"  position: lookup(\"grades\", 邮箱)\nlookups: {grades: {}}\n")
	header := leaderHeader
	org, errs := m.Map([]*connectors.Batch{batch("hr", header,
		[]string{"d1", "dup", "总部", "13900139001", "", ""},
		[]string{"d1", "dup", "总部", "13900139002", "", ""}, // duplicate key
		[]string{"m1", "mob", "总部", "13900139003", "", ""},
		[]string{"m2", "mob", "总部", "+8613900139003", "", ""}, // duplicate mobile
		[]string{"c1", "cyc", "总部", "13900139005", "", "c2"},
		[]string{"c2", "cyc", "总部", "13900139006", "", "c1"},   // manager cycle
		[]string{"x1", "dep", "总部/a:b", "13900139007", "", ""}, // department
		[]string{"", "nokey", "总部", "13900139008", "", ""},     // empty key
	)})
	if len(org.People) != 0 {
		t.Fatalf("people %v", org.People)
	}
	for _, e := range errs {
		if e.Mobile == "" || e.Unidentified() {
			t.Errorf("%v: no mobile identifier (%+v)", e, e)
		}
		if e.Key == "" && e.Origin.Locator != "t.csv:9" {
			t.Errorf("%v: no key", e)
		}
	}
	if n := RejectedRecords(errs); n != 8 {
		t.Fatalf("RejectedRecords = %d, want 8:\n%s", n, joinErrors(errs))
	}
}

func TestControlCharactersAreRejected(t *testing.T) {
	cases := []struct {
		name  string
		extra string
		row   []string
		want  string // "" = accepted
	}{
		{name: "a NUL in a name", row: []string{"e1", "张\x00三", "总部", "13800138000"}, want: `name "张\x00三": contains the control character U+0000`},
		{name: "a newline in a name", row: []string{"e1", "张\n三", "总部", "13800138000"}, want: `name "张\n三": contains the control character U+000A`},
		{name: "an ESC in a position", extra: "  position: 邮箱\n", row: []string{"e1", "张三", "总部", "13800138000", "\x1b[31m经理"}, want: `position "\x1b[31m经理": contains the control character U+001B`},
		{name: "a line separator in an alias", extra: "  alias: 邮箱\n", row: []string{"e1", "张三", "总部", "13800138000", "a\u2028b"}, want: `alias "a\u2028b": contains the line separator U+2028`},
		{name: "a bidi override in a name", row: []string{"e1", "abc\u202edef", "总部", "13800138000"}, want: "contains the bidi control U+202E"},
		{name: "a control character in a department name", row: []string{"e1", "张三", "总部/研\x07发", "13800138000"}, want: `department name "研\a发" contains the control character U+0007`},
		{name: "a control character in an extattr", extra: "  extattr: {备注: 邮箱}\n", row: []string{"e1", "张三", "总部", "13800138000", "a\x7fb"}, want: "extattr.备注"},
		{name: "a control character in an email", row: []string{"e1", "张三", "总部", "", "a\x00b@example.com"}, want: "email"},
		{name: "invalid UTF-8 in a name", row: []string{"e1", "张\xff三", "总部", "13800138000"}, want: "is not valid UTF-8"},
		{name: "a replacement character in a name", row: []string{"e1", "张\ufffd三", "总部", "13800138000"}, want: "U+FFFD"},
		{name: "accepts Arabic", row: []string{"e1", "محمد علي", "总部", "13800138000"}},
		{name: "accepts Hebrew with a right-to-left mark", row: []string{"e1", "דוד\u200f כהן", "总部", "13800138000"}},
		{name: "accepts emoji, also joined ones", row: []string{"e1", "张三🎉👩\u200d💻", "总部/🚀组", "13800138000"}},
		{name: "accepts a Persian name with a zero-width non-joiner", row: []string{"e1", "می\u200cخواهم", "总部", "13800138000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			people, problems, _ := mapRows(t, c.extra, baseHeader, c.row)
			got := strings.Join(problems, "\n")
			if c.want == "" {
				if len(problems) != 0 || len(people) != 1 {
					t.Fatalf("rejected:\n%s", got)
				}
				return
			}
			if len(people) != 0 || !strings.Contains(got, c.want) {
				t.Fatalf("people %v, problems:\n%s\nwant %q", people, got, c.want)
			}
			for _, p := range problems {
				if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x202e }) {
					t.Errorf("the message itself carries the character: %q", p)
				}
			}
		})
	}
}

func TestAMegabyteValueIsRejectedWithoutPrintingIt(t *testing.T) {
	huge := strings.Repeat("长", 1<<20/3)
	header := append(append([]string{}, baseHeader...), "备注")
	for _, field := range []string{"name", "position", "alias", "department", "extattr.备注"} {
		t.Run(field, func(t *testing.T) {
			extra := ""
			row := []string{"e1", "张三", "总部", "13800138000", "", huge}
			switch field {
			case "name":
				row[1] = huge
			case "department":
				row[2] = "总部/" + huge
			case "extattr.备注":
				extra = "  extattr: {备注: 备注}\n"
			default:
				extra = "  " + field + ": 备注\n"
			}
			people, problems, _ := mapRows(t, extra, header, row)
			if len(people) != 0 || len(problems) != 1 {
				t.Fatalf("people %d problems %d", len(people), len(problems))
			}
			if len(problems[0]) > 1000 || !strings.Contains(problems[0], field+" \"") || !strings.Contains(problems[0], "349525") {
				t.Fatalf("message of %d bytes: %.400s", len(problems[0]), problems[0])
			}
		})
	}
}

func TestDuplicateMobilesAndEmailsRejectEveryRow(t *testing.T) {
	_, problems, org := mapRows(t, "", baseHeader,
		[]string{"e1", "a", "", "13800138000", ""},
		[]string{"e2", "b", "", "+86 138-0013-8000", ""},
		[]string{"e3", "c", "", "", "Same@Example.com"},
		[]string{"e4", "d", "", "13900139000", "same@example.COM"},
		[]string{"e5", "e", "", "13700137000", "other@example.com"},
	)
	if len(org.People) != 1 || org.People[0].Key != "e5" {
		t.Fatalf("people %v\nproblems:\n%s", org.People, strings.Join(problems, "\n"))
	}
	want := []string{
		`hr:t.csv:2: mobile "13800138000": another record has the same mobile: every row with it is rejected (rows t.csv:2, t.csv:3) (rule 手机)`,
		`hr:t.csv:3: mobile "13800138000": another record has the same mobile: every row with it is rejected (rows t.csv:2, t.csv:3) (rule 手机)`,
		`hr:t.csv:4: email "same@example.com": another record has the same email: every row with it is rejected (rows t.csv:4, t.csv:5) (rule 邮箱)`,
		`hr:t.csv:5: email "same@example.com": another record has the same email: every row with it is rejected (rows t.csv:4, t.csv:5) (rule 邮箱)`,
	}
	if got := strings.Join(problems, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

const leaderRules = baseRules + "  direct_leader: 上级\n"

var leaderHeader = append(append([]string{}, baseHeader...), "上级")

func TestMissingLeaderDropsTheLinkNotTheReport(t *testing.T) {
	var rows [][]string
	for i := 0; i < 50; i++ {
		rows = append(rows, []string{fmt.Sprint("e", i), "n", "总部", fmt.Sprintf("139%08d", i), "", "GONE"})
	}
	m := compileYAML(t, leaderRules)
	res := m.MapResult([]*connectors.Batch{batch("hr", leaderHeader, rows...)})
	if len(res.Org.People) != 50 || len(res.Rejected) != 0 {
		t.Fatalf("%d people, problems:\n%s", len(res.Org.People), joinErrors(res.Rejected))
	}
	for _, p := range res.Org.People {
		if len(p.DirectLeaders) != 0 {
			t.Fatalf("%s: leaders %v", p.Key, p.DirectLeaders)
		}
	}
	want := `hr:t.csv:2: direct_leader "GONE": no record has this key: synced without this direct leader (rule 上级)`
	if len(res.Warnings) != 50 || res.Warnings[0].String() != want || res.Warnings[0].Key != "e0" {
		t.Fatalf("%d warnings, first %+v\nwant %s", len(res.Warnings), res.Warnings[0], want)
	}
}

func TestRejectedLeaderKeepsTheReportsAndTheLink(t *testing.T) {
	m := compileYAML(t, leaderRules)
	org, errs := m.Map([]*connectors.Batch{batch("hr", leaderHeader,
		[]string{"L1", "leader", "总部", "12x", "", ""}, // rejected: bad mobile, userid l1 is fine
		[]string{"e1", "n", "总部", "13900139001", "", "L1"},
		[]string{"e2", "n", "总部", "13900139002", "", "e1"},
	)})
	if len(org.People) != 2 || len(errs) != 1 || errs[0].Key != "L1" {
		t.Fatalf("people %v, problems:\n%s", org.People, joinErrors(errs))
	}
	if got := org.People[0].DirectLeaders; len(got) != 1 || got[0] != "l1" {
		t.Fatalf("e1 leaders %v, want [l1] (the protected leader's userid)", got)
	}
	w := m.MapResult([]*connectors.Batch{batch("hr", leaderHeader,
		[]string{"L1", "leader", "总部", "12x", "", ""},
		[]string{"e1", "n", "总部", "13900139001", "", "L1"},
	)}).Warnings
	want := `hr:t.csv:3: direct_leader "L1": the leader's record (hr:t.csv:2) is rejected: the link to its userid l1 is kept as WeCom has it (rule 上级)`
	if len(w) != 1 || w[0].String() != want {
		t.Fatalf("warnings %v\nwant %s", w, want)
	}
	t.Run("drops the link when the leader's userid is unusable", func(t *testing.T) {
		res := m.MapResult([]*connectors.Batch{batch("hr", leaderHeader,
			[]string{"_L1", "leader", "总部", "13900139000", "", ""}, // userid _l1 is invalid
			[]string{"e1", "n", "总部", "13900139001", "", "_L1"},
		)})
		if len(res.Org.People) != 1 || len(res.Org.People[0].DirectLeaders) != 0 || len(res.Warnings) != 1 ||
			!strings.Contains(res.Warnings[0].Msg, "has no usable userid: synced without this direct leader") {
			t.Fatalf("people %v warnings %v", res.Org.People, res.Warnings)
		}
	})
	t.Run("keeps rejecting manager cycles", func(t *testing.T) {
		res := m.MapResult([]*connectors.Batch{batch("hr", leaderHeader,
			[]string{"a", "n", "总部", "13900139000", "", "b"},
			[]string{"b", "n", "总部", "13900139001", "", "a"},
		)})
		if len(res.Org.People) != 0 || RejectedRecords(res.Rejected) != 2 || !strings.Contains(res.Rejected[0].Msg, "manager cycle: a → b lead each other") {
			t.Fatalf("people %v problems %v", res.Org.People, res.Rejected)
		}
	})
}

func TestLeaderReferencesIgnoreCase(t *testing.T) {
	m := compileYAML(t, "key: 工号\nuser:\n  userid: 工号\n  name: 姓名\n  mobile: 手机\n  direct_leader: 上级\n")
	org, errs := m.Map([]*connectors.Batch{batch("hr", []string{"工号", "姓名", "手机", "上级"},
		[]string{"ZhangSan", "张三", "13900139000", ""},
		[]string{"e1", "n", "13900139001", "zhangsan"},
		[]string{"e2", "n", "13900139002", "ZHANGSAN"},
	)})
	if len(org.People) != 3 || len(errs) != 0 {
		t.Fatalf("people %v, problems:\n%s", org.People, joinErrors(errs))
	}
	for _, p := range org.People[1:] {
		if len(p.DirectLeaders) != 1 || p.DirectLeaders[0] != "ZhangSan" {
			t.Errorf("%s: leaders %v, want [ZhangSan]", p.Key, p.DirectLeaders)
		}
	}
}

func TestNonFiniteAndNonTextResultsAreRowErrors(t *testing.T) {
	_, problems, _ := mapRows(t, "  position: float(姓名) / 0\n", baseHeader, []string{"e1", "3", "总部", "13800138000"})
	if len(problems) != 1 || !strings.Contains(problems[0], `position "+Inf": not a finite number (rule float(姓名) / 0)`) {
		t.Fatalf("problems %v", problems)
	}
}
