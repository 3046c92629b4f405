// Package mapping turns raw source records into the desired directory
// (model.Org) through rules the admin writes in YAML: expr-lang expressions
// over a record's fields, compiled once per run. Every record it cannot use
// becomes a RecordError that names the origin, field, value and rule; such a
// record is left out of the Org, and the engine protects its WeCom member
// (a rejected row is never "this person left").
package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/internal/config"
)

// Rule is one expression with the YAML position it was written at, so that
// compile errors can point at the config line.
type Rule struct {
	Expr   string
	Line   int
	Column int
}

// UnmarshalYAML keeps the scalar's text and position. `enabled: true` and
// `order: 3` are expressions too.
func (r *Rule) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a rule is one expression (a string), not a %s", n.Line, kindName(n.Kind))
	}
	r.Expr, r.Line, r.Column = n.Value, n.Line, n.Column
	return nil
}

// MarshalYAML writes the expression back.
func (r Rule) MarshalYAML() (any, error) { return r.Expr, nil }

// IsZero reports an unset rule.
func (r Rule) IsZero() bool { return strings.TrimSpace(r.Expr) == "" }

func (r Rule) at() string {
	if r.Line == 0 {
		return ""
	}
	return fmt.Sprintf(" (line %d)", r.Line)
}

// Config is the `mapping:` block.
//
//	mapping:
//	  key: 工号
//	  user:
//	    userid: lower(工号)
//	    name: trim(姓名)
//	    department: 部门            # path below the managed root, or a code (departments.from: table)
//	    position: 职位
//	    mobile: 手机
//	    email: lower(邮箱)
//	    gender: 性别                # 男/女/M/F/male/female/1/2 → "1"/"2"
//	    enabled: 状态 != "离职"
//	    direct_leader: 直属上级工号  # source key(s) of the leader; one not found is dropped with a warning
//	    extattr: {工号: 工号}
//	  departments:
//	    from: path                  # or table
//	    separator: /
//	  mobile_region: CN
//	  department_name_replace: ""   # "" = a forbidden character is an error
//	  lookups: {城市: {bj: 北京}}
//	  exclude: 类型 == "外包" || 工号 startsWith "SVC"   # out of scope on purpose
//	  include: 状态 != "实习"                           # (either or both)
type Config struct {
	// Line is the mapping block's line in the config file (a rule that is
	// missing altogether is reported there).
	Line int  `yaml:"-"`
	Key  Rule `yaml:"key"`
	// Include and Exclude leave records out of scope on purpose
	// (contractors, service accounts, interns), as GCDS exclusion rules
	// do: a record is in scope when include (if set) is true and exclude
	// (if set) is not. An excluded record is neither mapped nor rejected:
	// its managed member is a leaver (the change-volume guards apply), and
	// plan and explain say "excluded by rule …". Each rule must give a
	// yes/no value; one that fails, gives something else, or (include
	// only) gives an empty value rejects the record, so it is protected
	// rather than guessed out of scope. An empty exclude value is "no".
	Include     Rule        `yaml:"include"`
	Exclude     Rule        `yaml:"exclude"`
	User        UserRules   `yaml:"user"`
	Departments Departments `yaml:"departments"`
	// MobileRegion is the region of mobiles written without a country code
	// (default CN); also e164's default.
	MobileRegion string `yaml:"mobile_region"`
	// DepartmentNameReplace replaces each of WeCom's forbidden department
	// name characters \:*?"<>| ; empty means such a name is an error.
	DepartmentNameReplace string `yaml:"department_name_replace"`
	// Lookups are tables for lookup(table, key[, default]).
	Lookups map[string]map[string]string `yaml:"lookups"`
	// LookupFiles are lookup tables read from small CSV/XLSX files at
	// Compile time.
	LookupFiles map[string]LookupFile `yaml:"lookup_files"`

	// BaseDir resolves relative file paths (the config file's directory).
	BaseDir string `yaml:"-"`
	// Files reads the department and lookup table files the config names
	// (nil: a config that names one fails to compile or map).
	Files TableReader `yaml:"-"`
	// Join is the config's top-level `join:` block (nil: several sources
	// are a union of records). See join.go.
	Join *config.JoinSpec `yaml:"-"`
}

