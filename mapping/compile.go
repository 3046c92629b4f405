package mapping

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/orgsync/orgsync/connectors"
)

// program is one compiled rule.
type program struct {
	name   string // "user.email", "user.extattr.工号"
	rule   Rule
	prog   *vm.Program
	column string   // set when the rule is just a column name: read it without the VM (it is in idents too)
	idents []string // columns the rule reads
	allEnv bool     // the rule uses $env: it may read any column
}

// Mapper is a compiled mapping. It is safe for concurrent use.
type Mapper struct {
	cfg    Config
	region string
	sep    string

	key, userid, name, department, mainDepartment, position, mobile, email, bizMail,
	alias, telephone, gender, enabled, directLeader, leaderOf, isLeader *program
	extattr []extAttrRule // sorted by attribute name
	// include and exclude leave records out of scope on purpose.
	include, exclude *program

	join   *joinSpec   // nil without a join
	traces []traceInfo // with a join: the fields whose source explain shows

	table                         *DepartmentTable
	inlineTable                   *deptTable // built once at Compile; read-only
	tCode, tName, tParent, tOrder *program
	userPrograms, tablePrograms   []*program
	userIdents, tableIdents       []string
	userAllEnv, tableAllEnv       bool
	replace                       string
	fenv                          *funcEnv
	workers                       int // 0: GOMAXPROCS for large inputs; tests set it
}

// extAttrRule is the rule of one extended attribute.
type extAttrRule struct {
	name  string // the attribute's name in WeCom
	field string // "extattr." + name, the RecordError field
	p     *program
}

