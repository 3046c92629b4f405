package mapping

import (
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

func evalExpr(t *testing.T, src string, env map[string]any) (any, error) {
	t.Helper()
	fenv := &funcEnv{region: "CN", lookups: map[string]map[string]string{"city": {"bj": "北京"}}}
	opts := append([]expr.Option{expr.Env(map[string]any{}), expr.AllowUndefinedVariables()}, exprOptions(functions(fenv))...)
	p, err := compileRule("test", Rule{Expr: src}, opts, fenv)
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	var v vm.VM
	return v.Run(p.prog, env)
}

func TestFunctions(t *testing.T) {
	env := map[string]any{
		"工号": " E001 ", "姓名": "\u3000张三 ", "列 名": "x", "技能": "Go; SQL;;", "ldap": []string{"a", "b"}, "空": "",
		"序号": "45292", "手机": "138 0013 8000",
	}
	cases := []struct {
		expr string
		want any
	}{
		{`lower(工号)`, " e001 "},
		{`upper("abc")`, "ABC"},
		{`trim(姓名)`, "张三"},
		{`trim("--x--", "-")`, "x"},
		{`$env["列 名"]`, "x"},
		{`replace(工号, "[^0-9]", "")`, "001"},
		{`replace("2024-05-01", "(\\d+)-(\\d+)-(\\d+)", "$3/$2/$1")`, "01/05/2024"},
		{`split(技能, ";")`, []string{"Go", "SQL"}},
		{`join(split(技能, ";"), "、")`, "Go、SQL"},
		{`join(ldap, ",")`, "a,b"},
		{`default(空, "无")`, "无"},
		{`default(不存在, "无")`, "无"},
		{`default(工号, "无")`, " E001 "},
		{`coalesce(空, 不存在, "c")`, "c"},
		{`digits("+86 (138) 0013-8000")`, "8613800138000"},
		{`substr("研发中心后端组", 2, 2)`, "中心"},
		{`substr("研发", 5)`, ""},
		{`path("总部", "", split("研发>后端", ">"))`, "总部/研发/后端"},
		{`truthy("是")`, true},
		{`truthy("离职")`, false},
		{`gender("女")`, "2"},
		{`gender("x")`, ""},
		{`date("2024/5/1")`, "2024-05-01"},
		{`date("2024年5月1日")`, "2024-05-01"},
		{`date("20240501")`, "2024-05-01"},
		{`date("2024-05-01 09:30:00")`, "2024-05-01"},
		{`date(序号)`, "2024-01-01"},
		{`date("01/05/2024", "02/01/2006")`, "2024-05-01"},
		{`date("")`, ""},
		{`e164(手机)`, "13800138000"},
		{`e164("+86-13800138000")`, "13800138000"},
		{`e164("5123 4567", "HK")`, "+852 51234567"},
		{`lookup("city", "bj")`, "北京"},
		{`lookup("city", "sh", "未知")`, "未知"},
		{`len(ldap)`, 2},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			got, err := evalExpr(t, c.expr, env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
	errCases := []struct {
		expr string
		want string
	}{
		{`date("31/31/2024")`, `"31/31/2024": not a date`},
		{`date("2024-05-01", "02/01/2006")`, "not a date in layout 02/01/2006"},
		{`e164("12x")`, "may hold only digits"},
		{`e164("12345")`, "not a mainland China mobile number"},
		{`lookup("city", "sh")`, `"sh": not in lookup table "city"`},
		{`lookup(工号, "sh")`, `no lookup table " E001 "`},
		{`replace("a", "(", "")`, "bad regexp"},
		{`substr("a", "x")`, "is not a number"},
	}
	for _, c := range errCases {
		t.Run("fails: "+c.expr, func(t *testing.T) {
			_, err := evalExpr(t, c.expr, env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestFunctionsTolerateAnyValue(t *testing.T) {
	values := []any{nil, "", "x", []string{}, []string{"a"}, []any{1, "b"}, 3.5, 42, true}
	fenv := &funcEnv{region: "CN", lookups: map[string]map[string]string{"t": {}}}
	for _, f := range functions(fenv) {
		for _, a := range values {
			for _, b := range values {
				for n := 0; n <= 3; n++ {
					args := []any{a, b, a}[:n]
					func() {
						defer func() {
							if r := recover(); r != nil {
								t.Fatalf("%s%v panicked: %v", f.name, args, r)
							}
						}()
						_, _ = f.fn(args...)
					}()
				}
			}
		}
	}
}

func TestIdentifiers(t *testing.T) {
	fenv := &funcEnv{lookups: map[string]map[string]string{"t": {}}}
	opts := append([]expr.Option{expr.Env(map[string]any{}), expr.AllowUndefinedVariables()}, exprOptions(functions(fenv))...)
	cases := []struct {
		expr   string
		idents []string
		column string
		allEnv bool
	}{
		{expr: "工号", idents: []string{"工号"}, column: "工号"},
		{expr: "lower(工号) + 姓名", idents: []string{"工号", "姓名"}},
		{expr: `let x = trim(a); x + b`, idents: []string{"a", "b"}},
		{expr: `$env["列 名"]`, allEnv: true},
		{expr: `lookup("t", k)`, idents: []string{"k"}},
		{expr: `date(date) + lower(date)`, idents: []string{"date"}},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			p, err := compileRule("r", Rule{Expr: c.expr}, opts, fenv)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.idents, c.idents) || p.column != c.column || p.allEnv != c.allEnv {
				t.Fatalf("idents %q column %q allEnv %v", p.idents, p.column, p.allEnv)
			}
		})
	}
}