// UserRules map a record to a WeCom member's fields. Unset rules leave the
// field empty (enabled: true).
type UserRules struct {
	UserID         Rule            `yaml:"userid"`
	Name           Rule            `yaml:"name"`
	Department     Rule            `yaml:"department"` // string or list: paths (or codes)
	MainDepartment Rule            `yaml:"main_department"`
	Position       Rule            `yaml:"position"`
	Mobile         Rule            `yaml:"mobile"`
	Email          Rule            `yaml:"email"`
	BizMail        Rule            `yaml:"biz_mail"`
	Alias          Rule            `yaml:"alias"`
	Telephone      Rule            `yaml:"telephone"`
	Gender         Rule            `yaml:"gender"`
	Enabled        Rule            `yaml:"enabled"`
	DirectLeader   Rule            `yaml:"direct_leader"` // source key(s) of the leader(s); also matched ignoring case, then as userids
	LeaderOf       Rule            `yaml:"leader_of"`     // department(s) the person heads
	IsLeader       Rule            `yaml:"is_leader"`     // true: heads every one of their departments
	ExtAttr        map[string]Rule `yaml:"extattr"`       // attribute name → rule (text attributes)
}

// Departments says where the department tree comes from.
type Departments struct {
	// From is "path" (default: every prefix of a person's department path is
	// a department, keyed by its path) or "table" (a department table keyed
	// by org code, so a renamed department stays the same department).
	From string `yaml:"from"`
	// Separator splits a department path (default "/").
	Separator string `yaml:"separator"`
	// MultiSeparator, when set, splits one value into several departments
	// ("总部/研发;总部/销售" with ";").
	MultiSeparator string `yaml:"multi_separator"`
	// RootDepth is the WeCom level of the managed root (1 = the corp root);
	// root_depth + path length must stay within WeCom's 15 levels.
	RootDepth int              `yaml:"root_depth"`
	Table     *DepartmentTable `yaml:"table"`
}

// DepartmentTable reads departments from the records of another source, a
// file, or rows written in the config, with rules like the user's.
type DepartmentTable struct {
	Source   string             `yaml:"source"`   // name of a configured source whose batch is the table
	File     string             `yaml:"file"`     // or a CSV/XLSX file read on every Map
	Encoding string             `yaml:"encoding"` // of File; default auto
	Inline   []InlineDepartment `yaml:"inline"`   // or the rows themselves
	Code     Rule               `yaml:"code"`
	Name     Rule               `yaml:"name"`
	Parent   Rule               `yaml:"parent"` // parent code; "" or Root = top level below the managed root
	Order    Rule               `yaml:"order"`
	Root     string             `yaml:"root"`
	// FileLine is File's line in the config file, for errors about it.
	FileLine int `yaml:"-"`
}

// InlineDepartment is one row of a department table written in the config.
// Its fields are the columns code, name, parent and order, which the
// table's rules default to.
type InlineDepartment struct {
	Code   string `yaml:"code"`
	Name   string `yaml:"name"`
	Parent string `yaml:"parent"`
	Order  string `yaml:"order"`
}

var inlineColumns = []string{"code", "name", "parent", "order"}

// LookupFile is a lookup table read from a file's Key and Value columns.
type LookupFile struct {
	Path     string `yaml:"path"`
	Key      string `yaml:"key"`
	Value    string `yaml:"value"`
	Encoding string `yaml:"encoding"`
}

// Decode decodes a `mapping:` node strictly: an unknown key is an error
// naming its path and line. Rules keep their lines (the node is decoded
// directly, not re-encoded).
func Decode(node *yaml.Node) (Config, error) {
	var cfg Config
	if node == nil || node.Kind == 0 {
		return cfg, errors.New("mapping: missing")
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) > 0 {
		node = node.Content[0]
	}
	if unknown := config.UnknownKeys(node, reflect.TypeOf(cfg), "mapping"); len(unknown) > 0 {
		errs := make([]error, len(unknown))
		for i, u := range unknown {
			errs[i] = fmt.Errorf("%s.%s (line %d): unknown field", u.Path, u.Key, u.Line)
		}
		return cfg, errors.Join(errs...)
	}
	if err := node.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("mapping: %w", err)
	}
	if cfg.Departments.Table != nil {
		cfg.Departments.Table.FileLine = valueLine(node, "departments", "table", "file")
	}
	return cfg, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

// valueLine is the line of the value at a path of keys below n (0 if
// there is none).
func valueLine(n *yaml.Node, path ...string) int {
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return n.Line
}