// Compile checks the configuration and compiles every rule once. Every
// problem is reported (errors.Join), each naming the rule and its YAML line.
// Lookup files are read here.
func Compile(cfg Config) (*Mapper, error) {
	m := &Mapper{cfg: cfg, region: cfg.MobileRegion, sep: cfg.Departments.Separator, replace: cfg.DepartmentNameReplace}
	if m.region == "" {
		m.region = "CN"
	}
	if m.sep == "" {
		m.sep = "/"
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	m.fenv = &funcEnv{lookups: map[string]map[string]string{}, region: m.region}
	for name, tab := range cfg.Lookups {
		m.fenv.lookups[name] = tab
	}
	for _, name := range sortedKeys(cfg.LookupFiles) {
		lf := cfg.LookupFiles[name]
		if _, dup := m.fenv.lookups[name]; dup {
			bad("mapping.lookup_files.%s: a lookup table %q is also defined in lookups", name, name)
			continue
		}
		tab, err := m.readLookup(m.resolve(lf.Path), lf)
		if err != nil {
			bad("mapping.lookup_files.%s: %w", name, err)
			continue
		}
		m.fenv.lookups[name] = tab
	}
	opts := append([]expr.Option{expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.Patch(nilSafeMembers{})}, exprOptions(functions(m.fenv))...)
	compileWith := func(opts []expr.Option, joined bool) func(name string, r Rule, required bool) *program {
		return func(name string, r Rule, required bool) *program {
			if r.IsZero() {
				if required {
					bad("%s: required", ruleRef(name))
				}
				return nil
			}
			p, err := compileRule(name, r, opts, m.fenv)
			if err == nil && joined {
				err = m.checkJoinIdents(p)
			}
			if err == nil {
				err = checkRule(name, p, required, m.fenv)
			}
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			return p
		}
	}
	// plain rules read one source's own columns: join keys and the
	// department table. With a join, the person rules read merged records.
	plain := compileWith(opts, false)
	compile := plain
	if cfg.Join != nil {
		m.compileJoin(cfg.Join, plain, bad)
		userOpts := append(append([]expr.Option(nil), opts...), expr.Patch(nsPatch{ns: m.join.index}))
		compile = compileWith(userOpts, true)
	}
	u := cfg.User
	m.include = compile("include", cfg.Include, false)
	m.exclude = compile("exclude", cfg.Exclude, false)
	m.key = compile("key", cfg.Key, true)
	m.userid = compile("user.userid", u.UserID, true)
	m.name = compile("user.name", u.Name, true)
	m.department = compile("user.department", u.Department, false)
	m.mainDepartment = compile("user.main_department", u.MainDepartment, false)
	m.position = compile("user.position", u.Position, false)
	m.mobile = compile("user.mobile", u.Mobile, false)
	m.email = compile("user.email", u.Email, false)
	m.bizMail = compile("user.biz_mail", u.BizMail, false)
	m.alias = compile("user.alias", u.Alias, false)
	m.telephone = compile("user.telephone", u.Telephone, false)
	m.gender = compile("user.gender", u.Gender, false)
	m.enabled = compile("user.enabled", u.Enabled, false)
	m.directLeader = compile("user.direct_leader", u.DirectLeader, false)
	m.leaderOf = compile("user.leader_of", u.LeaderOf, false)
	m.isLeader = compile("user.is_leader", u.IsLeader, false)
	if m.mobile == nil && m.email == nil && !u.UserID.IsZero() {
		bad("mapping.user: set mobile or email (WeCom needs one of them for every member)")
	}
	if !u.LeaderOf.IsZero() && !u.IsLeader.IsZero() {
		bad("mapping.user.is_leader%s: set leader_of or is_leader, not both", u.IsLeader.at())
	}
	for _, name := range sortedKeys(u.ExtAttr) {
		if strings.TrimSpace(name) == "" {
			bad("mapping.user.extattr: an attribute needs a name")
			continue
		}
		if p := compile("user.extattr."+name, u.ExtAttr[name], true); p != nil {
			m.extattr = append(m.extattr, extAttrRule{name: name, field: "extattr." + name, p: p})
		}
	}

	d := cfg.Departments
	switch d.From {
	case "", "path":
		if d.Table != nil {
			bad("mapping.departments.table: set only with from: table")
		}
	case "table":
		if d.Table == nil {
			bad("mapping.departments.table: required with from: table")
			break
		}
		tc := *d.Table // defaults below must not change the caller's config
		t := &tc
		m.table = t
		if n := btoi(t.Source != "") + btoi(t.File != "") + btoi(len(t.Inline) > 0); n != 1 {
			bad("mapping.departments.table: set exactly one of source (a configured source's name), file or inline")
		}
		if len(t.Inline) > 0 {
			// Inline rows are records with the columns code, name, parent
			// and order; unset rules read them as they are.
			for _, def := range []struct {
				r   *Rule
				col string
			}{{&t.Code, "code"}, {&t.Name, "name"}, {&t.Parent, "parent"}, {&t.Order, "order"}} {
				if def.r.IsZero() {
					*def.r = Rule{Expr: def.col}
				}
			}
		}
		m.tCode = plain("departments.table.code", t.Code, true)
		m.tName = plain("departments.table.name", t.Name, true)
		m.tParent = plain("departments.table.parent", t.Parent, true)
		m.tOrder = plain("departments.table.order", t.Order, false)
		if m.join != nil && t.Source != "" {
			if _, joined := m.join.index[t.Source]; joined {
				bad("mapping.departments.table.source: %q is joined (join.on): the department table's source can't be a source of people too", t.Source)
			}
		}
	default:
		bad("mapping.departments.from: %q: want path or table", d.From)
	}
	if d.RootDepth < 0 || d.RootDepth >= maxDepth {
		bad("mapping.departments.root_depth: %d: want 1 to %d", d.RootDepth, maxDepth-1)
	}
	if strings.ContainsAny(m.replace, forbiddenDeptChars) {
		bad("mapping.department_name_replace: %q itself contains a forbidden character (%s)", m.replace, forbiddenDeptChars)
	}
	if d.MultiSeparator != "" && d.MultiSeparator == m.sep {
		bad("mapping.departments.multi_separator: %q is also the path separator", d.MultiSeparator)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	m.userPrograms = nonNil(m.include, m.exclude, m.key, m.userid, m.name, m.department, m.mainDepartment, m.position, m.mobile, m.email,
		m.bizMail, m.alias, m.telephone, m.gender, m.enabled, m.directLeader, m.leaderOf, m.isLeader)
	for _, x := range m.extattr {
		m.userPrograms = append(m.userPrograms, x.p)
	}
	m.userIdents, m.userAllEnv = identsOf(m.userPrograms)
	if m.join != nil {
		m.buildTraces()
	}
	if m.table != nil {
		m.tablePrograms = nonNil(m.tCode, m.tName, m.tParent, m.tOrder)
		m.tableIdents, m.tableAllEnv = identsOf(m.tablePrograms)
		if len(m.table.Inline) > 0 {
			// Rows written in the config are the same on every Map; a
			// source's batch or a file is read anew each time.
			m.inlineTable = m.buildTable(nil)
		}
	}
	return m, nil
}

func (m *Mapper) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || m.cfg.BaseDir == "" {
		return p
	}
	return filepath.Join(m.cfg.BaseDir, p)
}

// compileRule compiles one rule and finds the columns it reads.
func compileRule(name string, r Rule, opts []expr.Option, fenv *funcEnv) (*program, error) {
	prog, err := expr.Compile(r.Expr, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %s: %s", ruleRef(name), r.at(), r.Expr, oneLine(err.Error()))
	}
	p := &program{name: name, rule: r, prog: prog}
	v := &identVisitor{declared: map[string]bool{}, callees: map[*ast.IdentifierNode]bool{}}
	root := prog.Node()
	ast.Walk(&root, v)
	if v.badLookup != "" {
		if _, ok := fenv.lookups[v.badLookup]; !ok {
			return nil, fmt.Errorf("%s%s: %s: no lookup table %q (have: %s)", ruleRef(name), r.at(), r.Expr, v.badLookup,
				strings.Join(sortedKeys(fenv.lookups), ", "))
		}
	}
	p.idents = v.idents()
	p.allEnv = v.allEnv
	if id, ok := root.(*ast.IdentifierNode); ok && id.Value != "$env" && !v.declared[id.Value] {
		p.column = id.Value
	}
	return p, nil
}

// identVisitor collects the names a rule reads from the record.
type identVisitor struct {
	nodes     []*ast.IdentifierNode
	callees   map[*ast.IdentifierNode]bool // function names, not columns
	declared  map[string]bool              // let-bound names are not columns
	allEnv    bool
	badLookup string // the first constant table name passed to lookup
}

func (v *identVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			v.allEnv = true
			return
		}
		v.nodes = append(v.nodes, n)
	case *ast.VariableDeclaratorNode:
		v.declared[n.Name] = true
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if ok {
			v.callees[id] = true
		}
		if ok && id.Value == "lookup" && len(n.Arguments) > 0 {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok && v.badLookup == "" {
				v.badLookup = s.Value
			}
		}
	}
}

