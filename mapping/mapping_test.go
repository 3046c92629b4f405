package mapping

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
)

// decodeYAML decodes a mapping block written in a test.
func decodeYAML(t *testing.T, src string) (Config, error) {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(src), &node); err != nil {
		t.Fatal(err)
	}
	return Decode(&node)
}

func compileYAML(t *testing.T, src string) *Mapper {
	t.Helper()
	cfg, err := decodeYAML(t, src)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	m, err := Compile(withFiles(cfg))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return m
}

// batch builds a batch from a header and rows, with origins t.csv:2, :3, …
func batch(source string, header []string, rows ...[]string) *connectors.Batch {
	b := &connectors.Batch{Source: source, Complete: true}
	for i, r := range rows {
		vals := make([]any, len(header))
		for j := range header {
			if j < len(r) {
				vals[j] = r[j]
			} else {
				vals[j] = ""
			}
		}
		b.Records = append(b.Records, connectors.Record{
			Origin: model.Origin{Source: source, Locator: fmt.Sprintf("t.csv:%d", i+2)},
			Names:  header, Values: vals,
		})
	}
	return b
}

const baseRules = `
key: 工号
user:
  userid: lower(工号)
  name: 姓名
  department: 部门
  mobile: 手机
  email: 邮箱
`

var baseHeader = []string{"工号", "姓名", "部门", "手机", "邮箱"}

