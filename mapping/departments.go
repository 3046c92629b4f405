package mapping

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
)

const (
	// maxDepth is WeCom's department tree depth limit (81002).
	maxDepth = 15
	// maxDeptName is WeCom's department name length in characters.
	maxDeptName = 64
	// forbiddenDeptChars may not appear in a department name (60009).
	forbiddenDeptChars = `\:*?"<>|`
)

func (m *Mapper) rootDepth() int {
	if m.cfg.Departments.RootDepth > 0 {
		return m.cfg.Departments.RootDepth
	}
	return 1
}

// cleanDeptName trims a department name and applies WeCom's name rules:
// forbidden characters are replaced (department_name_replace) or an error.
func (m *Mapper) cleanDeptName(name string) (string, string) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", "empty department name"
	}
	if i := strings.IndexAny(name, forbiddenDeptChars); i >= 0 {
		if m.replace == "" {
			return "", fmt.Sprintf("department name %q contains %q, which WeCom forbids (%s; or set department_name_replace)", name, name[i], forbiddenDeptChars)
		}
		var b strings.Builder
		for _, r := range name {
			if strings.ContainsRune(forbiddenDeptChars, r) {
				b.WriteString(m.replace)
			} else {
				b.WriteRune(r)
			}
		}
		name = strings.TrimSpace(b.String())
	}
	if n := runeLen(name); n > maxDeptName {
		return "", fmt.Sprintf("department name %q is %d characters, WeCom allows %d", truncate(name), n, maxDeptName)
	}
	if msg := checkText(name); msg != "" {
		return "", fmt.Sprintf("department name %q %s", truncate(name), msg)
	}
	return name, ""
}

// deptRef is the resolution of one department value, cached per distinct
// value (100k people share a few hundred departments).
type deptRef struct {
	keys []string
	msg  string // non-empty: the value is unusable
	raw  string // the value as messages show it (a list joined with ";")
}

