package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file turns what yaml.v3 says into what an admin can act on: a syntax
// error at the line where it is (yaml.v3 often names the line where the
// enclosing block began), the rest of the file still checked; every unknown
// key with the key that was probably meant; type mismatches in words, not Go
// type names.

var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError locates a YAML syntax error: the first line whose prefix of
// the document fails with the same complaint is where it is. A prefix that
// fails only because it cuts a multi-line value in two complains of
// something else and is passed over.
func syntaxError(b []byte, err error) (line int, msg string) {
	m := yamlLineRe.FindStringSubmatch(strings.TrimPrefix(err.Error(), "yaml: "))
	if m == nil {
		return 0, cleanYAMLErr(err)
	}
	line, _ = strconv.Atoi(m[1])
	msg = m[2]
	lines := bytes.SplitAfter(b, []byte("\n"))
	for k := 1; k <= len(lines) && k < 5000; k++ {
		var n yaml.Node
		perr := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if perr == nil {
			continue
		}
		if pm := yamlLineRe.FindStringSubmatch(strings.TrimPrefix(perr.Error(), "yaml: ")); pm != nil && pm[2] == msg {
			return k, msg
		}
	}
	return line, msg
}

// syntaxHint explains the usual cause of yaml.v3's terser complaints.
func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "did not find expected key"), strings.Contains(msg, "did not find expected '-' indicator"),
		strings.Contains(msg, "mapping values are not allowed in this context"):
		return msg + " (is this line indented like the keys it belongs with?)"
	case strings.Contains(msg, "found a tab character"):
		return msg + " (indent with spaces, not tabs)"
	case strings.Contains(msg, "did not find expected ',' or ']'"), strings.Contains(msg, "did not find expected ',' or '}'"):
		return msg + " (an unclosed [ or {?)"
	}
	return msg
}

// recoverSyntax reports the syntax errors of b, each at its line, and
// returns b with the top-level block holding each error commented out
// (line numbers kept), so that the rest can still be decoded and checked.
// skipped lists those blocks' keys.
func recoverSyntax(b []byte, name string) (rest []byte, probs Problems, skipped []string) {
	rest = b
	for range 10 {
		var n yaml.Node
		err := yaml.Unmarshal(rest, &n)
		if err == nil {
			return rest, probs, skipped
		}
		line, msg := syntaxError(rest, err)
		if line == 0 {
			return nil, append(probs, fmt.Sprintf("%s: %s", name, msg)), skipped
		}
		lines := bytes.SplitAfter(rest, []byte("\n"))
		start, end := topLevelBlock(lines, line-1)
		key := topLevelKey(lines, start)
		where := fmt.Sprintf("%s:%d", name, line)
		if key != "" {
			probs = append(probs, fmt.Sprintf("%s: %s: YAML syntax: %s; the rest of %s was not checked", where, key, syntaxHint(msg), key))
			skipped = append(skipped, key)
		} else {
			probs = append(probs, fmt.Sprintf("%s: YAML syntax: %s", where, syntaxHint(msg)))
		}
		if start < 0 {
			return nil, probs, skipped
		}
		out := make([][]byte, len(lines))
		for i, l := range lines {
			out[i] = l
			if i >= start && i < end {
				out[i] = []byte("#\n")
			}
		}
		next := bytes.Join(out, nil)
		if bytes.Equal(next, rest) {
			return nil, probs, skipped
		}
		rest = next
	}
	return nil, probs, skipped
}

// topLevelBlock returns the lines [start, end) of the top-level key whose
// block holds line i (0-based); start is -1 when there is none.
func topLevelBlock(lines [][]byte, i int) (start, end int) {
	isTop := func(l []byte) bool {
		return len(l) > 0 && l[0] != ' ' && l[0] != '\t' && l[0] != '#' && l[0] != '\n' && l[0] != '\r' && l[0] != '-'
	}
	if i >= len(lines) {
		i = len(lines) - 1
	}
	start = -1
	for j := i; j >= 0; j-- {
		if isTop(lines[j]) {
			start = j
			break
		}
	}
	if start < 0 {
		return -1, 0
	}
	end = len(lines)
	for j := max(i, start) + 1; j < len(lines); j++ {
		if isTop(lines[j]) {
			end = j
			break
		}
	}
	return start, end
}

func topLevelKey(lines [][]byte, start int) string {
	if start < 0 {
		return ""
	}
	k, _, ok := strings.Cut(string(lines[start]), ":")
	if !ok {
		return ""
	}
	return strings.TrimSpace(k)
}

// unknownKeyMessage says which key is unknown and which one was probably
// meant; with no close match it lists the known ones.
func unknownKeyMessage(u UnknownKey) string {
	path := strings.TrimPrefix(u.Path+"."+u.Key, ".")
	if c := closest(u.Key, u.Known); c != "" {
		return fmt.Sprintf("%s: unknown key; did you mean %s?", path, c)
	}
	return fmt.Sprintf("%s: unknown key (known: %s)", path, strings.Join(u.Known, ", "))
}