func TestDecode(t *testing.T) {
	t.Run("keeps the YAML line of every rule", func(t *testing.T) {
		cfg, err := decodeYAML(t, "key: 工号\nuser:\n  userid: lower(工号)\n  extattr:\n    工号: 工号\n")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Key.Line != 1 || cfg.User.UserID.Line != 3 || cfg.User.ExtAttr["工号"].Line != 5 || cfg.User.UserID.Column != 11 {
			t.Fatalf("lines: key %d userid %d:%d extattr %d", cfg.Key.Line, cfg.User.UserID.Line, cfg.User.UserID.Column, cfg.User.ExtAttr["工号"].Line)
		}
	})
	t.Run("rejects unknown keys at any depth with their lines", func(t *testing.T) {
		_, err := decodeYAML(t, "key: 工号\nuser:\n  userid: x\n  emial: y\ndepartments:\n  table:\n    cod: x\nmobile_regoin: CN\n")
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{"mapping.user.emial (line 4): unknown field", "mapping.departments.table.cod (line 7): unknown field", "mapping.mobile_regoin (line 8)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in %v", want, err)
			}
		}
	})
	t.Run("rejects a rule that is not a string", func(t *testing.T) {
		_, err := decodeYAML(t, "key: [a, b]\n")
		if err == nil || !strings.Contains(err.Error(), "line 1: a rule is one expression") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "names the rule and the YAML line of a syntax error",
			yaml: "key: 工号\nuser:\n  userid: lower(工号\n  name: 姓名\n  mobile: 手机\n",
			want: []string{"mapping.user.userid (line 3): lower(工号: unexpected token EOF"},
		},
		{
			name: "requires key, userid and name",
			yaml: "user:\n  mobile: 手机\n",
			want: []string{"mapping.key: required", "mapping.user.userid: required", "mapping.user.name: required"},
		},
		{
			name: "requires mobile or email",
			yaml: "key: a\nuser:\n  userid: a\n  name: b\n",
			want: []string{"set mobile or email"},
		},
		{
			name: "rejects a lookup of an undefined table",
			yaml: baseRules + "  position: lookup(\"grades\", 职级)\nlookups: {cities: {}}\n",
			want: []string{`mapping.user.position (line 9): lookup("grades", 职级): no lookup table "grades" (have: cities)`},
		},
		{
			name: "rejects an unknown departments.from and a bad root_depth",
			yaml: baseRules + "departments: {from: tree, root_depth: 15}\n",
			want: []string{`mapping.departments.from: "tree"`, "mapping.departments.root_depth: 15"},
		},
		{
			name: "needs a table with from: table",
			yaml: baseRules + "departments: {from: table}\n",
			want: []string{"mapping.departments.table: required with from: table"},
		},
		{
			name: "needs exactly one of source and file for the table, and its rules",
			yaml: baseRules + "departments:\n  from: table\n  table: {source: a, file: b}\n",
			want: []string{"set exactly one of source", "mapping.departments.table.code: required", "mapping.departments.table.name: required"},
		},
		{
			name: "rejects a replacement that is itself forbidden",
			yaml: baseRules + "department_name_replace: \":\"\n",
			want: []string{"mapping.department_name_replace"},
		},
		{
			name: "reports a missing lookup file",
			yaml: baseRules + "lookup_files: {g: {path: /nonexistent/g.csv, key: a, value: b}}\n",
			want: []string{"mapping.lookup_files.g:", "/nonexistent/g.csv"},
		},
		{
			name: "reports every problem at once",
			yaml: "key: 工号)\nuser:\n  userid: x(\n  name: 姓名\n  email: 邮箱\n  extattr: {a: \"(\"}\n",
			want: []string{"mapping.key (line 1)", "mapping.user.userid (line 3)", "mapping.user.extattr.a (line 6)"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := decodeYAML(t, c.yaml)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile(withFiles(cfg))
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestRecordErrorText(t *testing.T) {
	m := compileYAML(t, `
key: 工号
user:
  userid: lower(工号)
  name: 姓名
  mobile: e164(手机, "CN")
`)
	_, problems := m.Map([]*connectors.Batch{{Source: "hr", Records: []connectors.Record{
		{Origin: model.Origin{Source: "hr", Locator: "employees.csv:12"}, Names: []string{"工号", "姓名", "手机"}, Values: []any{"E12", "张三", "12x"}},
	}}})
	if len(problems) != 1 {
		t.Fatalf("problems %v", problems)
	}
	want := `hr:employees.csv:12: mobile "12x": may hold only digits, spaces and + - ( ) . (rule e164(手机, "CN"))`
	if got := problems[0].Error(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if p := problems[0]; p.Key != "E12" || p.UserID != "e12" || p.Field != "mobile" || p.Value != "12x" {
		t.Fatalf("fields %+v", p)
	}
}

// mapOne maps rows with baseRules plus extra YAML and returns the people by
// key and the problems as text.
func mapRows(t *testing.T, extra string, header []string, rows ...[]string) (map[string]model.Person, []string, model.Org) {
	t.Helper()
	m := compileYAML(t, baseRules+extra)
	org, problems := m.Map([]*connectors.Batch{batch("hr", header, rows...)})
	people := map[string]model.Person{}
	for _, p := range org.People {
		people[p.Key] = p
	}
	var out []string
	for _, p := range problems {
		out = append(out, p.Error())
	}
	return people, out, org
}

func TestValidation(t *testing.T) {
	long := strings.Repeat("长", 65)
	cases := []struct {
		name  string
		extra string
		row   []string
		want  string // substring of the only problem; "" = accepted
	}{
		{name: "accepts a plain row", row: []string{"E1", "张三", "总部", "13800138000", ""}},
		{name: "rejects a userid starting with a symbol", row: []string{"-e1", "张三", "总部", "13800138000"}, want: `userid "-e1": must start with a letter or digit`},
		{name: "rejects a userid with a space", row: []string{"e 1", "张三", "总部", "13800138000"}, want: `userid "e 1": may hold only letters, digits and _ - @ .`},
		{name: "rejects a userid with CJK characters", row: []string{"张三", "张三", "总部", "13800138000"}, want: `must start with a letter or digit`},
		{name: "accepts a userid with _ - @ .", row: []string{"a_b-c@d.e", "张三", "总部", "13800138000"}},
		{name: "rejects a userid over 64 bytes", row: []string{strings.Repeat("a", 65), "张三", "总部", "13800138000"}, want: "is 65 bytes, WeCom allows 64"},
		{name: "accepts a 64-character name", row: []string{"e1", strings.Repeat("长", 64), "总部", "13800138000"}},
		{name: "rejects a 65-character name", row: []string{"e1", long, "总部", "13800138000"}, want: "must be 1 to 64 characters (has 65)"},
		{name: "rejects a name of white space only", row: []string{"e1", "\u3000 ", "总部", "13800138000"}, want: `name "": must be 1 to 64 characters (has 0)`},
		{name: "rejects a row without mobile and email", row: []string{"e1", "张三", "总部", "", " "}, want: "no mobile and no email"},
		{name: "accepts email only", row: []string{"e1", "张三", "总部", "", "Zhang.San@Example.COM"}},
		{name: "rejects a malformed email", row: []string{"e1", "张三", "总部", "", "zhang@example"}, want: `email "zhang@example": not an email address`},
		{name: "rejects two addresses in one email", row: []string{"e1", "张三", "总部", "", "a@example.com;b@example.com"}, want: "not an email address"},
		{name: "rejects a landline in the mobile field", row: []string{"e1", "张三", "总部", "010-12345678"}, want: "not a mainland China mobile number"},
		{name: "rejects a mobile with an extension", row: []string{"e1", "张三", "总部", "13800138000 ext 12"}, want: "may hold only digits"},
		{name: "rejects a department name with a forbidden character", row: []string{"e1", "张三", "总部/研发|测试", "13800138000"}, want: `department "总部/研发|测试": department name "研发|测试" contains '|'`},
		{name: "replaces forbidden characters when configured", extra: "department_name_replace: \"-\"\n", row: []string{"e1", "张三", "总部/研发|测试", "13800138000"}},
		{name: "accepts 14 levels below the corp root", row: []string{"e1", "张三", strings.TrimSuffix(strings.Repeat("d/", 14), "/"), "13800138000"}},
		{name: "rejects 15 levels below the corp root", row: []string{"e1", "张三", strings.TrimSuffix(strings.Repeat("d/", 15), "/"), "13800138000"}, want: "16 levels deep"},
		{name: "counts the managed root's own depth", extra: "departments: {root_depth: 3}\n", row: []string{"e1", "张三", strings.TrimSuffix(strings.Repeat("d/", 13), "/"), "13800138000"}, want: "16 levels deep (with root_depth 3)"},
		{name: "rejects a department name over 64 characters", row: []string{"e1", "张三", "总部/" + long, "13800138000"}, want: "is 65 characters, WeCom allows 64"},
		{name: "rejects an unknown gender", extra: "  gender: '\"男女\"'\n", row: []string{"e1", "张三", "总部", "13800138000"}, want: `gender "男女": want 男/女`},
		{name: "rejects an enabled value it would have to guess", extra: "  enabled: 邮箱\n", row: []string{"e1", "张三", "总部", "13800138000", "试用"}, want: `enabled "试用": not a yes/no value`},
		{name: "rejects a position over 128 characters", extra: "  position: 姓名\n", row: []string{"e1", strings.Repeat("职", 129), "总部", "13800138000"}, want: "position"},
		{name: "rejects a telephone with letters", extra: "  telephone: 姓名\n", row: []string{"e1", "010-1234x", "总部", "13800138000"}, want: `telephone "010-1234x": may hold only digits`},
		{name: "rejects an extattr over 64 characters", extra: "  extattr: {备注: 姓名}\n", row: []string{"e1", long, "总部", "13800138000"}, want: "extattr.备注"},
		{name: "rejects a main department the person is not in", extra: "  main_department: '\"总部/销售\"'\n", row: []string{"e1", "张三", "总部/研发", "13800138000"}, want: "is not one of the person's departments"},
		{name: "reports a runtime error of a rule", extra: "  position: int(姓名) + 1\n", row: []string{"e1", "张三", "总部", "13800138000"}, want: `position "": invalid operation: int(张三)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			people, problems, _ := mapRows(t, c.extra, baseHeader, c.row)
			if c.want == "" {
				if len(problems) != 0 || len(people) != 1 {
					t.Fatalf("problems %v", problems)
				}
				return
			}
			if len(people) != 0 || len(problems) == 0 {
				t.Fatalf("accepted %v (problems %v)", people, problems)
			}
			if !strings.Contains(strings.Join(problems, "\n"), c.want) {
				t.Fatalf("problems:\n%s\nwant %q", strings.Join(problems, "\n"), c.want)
			}
		})
	}
}

func TestFields(t *testing.T) {
	t.Run("normalises mobiles so the ways HR writes them compare equal", func(t *testing.T) {
		people, problems, _ := mapRows(t, "", baseHeader,
			[]string{"e1", "a", "", "138 0013 8000"}, []string{"e2", "b", "", "+86-13800138001"}, []string{"e3", "c", "", "13800138002"},
			[]string{"e4", "d", "", "+852 5123 4567"})
		if len(problems) != 0 {
			t.Fatal(problems)
		}
		for k, want := range map[string]string{"e1": "13800138000", "e2": "13800138001", "e3": "13800138002", "e4": "+852 51234567"} {
			if got := people[k].Mobile; got != want {
				t.Errorf("%s: mobile %q, want %q", k, got, want)
			}
		}
	})
	t.Run("maps every gender spelling", func(t *testing.T) {
		var rows [][]string
		spellings := []string{"男", "女", "M", "f", "male", "Female", "1", "2", "", "0"}
		for i, g := range spellings {
			rows = append(rows, []string{fmt.Sprint("e", i), "x", "", "1380013800" + fmt.Sprint(i), g})
		}
		m := compileYAML(t, "key: 工号\nuser:\n  userid: 工号\n  name: 姓名\n  mobile: 手机\n  gender: 性别\n")
		org, problems := m.Map([]*connectors.Batch{batch("hr", []string{"工号", "姓名", "部门", "手机", "性别"}, rows...)})
		people := map[string]model.Person{}
		for _, p := range org.People {
			people[p.Key] = p
		}
		if len(problems) != 0 {
			t.Fatal(problems)
		}
		want := []model.Gender{"1", "2", "1", "2", "1", "2", "1", "2", "", ""}
		for i := range spellings {
			p := people[fmt.Sprint("e", i)]
			if got := p.Gender; got != want[i] {
				t.Errorf("%q → %q, want %q", spellings[i], got, want[i])
			}
		}
	})
	t.Run("builds every prefix of a path as a department", func(t *testing.T) {
		_, _, org := mapRows(t, "", baseHeader, []string{"e1", "a", " 总部 / 研发中心 //后端组 ", "13800138000"}, []string{"e2", "b", "总部/销售部", "13800138001"})
		var got []string
		for _, d := range org.Departments {
			got = append(got, d.Key+"<"+d.ParentKey+">"+d.Name)
		}
		want := []string{"总部<>总部", "总部/研发中心<总部>研发中心", "总部/研发中心/后端组<总部/研发中心>后端组", "总部/销售部<总部>销售部"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	})
	t.Run("splits several departments with multi_separator and a custom separator", func(t *testing.T) {
		people, problems, _ := mapRows(t, "  main_department: '\"总部>销售\"'\n  is_leader: \"true\"\ndepartments: {separator: \">\", multi_separator: \";\"}\n",
			baseHeader, []string{"e1", "a", "总部>研发; 总部>销售", "13800138000"})
		if len(problems) != 0 {
			t.Fatal(problems)
		}
		p := people["e1"]
		if !reflect.DeepEqual(p.Departments, []string{"总部/研发", "总部/销售"}) || p.MainDepartment() != "总部/销售" || !reflect.DeepEqual(p.LeaderOf(), p.Departments) {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("keeps a value written with ; apart from a list of the same parts", func(t *testing.T) {
		// Departments are cached per distinct value; "研发;销售" (one
		// department, no multi_separator) and ["研发", "销售"] (two) once
		// shared a cache entry, so whichever came first decided both.
		m := compileYAML(t, "key: uid\nuser:\n  userid: uid\n  name: uid\n  email: mail\n  department: ou\n")
		str := func(uid string) connectors.Record {
			return connectors.Record{Origin: model.Origin{Source: "ldap", Locator: uid}, Names: []string{"uid", "mail", "ou"},
				Values: []any{uid, uid + "@example.com", "研发;销售"}}
		}
		list := func(uid string) connectors.Record {
			return connectors.Record{Origin: model.Origin{Source: "ldap", Locator: uid}, Names: []string{"uid", "mail", "ou"},
				Values: []any{uid, uid + "@example.com", []string{"研发", "销售"}}}
		}
		for _, order := range [][]connectors.Record{{str("s"), list("l")}, {list("l"), str("s")}} {
			org, problems := m.Map([]*connectors.Batch{{Source: "ldap", Complete: true, Records: order}})
			if len(problems) != 0 {
				t.Fatal(problems)
			}
			got := map[string][]string{}
			for _, p := range org.People {
				got[p.Key] = p.Departments
			}
			if want := map[string][]string{"s": {"研发;销售"}, "l": {"研发", "销售"}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("first %s: got %q, want %q", order[0].Origin.Locator, got, want)
			}
		}
	})
	t.Run("reads multi-valued (LDAP) attributes", func(t *testing.T) {
		m := compileYAML(t, "key: uid\nuser:\n  userid: uid\n  name: cn\n  email: mail\n  department: ou\n")
		b := &connectors.Batch{Source: "ldap", Records: []connectors.Record{{
			Origin: model.Origin{Source: "ldap", Locator: "uid=a"},
			Names:  []string{"uid", "cn", "mail", "ou"},
			Values: []any{[]string{"alice"}, []string{"Alice"}, []string{"Alice@Example.com", "alt@example.com"}, []string{"研发", "销售"}},
		}}}
		org, problems := m.Map([]*connectors.Batch{b})
		if len(problems) != 0 || len(org.People) != 1 {
			t.Fatal(problems)
		}
		if p := org.People[0]; p.Email != "alice@example.com" || !reflect.DeepEqual(p.Departments, []string{"研发", "销售"}) {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("a column the source lacks rejects every record and names the column", func(t *testing.T) {
		_, problems, _ := mapRows(t, "  position: upper(职位)\n", baseHeader, []string{"e1", "a", "", "13800138000"}, []string{"e2", "b", "", "13800138001"})
		if len(problems) != 2 || !strings.Contains(problems[0], `the source has no column "职位"`) {
			t.Fatalf("problems %v", problems)
		}
	})
	t.Run("a key in two batches is a duplicate in both", func(t *testing.T) {
		m := compileYAML(t, baseRules)
		_, problems := m.Map([]*connectors.Batch{
			batch("hr", baseHeader, []string{"e1", "a", "", "13800138000"}),
			batch("hr2", baseHeader, []string{"e1", "a", "", "13800138000"}),
		})
		if len(problems) != 2 || problems[0].Origin.Source != "hr" || problems[1].Origin.Source != "hr2" {
			t.Fatalf("problems %v", problems)
		}
	})
}

func TestDepartmentTableFromSource(t *testing.T) {
	rules := baseRules + `
departments:
  from: table
  table: {source: orgs, code: code, name: name, parent: parent, order: ord}
`
	m := compileYAML(t, rules)
	people := batch("hr", baseHeader, []string{"e1", "a", "D2", "13800138000"})
	run := func(rows ...[]string) model.Org {
		org, problems := m.Map([]*connectors.Batch{people, batch("orgs", []string{"code", "name", "parent", "ord"}, rows...)})
		if len(problems) != 0 {
			t.Fatal(problems)
		}
		return org
	}
	before := run([]string{"D1", "总部", "", "1"}, []string{"D2", "技术部", "D1", ""})
	after := run([]string{"D1", "总部", "", "1"}, []string{"D2", "研发中心", "D1", ""})
	if before.Departments[1].Key != "D2" || after.Departments[1].Key != "D2" || after.Departments[1].Name != "研发中心" {
		t.Fatalf("a rename must keep the key: before %+v after %+v", before.Departments, after.Departments)
	}
	if before.Departments[0].Order != 1 || before.People[0].Departments[0] != "D2" {
		t.Fatalf("%+v", before)
	}
	t.Run("a missing table source rejects every person", func(t *testing.T) {
		org, problems := m.Map([]*connectors.Batch{people})
		if len(org.People) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Msg, `department table source "orgs" was not read`) {
			t.Fatalf("problems %v", problems)
		}
	})
}

func TestLookupFileRelativeToBaseDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "g.csv"), []byte("\ufeffk,v\nP5,工程师\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := decodeYAML(t, baseRules+"  position: lookup(\"g\", 姓名)\nlookup_files: {g: {path: g.csv, key: k, value: v}}\n")
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseDir = dir
	m, err := Compile(withFiles(cfg))
	if err != nil {
		t.Fatal(err)
	}
	org, problems := m.Map([]*connectors.Batch{batch("hr", baseHeader, []string{"e1", "P5", "", "13800138000"})})
	if len(problems) != 0 || org.People[0].Position != "工程师" {
		t.Fatalf("%v %+v", problems, org.People)
	}
}

func TestParallelMappingMatchesSequential(t *testing.T) {
	m := compileYAML(t, leaderRules)
	var rows [][]string
	for i := 0; i < 5000; i++ {
		leader := ""
		if i > 0 {
			leader = fmt.Sprintf("E%d", i/3)
		}
		mobile := fmt.Sprintf("139%08d", i)
		if (i+1)%97 == 0 {
			mobile = "bad"
		}
		rows = append(rows, []string{fmt.Sprintf("E%d", i), "n", fmt.Sprintf("总部/部门%d", i%17), mobile, "", leader})
	}
	b := []*connectors.Batch{batch("hr", leaderHeader, rows...)}
	m.workers = 1
	org1, p1 := m.Map(b)
	m.workers = 4
	org4, p4 := m.Map(b)
	if !reflect.DeepEqual(org1, org4) || !reflect.DeepEqual(p1, p4) {
		t.Fatal("parallel mapping differs from sequential")
	}
	rejected := map[string]bool{}
	for _, p := range p1 {
		rejected[p.Key] = true
	}
	if len(p1) == 0 || len(org1.People) == 0 || len(org1.People)+len(rejected) != 5000 {
		t.Fatalf("%d people, %d rejected", len(org1.People), len(rejected))
	}
	// A rejected leader does not take their reports with them: the link
	// to the protected leader's userid is kept, with a warning.
	for _, p := range p1 {
		if p.Field == "direct_leader" {
			t.Fatalf("unexpected %v", p)
		}
	}
	if w := m.MapResult(b).Warnings; len(w) == 0 || !strings.Contains(w[0].Msg, "is rejected: the link to its userid") {
		t.Fatalf("warnings %v", w)
	}
	var errs []error
	for _, p := range p1 {
		errs = append(errs, p)
	}
	if errors.Join(errs...) == nil {
		t.Fatal("RecordError does not implement error")
	}
}

func decodeString(src string) (Config, error) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(src), &node); err != nil {
		return Config{}, err
	}
	return Decode(&node)
}

func TestYAMLScalarsOfOtherTypes(t *testing.T) {
	m := compileYAML(t, baseRules+"  position: lookup(\"grade\", 姓名)\n  enabled: true\nlookups:\n  grade: {5: 工程师, 7: 经理}\n")
	org, problems := m.Map([]*connectors.Batch{batch("hr", baseHeader, []string{"e1", "7", "", "13800138000"})})
	if len(problems) != 0 || org.People[0].Position != "经理" || !org.People[0].Enabled {
		t.Fatalf("%v %+v", problems, org.People)
	}
}

func TestTooManyLeaders(t *testing.T) {
	var rows [][]string
	for i := 0; i < 7; i++ {
		rows = append(rows, []string{fmt.Sprint("L", i), "n", "", fmt.Sprint("1380013800", i), ""})
	}
	rows = append(rows, []string{"e1", "n", "", "13900139000", "L0,L1,L2,L3,L4,L5"})
	m := compileYAML(t, "key: 工号\nuser:\n  userid: 工号\n  name: 姓名\n  mobile: 手机\n  direct_leader: split(上级, \",\")\n")
	_, errs := m.Map([]*connectors.Batch{batch("hr", []string{"工号", "姓名", "部门", "手机", "上级"}, rows...)})
	var problems []string
	for _, e := range errs {
		problems = append(problems, e.Error())
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "6 direct leaders, WeCom allows at most 5") {
		t.Fatalf("problems %v", problems)
	}
}

func TestFunctionHelpNamesEveryFunction(t *testing.T) {
	help := FunctionHelp()
	fs := functions(&funcEnv{})
	if len(help) != len(fs) {
		t.Fatalf("%d lines for %d functions", len(help), len(fs))
	}
	for i, f := range fs {
		if !strings.HasPrefix(help[i], f.name+"(") {
			t.Errorf("help %q does not start with %s(", help[i], f.name)
		}
	}
}

func TestInlineDepartmentTable(t *testing.T) {
	m := compileYAML(t, baseRules+`
departments:
  from: table
  table:
    inline:
      - {code: D1, name: 总部}
      - {code: D2, name: 研发中心, parent: D1, order: 10}
      - {code: D3, name: "坏:名", parent: D1}
`)
	// The table is built once at Compile: every Map gets the same answer,
	// and what one caller does with its result does not reach the next.
	for run := 1; run <= 2; run++ {
		org, problems := m.Map([]*connectors.Batch{batch("hr", baseHeader,
			[]string{"e1", "a", "D2", "13800138000"}, []string{"e2", "b", "D3", "13800138001"})})
		if len(org.People) != 1 || org.People[0].Departments[0] != "D2" {
			t.Fatalf("run %d: %+v", run, org.People)
		}
		want := []model.Department{
			{Key: "D1", Name: "总部", Origin: model.Origin{Source: "mapping", Locator: "departments.table.inline[0]"}},
			{Key: "D2", Name: "研发中心", ParentKey: "D1", Order: 10, Origin: model.Origin{Source: "mapping", Locator: "departments.table.inline[1]"}},
		}
		if !reflect.DeepEqual(org.Departments, want) {
			t.Fatalf("run %d: departments %+v", run, org.Departments)
		}
		if len(problems) != 2 || !strings.Contains(problems[0].Error(), `mapping:departments.table.inline[2]: department "坏:名"`) ||
			!strings.Contains(problems[1].Error(), `department "D3" is rejected`) {
			t.Fatalf("run %d: problems %v", run, problems)
		}
		org.Departments[0].Name, org.Departments[1].ID, problems[0].Msg = "changed", 7, "changed"
	}
}

func TestDeptCacheKeyKeepsDistinctValuesApart(t *testing.T) {
	vals := [][]string{nil, {""}, {"a"}, {"a;b"}, {"a", "b"}, {"a\x00b"}, {"\x00a"}, {"\x002:a"}, {"a", "b", ""}, {"ab"}, {"a", ""}, {"", "a"}}
	seen := map[string][]string{}
	for _, v := range vals {
		k := deptCacheKey(v)
		if prev, ok := seen[k]; ok {
			t.Errorf("%q and %q share the key %q", prev, v, k)
		}
		seen[k] = v
	}
	if k := deptCacheKey([]string{"总部/研发"}); k != "总部/研发" {
		t.Errorf("a single value should be its own key, got %q", k)
	}
}

func TestExtAttrs(t *testing.T) {
	row := []string{"e1", "张三", "总部", "13800138000", "  zs@example.com "}
	t.Run("maps every attribute, in name order, trimmed", func(t *testing.T) {
		people, problems, _ := mapRows(t, "  extattr: {工号: 工号, 邮箱: 邮箱}\n", baseHeader, row)
		if len(problems) != 0 {
			t.Fatal(problems)
		}
		want := []model.ExtAttr{{Name: "工号", Value: "e1"}, {Name: "邮箱", Value: "zs@example.com"}}
		p := people["e1"]
		if got := p.ExtAttrs(); !reflect.DeepEqual(got, want) || cap(got) != 2 {
			t.Fatalf("got %q (cap %d), want %q", got, cap(got), want)
		}
	})
	t.Run("leaves ExtAttrs nil without extattr rules", func(t *testing.T) {
		people, problems, _ := mapRows(t, "", baseHeader, row)
		p := people["e1"]
		if len(problems) != 0 || p.ExtAttrs() != nil {
			t.Fatalf("ext attrs %#v, problems %v", p.ExtAttrs(), problems)
		}
	})
	t.Run("names the attribute of a value that is too long", func(t *testing.T) {
		_, problems, _ := mapRows(t, "  extattr: {长: 姓名 + 姓名 + 姓名}\n", baseHeader, []string{"e1", strings.Repeat("长", 22), "总部", "13800138000", ""})
		if len(problems) != 1 || !strings.Contains(problems[0], "extattr.长") || !strings.Contains(problems[0], "is 66 characters, WeCom allows 64") {
			t.Fatalf("problems %v", problems)
		}
	})
}

// TestCrossCheckRecordsFailuresInFieldOrder: the unique fields are indexed
// while the keys are, but each row's failures still come key, userid,
// mobile, email; a record listed twice is one duplicate key, not also a
// duplicate mobile and email.
func TestCrossCheckRecordsFailuresInFieldOrder(t *testing.T) {
	m := compileYAML(t, baseRules)
	res := m.MapResult([]*connectors.Batch{batch("hr", baseHeader,
		[]string{"E1", "甲", "研发", "13800000001", "a@example.com"},
		[]string{"E1", "乙", "研发", "13800000002", "b@example.com"},
		[]string{"E2", "丙", "研发", "13800000002", "b@example.com"},
		[]string{"E3", "丁", "研发", "13800000003", "c@example.com"},
		[]string{"E3", "丁", "研发", "13800000003", "c@example.com"},
	)})
	fields := map[string][]string{}
	for _, e := range res.Rejected {
		fields[e.Origin.Locator] = append(fields[e.Origin.Locator], e.Field)
	}
	want := map[string][]string{
		"t.csv:2": {"key"},
		"t.csv:3": {"key", "mobile", "email"},
		"t.csv:4": {"mobile", "email"},
		"t.csv:5": {"key"},
		"t.csv:6": {"key"},
	}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("failures by row: %v, want %v", fields, want)
	}
}