// resolvePaths turns a department value (a path, several paths, or a list)
// into department keys below the managed root.
func (m *Mapper) resolvePaths(raw string) deptRef {
	var parts []string
	if ms := m.cfg.Departments.MultiSeparator; ms != "" {
		parts = strings.Split(raw, ms)
	} else {
		parts = []string{raw}
	}
	var ref deptRef
	for _, part := range parts {
		var segs []string
		for _, s := range strings.Split(part, m.sep) {
			if strings.TrimSpace(s) == "" {
				continue
			}
			name, msg := m.cleanDeptName(s)
			if msg != "" {
				return deptRef{msg: msg}
			}
			if m.sep != "/" && strings.Contains(name, "/") {
				return deptRef{msg: fmt.Sprintf("department name %q contains \"/\", which cannot be part of a department key", name)}
			}
			segs = append(segs, name)
		}
		if len(segs) == 0 {
			continue
		}
		if d := m.rootDepth() + len(segs); d > maxDepth {
			return deptRef{msg: fmt.Sprintf("department path is %d levels deep (with root_depth %d), WeCom allows %d", d, m.rootDepth(), maxDepth)}
		}
		key := model.PathKey(segs...)
		if !contains(ref.keys, key) {
			ref.keys = append(ref.keys, key)
		}
	}
	return ref
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pathDepartments builds every department the keys need: each prefix of a
// path is a department. origin is where a key was first seen.
func pathDepartments(keys []string, origin map[string]model.Origin) []model.Department {
	seen := map[string]bool{}
	var out []model.Department
	for _, k := range keys {
		for p := k; p != "" && !seen[p]; p = model.ParentPath(p) {
			seen[p] = true
			name := p[strings.LastIndexByte(p, '/')+1:]
			out = append(out, model.Department{Key: p, Name: name, ParentKey: model.ParentPath(p), Origin: origin[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// tableDept is one row of a department table.
type tableDept struct {
	dept   model.Department
	line   int // position in the table, for error order
	reject string
	rule   string
	value  string
}

// deptTable is a department table after validation.
type deptTable struct {
	byCode map[string]*tableDept
	rows   []*tableDept
	errs   []RecordError
	failed string // the whole table is unusable
}

// buildTable evaluates and validates the department table. Rejected
// departments (and their descendants) are reported once each; people in
// them are rejected by resolveCodes.
func (m *Mapper) buildTable(batches []*connectors.Batch) *deptTable {
	dt := &deptTable{byCode: map[string]*tableDept{}}
	t := m.table
	var recs []*connectors.Record
	if len(t.Inline) > 0 {
		for i, d := range t.Inline {
			recs = append(recs, &connectors.Record{
				Origin: model.Origin{Source: "mapping", Locator: fmt.Sprintf("departments.table.inline[%d]", i)},
				Names:  inlineColumns,
				Values: []any{d.Code, d.Name, d.Parent, d.Order},
			})
		}
	} else if t.File != "" {
		b, err := m.readTableFile("departments", m.resolve(t.File), t.Encoding)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = errors.New("the file does not exist")
			}
			dt.failed = fmt.Sprintf("mapping.departments.table.file (line %d): %s: %v", t.FileLine, t.File, err)
			return dt
		}
		for i := range b.Records {
			recs = append(recs, &b.Records[i])
		}
	} else {
		found := false
		for _, b := range batches {
			if b != nil && b.Source == t.Source {
				found = true
				for i := range b.Records {
					recs = append(recs, &b.Records[i])
				}
			}
		}
		if !found {
			dt.failed = fmt.Sprintf("department table source %q was not read in this run", t.Source)
			return dt
		}
	}
	ev := m.newEvaluator(m.tableIdents, m.tableAllEnv)
	byCode := map[string][]*tableDept{}
	for i, r := range recs {
		ev.load(r)
		td := &tableDept{line: i}
		td.dept.Origin = r.Origin
		fail := func(p *program, value, msg string) {
			if td.reject == "" {
				td.reject, td.value = msg, value
				if p != nil {
					td.rule = p.rule.Expr
				}
			}
		}
		code, err := ev.str(m.tCode)
		if err != nil {
			fail(m.tCode, err.value, err.msg)
		}
		code = strings.TrimSpace(code)
		td.dept.Key = code
		if code == "" && td.reject == "" {
			fail(m.tCode, "", "empty department code")
		}
		name, err := ev.str(m.tName)
		if err != nil {
			fail(m.tName, err.value, err.msg)
		} else if clean, msg := m.cleanDeptName(name); msg != "" {
			fail(m.tName, name, msg)
		} else {
			td.dept.Name = clean
		}
		parent, err := ev.str(m.tParent)
		if err != nil {
			fail(m.tParent, err.value, err.msg)
		}
		parent = strings.TrimSpace(parent)
		if parent == t.Root {
			parent = ""
		}
		td.dept.ParentKey = parent
		if m.tOrder != nil {
			o, err := ev.str(m.tOrder)
			if err != nil {
				fail(m.tOrder, err.value, err.msg)
			} else if o = strings.TrimSpace(o); o != "" {
				n, perr := strconv.ParseUint(o, 10, 32)
				if perr != nil {
					fail(m.tOrder, o, "department order must be a whole number from 0 to 4294967295")
				}
				td.dept.Order = uint32(n)
			}
		}
		dt.rows = append(dt.rows, td)
		if code != "" {
			byCode[code] = append(byCode[code], td)
		}
	}
	for code, tds := range byCode {
		if len(tds) > 1 {
			for _, td := range tds {
				if td.reject == "" {
					td.reject, td.value, td.rule = fmt.Sprintf("duplicate department code (%s)", origins(tds)), code, m.tCode.rule.Expr
				}
			}
		}
		dt.byCode[code] = tds[0]
	}
	// Parents, cycles and depth: walk each department's ancestry.
	for _, td := range dt.rows {
		if td.reject != "" || td.dept.ParentKey == "" {
			continue
		}
		if _, ok := dt.byCode[td.dept.ParentKey]; !ok {
			td.reject, td.value, td.rule = "parent department code is not in the department table", td.dept.ParentKey, m.tParent.rule.Expr
		}
	}
	for _, td := range dt.rows {
		if td.reject != "" {
			continue
		}
		depth, seen := 0, map[string]bool{}
		for cur := td; cur != nil; {
			if seen[cur.dept.Key] {
				td.reject, td.value, td.rule = "department parents form a cycle", td.dept.ParentKey, m.tParent.rule.Expr
				break
			}
			seen[cur.dept.Key] = true
			depth++
			if cur.dept.ParentKey == "" {
				break
			}
			cur = dt.byCode[cur.dept.ParentKey]
		}
		if td.reject == "" && m.rootDepth()+depth > maxDepth {
			td.reject, td.value = fmt.Sprintf("department is %d levels deep (with root_depth %d), WeCom allows %d", m.rootDepth()+depth, m.rootDepth(), maxDepth), td.dept.Key
			td.rule = m.tParent.rule.Expr
		}
	}
	// Siblings must have different names.
	siblings := map[[2]string][]*tableDept{}
	for _, td := range dt.rows {
		if td.reject == "" {
			k := [2]string{td.dept.ParentKey, td.dept.Name}
			siblings[k] = append(siblings[k], td)
		}
	}
	for _, tds := range siblings {
		if len(tds) > 1 {
			for _, td := range tds {
				td.reject, td.value, td.rule = fmt.Sprintf("two departments under one parent have the same name (%s)", origins(tds)), td.dept.Name, m.tName.rule.Expr
			}
		}
	}
	// A rejected department takes its descendants with it.
	var rejected func(td *tableDept, n int) string
	rejected = func(td *tableDept, n int) string {
		if td.reject != "" || td.dept.ParentKey == "" || n > len(dt.rows) {
			return td.reject
		}
		p := dt.byCode[td.dept.ParentKey]
		if r := rejected(p, n+1); r != "" {
			return "parent department " + p.dept.Key + " is rejected"
		}
		return ""
	}
	for _, td := range dt.rows {
		if td.reject == "" {
			if r := rejected(td, 0); r != "" {
				td.reject, td.value, td.rule = r, td.dept.ParentKey, m.tParent.rule.Expr
			}
		}
		if td.reject != "" {
			dt.errs = append(dt.errs, RecordError{Origin: td.dept.Origin, Kind: KindDepartment, Field: "department",
				Value: clip(td.value), Rule: td.rule, Msg: td.reject})
		}
	}
	return dt
}

func origins(tds []*tableDept) string {
	var o []string
	for _, td := range tds {
		o = append(o, td.dept.Origin.Locator)
	}
	return "rows " + strings.Join(o, ", ")
}

// resolveCodes checks department codes against the table.
func (dt *deptTable) resolveCodes(codes []string) deptRef {
	var ref deptRef
	if dt.failed != "" {
		return deptRef{msg: dt.failed}
	}
	for _, c := range codes {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		td, ok := dt.byCode[c]
		switch {
		case !ok:
			return deptRef{msg: fmt.Sprintf("department code %q is not in the department table", c)}
		case td.reject != "":
			return deptRef{msg: fmt.Sprintf("department %q is rejected (%s: %s)", c, td.dept.Origin, td.reject)}
		}
		if !contains(ref.keys, c) {
			ref.keys = append(ref.keys, c)
		}
	}
	return ref
}

func (dt *deptTable) departments() []model.Department {
	var out []model.Department
	for _, td := range dt.rows {
		if td.reject == "" && dt.byCode[td.dept.Key] == td {
			out = append(out, td.dept)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