// closest is the known key within a small edit distance of key (a typo, a
// missing plural s, a dash for an underscore), or "".
func closest(key string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		d := editDistance(strings.ToLower(strings.ReplaceAll(key, "-", "_")), k)
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := max(2, len([]rune(key))/3)
	if bestD <= limit && bestD < len([]rune(key)) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

var typeErrRe = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// typeProblems rewrites yaml.v3's type errors ("line 14: cannot unmarshal
// !!str `abc` into int") as "orgsync.yaml:14: key.path: `abc` is not a whole
// number", naming the key; other errors are kept, cleaned. lines collects
// the lines reported, so that later checks of the same values are not
// reported twice.
func typeProblems(err error, root *yaml.Node, name string, lines map[int]bool) Problems {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{cleanYAMLErr(err)}
	}
	var out Problems
	for _, m := range msgs {
		tm := typeErrRe.FindStringSubmatch(m)
		if tm == nil {
			if lm := yamlLineRe.FindStringSubmatch(m); lm != nil {
				line, _ := strconv.Atoi(lm[1])
				lines[line] = true
				loc := fmt.Sprintf("%s:%d", name, line)
				if p := pathAtLine(root, line, ""); p != "" {
					loc += ": " + p
				}
				out = append(out, fmt.Sprintf("%s: %s", loc, lm[2]))
				continue
			}
			out = append(out, fmt.Sprintf("%s: %s", name, m))
			continue
		}
		line, _ := strconv.Atoi(tm[1])
		lines[line] = true
		got := map[string]string{"str": "text", "int": "a number", "float": "a number", "bool": "true/false", "seq": "a list", "map": "a block of keys", "null": "nothing"}[tm[2]]
		what := got
		if tm[3] != "" {
			what = "`" + tm[3] + "`"
		}
		loc := fmt.Sprintf("%s:%d", name, line)
		value := tm[3]
		switch {
		case value != "":
		case tm[2] == "seq":
			value = kindSeq
		case tm[2] == "map":
			value = kindMap
		}
		if p := pathAtLine(root, line, value); p != "" {
			loc += ": " + p
		}
		out = append(out, fmt.Sprintf("%s: %s is not %s", loc, what, goTypeInWords(tm[4])))
	}
	return out
}

// goTypeInWords names what a Go type expects, for admins.
func goTypeInWords(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a block of keys (key: value)"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string", t == "config.Secret":
		return "a text value"
	case t == "time.Duration", t == "config.Duration":
		return "a duration (like 30s, 15m, 720h or 30d)"
	default:
		return "a block of keys (key: value)"
	}
}

// pathAtLine is the dotted key path of the deepest value on line (of one
// equal to value, when given and there is one), or "".
func pathAtLine(root *yaml.Node, line int, value string) string {
	var best, bestValued string
	consider := func(p string, v *yaml.Node) {
		if v.Line != line {
			return
		}
		if len(p) > len(best) {
			best = p
		}
		match := value != "" && v.Value == value
		switch value {
		case kindSeq:
			match = v.Kind == yaml.SequenceNode
		case kindMap:
			match = v.Kind == yaml.MappingNode
		}
		if match && (bestValued == "" || (value != kindSeq && value != kindMap && len(p) > len(bestValued))) {
			bestValued = p
		}
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := strings.TrimPrefix(path+"."+k.Value, ".")
				consider(p, v)
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := strings.TrimPrefix(fmt.Sprintf("%s.%d", path, i), ".")
				if c.Kind == yaml.ScalarNode {
					consider(p, c)
				}
				walk(c, p)
			}
		}
	}
	walk(root, "")
	if bestValued != "" {
		return bestValued
	}
	return best
}

var fileType = reflect.TypeOf(File{})

// pathAtLine's value for "the list" and "the block" on a line.
const (
	kindSeq = "\x00seq"
	kindMap = "\x00map"
)

var problemLineRe = regexp.MustCompile(`^[^:\s]*:(\d+): `)

// SortByLine orders problems by their line, those without one first, so
// that a report reads top to bottom like the file.
func SortByLine(p Problems) {
	line := func(s string) int {
		if m := problemLineRe.FindStringSubmatch(s); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		return 0
	}
	sort.SliceStable(p, func(i, j int) bool { return line(p[i]) < line(p[j]) })
}

var (
	hasLocationRe = regexp.MustCompile(`\.ya?ml:\d+|\bline \d+\b`)
	keyPathRe     = regexp.MustCompile(`^(?:([a-z_]+): )?((?:sources|mapping|target|policy|state|schedule|server|log|notify|join)(?:\.[^\s:.]+)*): `)
)

// Locate prefixes a problem that names a key path but no line (as the
// engine's and the mapping's checks of a decoded config do, e.g. "mapping:
// mapping.key: required") with the file and the line of that key, or of
// the closest enclosing key that is there: "orgsync.yaml:5: mapping.key:
// required". Other problems are returned as they are.
func (f *File) Locate(problem string) string {
	if f == nil || f.root == nil || hasLocationRe.MatchString(problem) {
		return problem
	}
	m := keyPathRe.FindStringSubmatch(problem)
	if m == nil {
		return problem
	}
	path := m[2]
	line := keyLine(f.root, strings.Split(path, "."))
	if line == 0 {
		return problem
	}
	rest := problem
	if m[1] != "" && strings.HasPrefix(path, m[1]) {
		rest = strings.TrimPrefix(problem, m[1]+": ") // "mapping: mapping.key: …" says mapping once
	}
	return fmt.Sprintf("%s:%d: %s", f.name, line, rest)
}

// keyLine is the line of the deepest key of path that the document has.
func keyLine(root *yaml.Node, path []string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, k := range path {
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
			if next == nil {
				return line
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// LocateAll applies Locate to every problem of err (a Problems or not).
func (f *File) LocateAll(err error) error {
	if err == nil {
		return nil
	}
	var p Problems
	if !errors.As(err, &p) {
		if s := f.Locate(err.Error()); s != err.Error() {
			return Problems{s}
		}
		return err
	}
	out := make(Problems, len(p))
	for i, s := range p {
		out[i] = f.Locate(s)
	}
	return out
}