// idents returns the column names read, in order of appearance, once each.
func (v *identVisitor) idents() []string {
	var out []string
	for _, n := range v.nodes {
		if !v.callees[n] && !v.declared[n.Value] && !contains(out, n.Value) {
			out = append(out, n.Value)
		}
	}
	return out
}

func identsOf(ps []*program) ([]string, bool) {
	seen := map[string]bool{}
	var out []string
	all := false
	for _, p := range ps {
		all = all || p.allEnv
		for _, id := range p.idents {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out, all
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func nonNil(ps ...*program) []*program {
	var out []*program
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n | ", " | ")
	return strings.ReplaceAll(s, "\n", " ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readLookup reads a lookup table from a CSV/XLSX file's key and value
// columns with the csv connector (encodings, BOMs, Excel files).
func (m *Mapper) readLookup(path string, lf LookupFile) (map[string]string, error) {
	if path == "" || lf.Key == "" || lf.Value == "" {
		return nil, errors.New("path, key and value are required")
	}
	b, err := m.readTableFile("lookup", path, lf.Encoding)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		if i == 0 {
			for _, col := range []string{lf.Key, lf.Value} {
				if _, ok := r.Get(col); !ok {
					return nil, fmt.Errorf("%s has no column %q (columns: %s)", path, col, strings.Join(r.Names, ", "))
				}
			}
		}
		k := strings.TrimSpace(r.String(lf.Key))
		if prev, dup := out[k]; dup && prev != r.String(lf.Value) {
			return nil, fmt.Errorf("%s: key %q appears twice with different values", r.Origin.Locator, k)
		}
		out[k] = r.String(lf.Value)
	}
	return out, nil
}

// TableReader reads the small files mapping needs (a department table, a
// lookup table) as a batch: all of it or an error. Mapping does no I/O of
// its own: the engine hands it the connectors' reader
// (connectors/csv.TableReader), with the settle and completeness rules of
// any source.
type TableReader interface {
	ReadTable(ctx context.Context, name, path, encoding string) (*connectors.Batch, error)
}

// errNoReader is what a mapping compiled without a TableReader says when
// its config names a file.
var errNoReader = errors.New("this mapping reads no files (no table reader was given)")

// readTableFile reads a table file through the mapping's reader; name is
// the origins' source.
func (m *Mapper) readTableFile(name, path, encoding string) (*connectors.Batch, error) {
	if m.cfg.Files == nil {
		return nil, errNoReader
	}
	return m.cfg.Files.ReadTable(context.Background(), name, path, encoding)
}

// DepartmentSource is the name of the source whose batch is the department
// table ("" when departments come from paths or a file). Map does not read
// that batch as people; the engine must pass it to Map with the others.
func (m *Mapper) DepartmentSource() string {
	if m.table == nil {
		return ""
	}
	return m.table.Source
}

// nilSafeMembers makes every member access nil-safe (a.b.c as a?.b?.c): a
// nested field an HR API leaves out, or a joined source with no record for
// the person, is nil, which ?? and coalesce turn into a fallback, rather
// than an error that rejects the record.
type nilSafeMembers struct{}

func (nilSafeMembers) Visit(node *ast.Node) {
	if m, ok := (*node).(*ast.MemberNode); ok && !m.Optional && !m.Method {
		// An optional member short-circuits to the end of its chain.
		m.Optional = true
		ast.Patch(node, &ast.ChainNode{Node: m})
	}
}
