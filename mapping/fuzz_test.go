package mapping

import (
	"regexp"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/connectors"
)

const fuzzRules = `
key: trim(工号)
user:
  userid: lower(replace(工号, "\\s", ""))
  name: trim(姓名)
  department: 部门
  mobile: 手机
  email: lower(邮箱)
  gender: 性别
  enabled: truthy(状态)
  direct_leader: split(上级, ",")
  position: upper(substr(姓名, 1, 3))
  extattr:
    入职: date(入职)
    技能: join(split(技能, ";"), "/")
departments: {multi_separator: ";"}
`

// FuzzMap maps arbitrary rows: it must never panic, and its result must keep
// the contract: every record is either a person or a problem (never both,
// never neither), and the Org is consistent (unique keys and userids, every
// department present, every leader a person or a rejected, so protected,
// record's userid).
func FuzzMap(f *testing.F) {
	f.Add("E1", "张三", "总部/研发", "13800138000", "a@b.cn", "男", "1", "", "2024/1/2", "Go;SQL", "E2", "李四", "E1")
	f.Add("E1", "", "a/b;c", "12x", "", "x", "否", "E1", "45292", "", "e1", "Z", "E1,E2")
	f.Add("", "\u3000", "//", "+852 5123 4567", "A@B", "F", "yes", "E9", "bad", ";;", "E1", "李四", "")
	f.Add("_", strings.Repeat("长", 65), `a\b`, "(0)", "x@y.z", "2", "0", ",", "20240102", "x", "E1 ", "n", "_")
	header := []string{"工号", "姓名", "部门", "手机", "邮箱", "性别", "状态", "上级", "入职", "技能"}
	m, err := compileRules(fuzzRules)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, name, dept, mobile, email, gender, status, leader, hired, skills, key2, name2, leader2 string) {
		b := batch("hr", header,
			[]string{key, name, dept, mobile, email, gender, status, leader, hired, skills},
			[]string{key2, name2, dept, mobile, email, gender, status, leader2, hired, skills},
			[]string{"BOSS", "老板", "总部", "13900000000", "", "", "1", key, "", ""},
		)
		res := m.MapResult([]*connectors.Batch{b})
		org, problems := res.Org, res.Rejected
		rejected := map[string]bool{}
		protected := map[string]bool{} // userids of rejected records
		for _, p := range problems {
			if p.Error() == "" || p.Msg == "" {
				t.Fatalf("empty problem %+v", p)
			}
			rejected[p.Origin.Locator] = true
			if p.UserID != "" {
				protected[strings.ToLower(p.UserID)] = true
			}
		}
		for _, w := range res.Warnings {
			if rejected[w.Origin.Locator] {
				t.Fatalf("%s: a warning for a rejected record: %v", w.Origin, w)
			}
		}
		for _, p := range org.People {
			if rejected[p.Origin.Locator] {
				t.Fatalf("%s is both a person and a problem", p.Origin)
			}
			if checkUserID(p.UserID) != "" || p.Name == "" || (p.Mobile == "" && p.Email == "") {
				t.Fatalf("invalid person accepted: %+v", p)
			}
		}
		if len(org.People)+len(rejected) != len(b.Records) {
			t.Fatalf("%d people + %d rejected != %d records", len(org.People), len(rejected), len(b.Records))
		}
		ix, err := org.Index()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range org.People {
			for _, l := range p.DirectLeaders {
				if _, ok := ix.ByUserID[strings.ToLower(l)]; !ok && !protected[strings.ToLower(l)] {
					t.Fatalf("%s: leader %q is neither a person nor a rejected record's userid", p.Origin, l)
				}
			}
			for _, d := range p.Departments {
				if _, ok := ix.DeptByKey[d]; !ok {
					t.Fatalf("%s: department %q missing", p.Origin, d)
				}
			}
		}
		for _, d := range org.Departments {
			if d.ParentKey != "" {
				if _, ok := ix.DeptByKey[d.ParentKey]; !ok {
					t.Fatalf("department %q: parent %q missing", d.Key, d.ParentKey)
				}
			}
			if strings.ContainsAny(d.Name, forbiddenDeptChars) || d.Name == "" {
				t.Fatalf("department name %q accepted", d.Name)
			}
		}
	})
}

func compileRules(src string) (*Mapper, error) {
	cfg, err := decodeString(src)
	if err != nil {
		return nil, err
	}
	return Compile(withFiles(cfg))
}

// FuzzMobileChars checks that mobileChars accepts exactly what the regexp
// it replaced, ^[0-9+\-\s().]*$, accepts.
func FuzzMobileChars(f *testing.F) {
	for _, s := range []string{"", "13800138000", "+86 (138) 0013-8000.", "138\t0013\r\n8000\f", "12x", "138\v0013",
		"１３８", "138\u00a00013", "\xff", "ext. 12", "0086-138"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`^[0-9+\-\s().]*$`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := mobileChars(s), re.MatchString(s); got != want {
			t.Fatalf("mobileChars(%q) = %v, regexp says %v", s, got, want)
		}
	})
}
