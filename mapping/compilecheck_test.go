package mapping

import (
	"strings"
	"testing"
)

func TestCompileCatchesRulesThatRejectEveryRecord(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string
	}{
		{name: "an unknown function", yaml: baseRules + "  position: lowr(职位)\n", want: `mapping.user.position (line 9): lowr(职位): unknown function lowr`},
		{name: "userid: nil", yaml: "key: 工号\nuser:\n  userid: nil\n  name: 姓名\n  mobile: 手机\n", want: "mapping.user.userid (line 3): nil: is always empty, and userid is required"},
		{name: "a constant key", yaml: "key: '\"E1\"'\nuser:\n  userid: 工号\n  name: 姓名\n  mobile: 手机\n", want: `mapping.key (line 1): "E1": reads no column: every record would have the same key`},
		{name: "a division by zero", yaml: baseRules + "  position: 1/0\n", want: "mapping.user.position (line 9): 1/0: yields +Inf, not a finite number"},
		{name: "a bool for a text field", yaml: baseRules + "  position: 职位 == \"x\"\n", want: "mapping.user.position (line 9): 职位 == \"x\": yields a bool, want text"},
		{name: "string arithmetic on a column", yaml: baseRules + "  position: 职位 + 1\n", want: "mapping.user.position (line 9): 职位 + 1: fails on every record: invalid operation"},
		{name: "an enabled constant that is not yes or no", yaml: baseRules + "  enabled: '\"试用\"'\n", want: `mapping.user.enabled (line 9): "试用": yields "试用", not a yes/no value`},
		{name: "a time for a text field", yaml: baseRules + "  position: now()\n", want: "yields a time (format it with date()), want text"},
		{name: "a bad regexp", yaml: baseRules + "  position: replace(职位, \"[\", \"\")\n", want: "fails on every record: bad regexp"},
		{name: "a constant lookup miss", yaml: baseRules + "  position: lookup(\"g\", \"x\")\nlookups: {g: {}}\n", want: `fails on every record: "x": not in lookup table "g"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileRules(c.yaml)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant %q", err, c.want)
			}
		})
	}
}

func TestCompileKeepsValidRules(t *testing.T) {
	for _, rule := range []string{
		"int(排序)", "float(姓名) / 2", "lookup(\"g\", 职级)", "date(入职)", "e164(手机)", "substr(姓名, 0, 3)",
		"len(memberOf) > 0 ? \"有\" : \"无\"", "default(职位, \"员工\")", "upper(substr(Title, 0, 3)) + \"-\" + lookup(\"g\", Grade, \"无\")",
		"let t = trim(职位); t == \"\" ? nil : t", "join(split(技能, \";\"), \"/\")", "$env[\"Job Title\"]", "\"固定职位\"", "nil",
	} {
		t.Run(rule, func(t *testing.T) {
			y := baseRules + "  position: '" + strings.ReplaceAll(rule, "'", "''") + "'\nlookups: {g: {}}\n"
			if _, err := compileRules(y); err != nil {
				t.Fatal(err)
			}
		})
	}
}
