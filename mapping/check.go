package mapping

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm"
)

// Compile-time checks of a rule, so that `orgsync validate` refuses a
// config whose rule would reject every record at plan time. Columns are not
// known before the source is read (a bare identifier is a column), so what
// is checked is what holds for every record:
//
//   - every function called exists (lowr(工号) is a typo, not a column);
//   - a rule that reads no column is evaluated once, here: it must not fail,
//     yield a non-finite number or a non-text value for a text field, or be
//     empty for a required field; key and userid may not be constant (every
//     record would collide);
//   - the static result type, where expr knows it, fits the field
//     (工号 == "x" is a bool, not a name);
//   - a dry run with every column set, in turn, to each of a few plausible
//     values ("1", "张三", "", an LDAP-style list, absent): a rule that fails
//     on all of them with a type error (职位 + 1) fails on every record. A
//     helper's verdict on a value (a date that is not one, a key missing
//     from a lookup) is the data's problem, not the rule's, and does not
//     count. int(姓名) passes: "1" is a number, and int(排序) on a column of
//     numbers must stay valid.

// fieldKind is what a rule's value becomes.
type fieldKind int

const (
	textField fieldKind = iota // rendered as text (lists: the first value)
	boolField                  // enabled, is_leader: a yes/no value
)

func kindOf(name string) fieldKind {
	switch name {
	case "user.enabled", "user.is_leader", "include", "exclude":
		return boolField
	}
	return textField
}

// dryValues are the values a column takes in the dry run.
// A JSON source's nested objects and arrays are values too (dept.name,
// custom_fields["工号"]).
var dryValues = []any{"1", "张三", "", []string{"张三", "李四"}, nil, map[string]any{}, []any{}}

// checkRule applies the checks above to a compiled rule; the error names
// the rule and its line like a compile error.
func checkRule(name string, p *program, required bool, fenv *funcEnv) error {
	// required: an always-empty key, userid or name is an error (an empty
	// department parent or extattr is a value).
	r := p.rule
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s%s: %s: %s", ruleRef(name), r.at(), r.Expr, fmt.Sprintf(format, a...))
	}
	v := &callVisitor{known: map[string]bool{}, declared: map[string]bool{}}
	for _, f := range functions(fenv) {
		v.known[f.name] = true
	}
	root := p.prog.Node()
	ast.Walk(&root, v)
	if len(v.unknown) > 0 {
		names := make([]string, 0, len(v.known))
		for n := range v.known {
			names = append(names, n)
		}
		sort.Strings(names)
		return bad("unknown function %s (functions: %s; and expr's builtins such as len, int, string)",
			strings.Join(v.unknown, ", "), strings.Join(names, ", "))
	}
	kind := kindOf(name)
	field := name[strings.LastIndexByte(name, '.')+1:]

	if len(p.idents) == 0 && !p.allEnv {
		out, err := vm.Run(p.prog, map[string]any{})
		if err != nil {
			return bad("fails on every record: %s", ruleErrText(err))
		}
		if msg := resultProblem(out, kind); msg != "" {
			return bad("%s", msg)
		}
		keyLike := name == "key" || name == "user.userid" || strings.HasPrefix(name, "join.on.")
		if strings.HasPrefix(name, "join.on.") {
			field = "join key"
		}
		if required && blank(out) && (keyLike || name == "user.name") {
			return bad("is always empty, and %s is required", field)
		}
		if keyLike {
			return bad("reads no column: every record would have the same %s", field)
		}
		return nil
	}
	if t := root.Type(); t != nil && kind == textField {
		if msg := staticTypeProblem(t); msg != "" {
			return bad("%s", msg)
		}
	}
	var firstErr error
	var results []any
	for _, dv := range dryValues {
		env := make(map[string]any, len(p.idents))
		for _, id := range p.idents {
			env[id] = dv
		}
		out, err := vm.Run(p.prog, env)
		var ve *ValueError
		switch {
		case err == nil:
			results = append(results, out)
		case errors.As(err, &ve):
			return nil // the data decides
		case firstErr == nil:
			firstErr = err
		}
	}
	if len(results) == 0 {
		return bad("fails on every record: %s", ruleErrText(firstErr))
	}
	if kind == textField {
		var what string
		for _, out := range results {
			if what = notText(out); what == "" {
				return nil
			}
		}
		return bad("yields %s, want text", what)
	}
	return nil
}

// resultProblem checks a constant rule's value for its field.
func resultProblem(out any, kind fieldKind) string {
	if f, ok := out.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return fmt.Sprintf("yields %s, not a finite number", toString(f))
	}
	switch kind {
	case textField:
		if what := notText(out); what != "" {
			return "yields " + what + ", want text"
		}
	case boolField:
		if _, ok := boolValue(out); !ok && !blank(out) {
			return fmt.Sprintf("yields %q, not a yes/no value", toString(out))
		}
	}
	return ""
}

var timeType = reflect.TypeOf(time.Time{})

// staticTypeProblem names a result type no text field can take.
func staticTypeProblem(t reflect.Type) string {
	switch {
	case t == timeType:
		return "yields a time (format it with date()), want text"
	case t.Kind() == reflect.Bool:
		return "yields a bool, want text"
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		// Not Func: a bare identifier that is also a function's name
		// (ou_path, the LDAP source's derived column) reads the column when
		// the record has it; the dry run below judges such a rule.
		return "yields a " + t.String() + ", want text"
	}
	return ""
}

func ruleErrText(err error) string {
	var ve *ValueError
	if errors.As(err, &ve) {
		return fmt.Sprintf("%q: %s", ve.Value, ve.Msg)
	}
	msg := err.Error()
	if i := strings.Index(msg, "\n"); i >= 0 {
		msg = msg[:i] // expr appends the source with a caret
	}
	return msg
}

// callVisitor finds calls of functions that do not exist.
type callVisitor struct {
	known    map[string]bool
	declared map[string]bool
	unknown  []string
}

func (v *callVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		v.declared[n.Name] = true
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || v.known[id.Value] || v.declared[id.Value] || id.Value == "$env" {
			return
		}
		if _, ok := builtin.Index[id.Value]; ok {
			return
		}
		if !contains(v.unknown, id.Value) {
			v.unknown = append(v.unknown, id.Value)
		}
	}
}
