package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeBlock decodes one of the blocks File keeps as a yaml.Node
// (schedule, server, log, notify) into v, strictly: every key no yaml tag
// of v's type names is a problem, reported with its line like the rest of
// the config. The known keys are decoded even when there are unknown ones,
// so the caller can validate them too and report everything at once. An
// absent block (zero node) leaves v as is. Errors are Problems.
func DecodeBlock(n *yaml.Node, block string, v any) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	var probs Problems
	for _, u := range UnknownKeys(n, reflect.TypeOf(v), block) {
		msg := fmt.Sprintf("line %d: %s.%s: unknown key (known: %s)", u.Line, u.Path, u.Key, strings.Join(u.Known, ", "))
		if c := closest(u.Key, u.Known); c != "" {
			msg += "; did you mean " + c + "?"
		}
		probs = append(probs, msg)
	}
	if err := n.Decode(v); err != nil {
		for _, m := range typeErrorMessages(err) {
			probs = append(probs, fmt.Sprintf("%s: %s", block, m))
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// JoinProblems merges errors into one Problems (nil when all are nil);
// a Problems contributes each of its entries.
func JoinProblems(errs ...error) error {
	var out Problems
	for _, err := range errs {
		var p Problems
		switch {
		case err == nil:
		case errors.As(err, &p):
			out = append(out, p...)
		default:
			out = append(out, err.Error())
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	nodeType        = reflect.TypeOf(yaml.Node{})
)

// typeErrorMessages words yaml.v3's decoding errors without Go type names
// ("line 3: `soon` is not a whole number").
func typeErrorMessages(err error) []string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []string{cleanYAMLErr(err)}
	}
	out := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if tm := typeErrRe.FindStringSubmatch(m); tm != nil {
			what := map[string]string{"str": "text", "int": "a number", "float": "a number", "bool": "true/false", "seq": "a list", "map": "a block of keys", "null": "nothing"}[tm[2]]
			if tm[3] != "" {
				what = "`" + tm[3] + "`"
			}
			m = fmt.Sprintf("line %s: %s is not %s", tm[1], what, goTypeInWords(tm[4]))
		}
		out = append(out, m)
	}
	return out
}

// UnknownKey is a key of a YAML mapping that no yaml tag of the Go type it
// decodes into names.
type UnknownKey struct {
	Line  int      // line of the key
	Path  string   // dotted path of the mapping holding the key
	Key   string   // the key itself
	Known []string // the keys that type accepts, in field order
}

// UnknownKeys walks n alongside t and reports every key of a mapping node
// that no yaml tag of the struct it decodes into names, at any depth (maps
// are walked value by value). A type that unmarshals itself
// (yaml.Unmarshaler) is not looked into. path names n in the reports.
// yaml.v3 has no strict mode for Node.Decode; this is what stands in for it,
// with the key's own line rather than one relative to a re-encoded block.
func UnknownKeys(n *yaml.Node, t reflect.Type, path string) []UnknownKey {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // decoded later by its owner, or by itself
	}
	if n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		var out []UnknownKey
		for i, item := range n.Content {
			out = append(out, UnknownKeys(item, t.Elem(), fmt.Sprintf("%s.%d", path, i))...)
		}
		return out
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		var out []UnknownKey
		for i := 0; i+1 < len(n.Content); i += 2 {
			out = append(out, UnknownKeys(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value)...)
		}
		return out
	case reflect.Struct:
	default:
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = f.Type
			names = append(names, name)
		}
	}
	var out []UnknownKey
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			out = append(out, UnknownKey{Line: k.Line, Path: path, Key: k.Value, Known: names})
			continue
		}
		out = append(out, UnknownKeys(n.Content[i+1], ft, path+"."+k.Value)...)
	}
	return out
}
