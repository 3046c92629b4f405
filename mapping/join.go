package mapping

import (
	"fmt"
	"math/bits"
	"reflect"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
)

// Joining several sources (the top-level `join:` block, config.JoinSpec).
//
// With a join, mapping sees one merged record per record of the primary
// source. Each joined source's fields are under its name: hr.工号, ad.mail,
// ad["given name"]. A source with no record for the person is nil (ad ==
// nil), and so is each of its fields; a blank value (an empty cell, an
// unset attribute, an empty list) is nil too, so `ad.mail ?? hr.邮箱` and
// coalesce(ad.mail, hr.邮箱) take HR's address when AD has none.
//
// Who exists is decided by the primary alone:
//
//	primary record                        other source's records    result
//	hr E1                                 ad E1                     one person, hr.* and ad.* set
//	hr E2                                 (none)                    one person, ad == nil
//	(none)                                ad E9                     nobody; a warning names ad's record: not created
//	hr E3, hr e3 (same key, any case)     …                         both rejected (protected)
//	hr E4                                 ad E4, ad E4              hr E4 rejected: which ad record is right is unknown
//	hr with an empty or failing key       …                         rejected (its identifiers kept)
//	…                                     ad with an empty key      a warning: ignored
//	hr E5, and ad failed or incomplete    (E5 not read)             rejected: ad's part is unknown, so the member is left as is
//
// Join keys compare after trimming white space and ignoring case (E123
// joins e123), as WeCom compares userids.
//
// A source that failed (no batch) or was not read completely (incomplete,
// or, as the engine judges, shrunk or re-headed) never makes a
// person lose the fields it gives: every primary record it does not match
// is rejected (so protected, left exactly as it is in WeCom) when any user
// rule reads that source, while the engine holds every disable and delete
// of the run for the source problem. Mapping such a record without the
// source instead would clear or change what the source gives (an email, the
// userid of a new hire) on the strength of a read that failed.

// maxJoinSources bounds a join (field provenance is a 16-bit set).
const maxJoinSources = 16

// joinSpec is a compiled join.
type joinSpec struct {
	primary int      // index in sources (always 0)
	sources []string // primary first, then the others as written
	index   map[string]int
	on      []*program // per source: the join-key rule over its own columns
}

// nsPatch rewrites a field of a joined source (hr.工号, hr["工号"]) into one
// identifier, "hr.工号", a column of the merged record. Everything that
// works on columns (the column fast path, missing-column checks, Probe,
// Compile's dry run) then works on joined fields unchanged.
type nsPatch struct{ ns map[string]int }

func (p nsPatch) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if _, ok := p.ns[id.Value]; !ok {
		return
	}
	s, ok := m.Property.(*ast.StringNode)
	if !ok {
		return // hr[expr]: reads the bare namespace, a map of the whole record
	}
	ast.Patch(node, &ast.IdentifierNode{Value: id.Value + "." + s.Value})
}

// compileJoin checks the join's sources against the functions and compiles
// every join-key rule.
func (m *Mapper) compileJoin(j *config.JoinSpec, compile func(name string, r Rule, required bool) *program, bad func(string, ...any)) {
	js := &joinSpec{index: map[string]int{}}
	add := func(name string) {
		if _, dup := js.index[name]; !dup {
			js.index[name] = len(js.sources)
			js.sources = append(js.sources, name)
		}
	}
	add(j.Primary)
	for _, k := range j.On {
		add(k.Source)
	}
	if len(js.sources) > maxJoinSources {
		bad("join.on: %d sources, at most %d can be joined", len(js.sources), maxJoinSources)
	}
	fnames := map[string]bool{}
	for _, f := range functions(m.fenv) {
		fnames[f.name] = true
	}
	for _, s := range js.sources {
		if fnames[s] || s == "$env" {
			bad("join.on.%s: the source name %q is also a function's name: rename the source", s, s)
		}
	}
	js.on = make([]*program, len(js.sources))
	for i, s := range js.sources {
		k, ok := j.On.Key(s)
		if !ok {
			bad("join.on: no key for the primary source %q", s)
			continue
		}
		js.on[i] = compile("join.on."+s, Rule{Expr: k.Expr, Line: k.Line, Column: k.Column}, true)
	}
	m.join = js
}

// checkJoinIdents refuses, under a join, a rule reading a bare column: a
// field must be named by its source.
func (m *Mapper) checkJoinIdents(p *program) error {
	for _, id := range p.idents {
		ns, _, _ := strings.Cut(id, ".")
		if _, ok := m.join.index[ns]; ok {
			continue
		}
		var alts []string
		for _, s := range m.join.sources {
			alts = append(alts, s+"."+id)
		}
		return fmt.Errorf("%s%s: %s: %s is not a field of a joined source: with join, name each field by its source (%s)",
			ruleRef(p.name), p.rule.at(), p.rule.Expr, id, strings.Join(alts, " or "))
	}
	return nil
}

// nsOf splits a merged-record column into its source index and column
// ("" for the bare namespace); ok is false for a name of no joined source.
func (js *joinSpec) nsOf(id string) (int, string, bool) {
	ns, col, dotted := strings.Cut(id, ".")
	i, ok := js.index[ns]
	if !ok {
		return 0, "", false
	}
	if !dotted {
		return i, "", true
	}
	return i, col, true
}

// traceInfo is what field provenance needs of one user rule.
type traceInfo struct {
	p      *program
	field  string     // "userid", "extattr.工号"
	reads  uint16     // sources the rule reads
	idents [][]string // per source index: the merged columns of it the rule reads
}

func (m *Mapper) buildTraces() {
	for _, p := range m.userPrograms {
		if p == m.include || p == m.exclude {
			continue
		}
		t := traceInfo{p: p, field: strings.TrimPrefix(p.name, "user."), idents: make([][]string, len(m.join.sources))}
		for _, id := range p.idents {
			if s, _, ok := m.join.nsOf(id); ok {
				t.reads |= 1 << s
				t.idents[s] = append(t.idents[s], id)
			}
		}
		if p.allEnv {
			t.reads = 1<<len(m.join.sources) - 1
		}
		m.traces = append(m.traces, t)
	}
}

// srcView is one joined source in one Map: its batch (nil when it failed),
// its columns, and its records' join keys.
type srcView struct {
	name       string
	batch      *connectors.Batch
	incomplete bool
	cols       map[string]bool
	colList    []string
	header     []string       // the Names its first record has (usually every record's)
	keys       []string       // per record: folded join key ("" when none)
	raw        []string       // per record: the key as the rule gave it, trimmed
	first      map[string]int // folded key → first record
	dups       map[string][]int
	matched    []bool
}

// joinRun is the join of one Map's batches.
type joinRun struct {
	m       *Mapper
	views   []*srcView
	merged  []connectors.Record // one per primary record; Values filled just before mapping
	names   []string            // the merged records' columns
	slots   []slot              // how to fill each of names
	match   []int32             // len(primary) × len(sources): record index, -1 none
	pre     [][]joinErr         // per primary record: problems found by the join
	warns   []Warning           // records of other sources that join no one
	unknown uint16              // sources failed or incomplete that the user rules read
}

type slot struct {
	src  int
	col  string // "" = the bare namespace: a map of the record
	bare bool
	pos  int // position of col in the source's usual header (srcView.header), -1 none
}

type joinErr struct {
	value, msg string
	p          *program
}

// joinBatches matches every record of the joined sources to the primary's.
// Batches of sources outside the join are ignored (the engine refuses such
// a config); the department table's batch is not passed here.
func (m *Mapper) joinBatches(batches []*connectors.Batch) *joinRun {
	js := m.join
	jr := &joinRun{m: m, views: make([]*srcView, len(js.sources))}
	for i, s := range js.sources {
		jr.views[i] = &srcView{name: s}
	}
	for _, b := range batches {
		if b == nil {
			continue
		}
		if i, ok := js.index[b.Source]; ok && jr.views[i].batch == nil {
			jr.views[i].batch = b
		}
	}
	for i, v := range jr.views {
		v.cols = map[string]bool{}
		if v.batch != nil {
			v.incomplete = !v.batch.Complete
			seen := map[*string]bool{}
			addCols := func(names []string) {
				for _, c := range names {
					if !v.cols[c] {
						v.cols[c] = true
						v.colList = append(v.colList, c)
					}
				}
			}
			addCols(v.batch.Columns)
			if len(v.batch.Records) > 0 {
				v.header = v.batch.Records[0].Names
			}
			for r := range v.batch.Records {
				if ns := v.batch.Records[r].Names; len(ns) > 0 && !seen[&ns[0]] {
					seen[&ns[0]] = true
					addCols(ns)
				}
			}
		}
		if v.batch == nil || v.incomplete {
			for _, id := range m.userIdents {
				if s, _, ok := js.nsOf(id); ok && s == i {
					jr.unknown |= 1 << i
				}
			}
			if m.userAllEnv {
				jr.unknown |= 1 << i
			}
		}
		m.joinKeys(v, js.on[i])
	}
	jr.layout()

	prim := jr.views[0]
	var precs []connectors.Record
	if prim.batch != nil {
		precs = prim.batch.Records
	}
	n, ns := len(precs), len(js.sources)
	jr.merged = make([]connectors.Record, n)
	jr.match = make([]int32, n*ns)
	jr.pre = make([][]joinErr, n)
	onP := js.on[0]
	for i := range precs {
		jr.merged[i] = connectors.Record{Origin: precs[i].Origin, Names: jr.names}
		row := jr.match[i*ns : (i+1)*ns]
		row[0] = int32(i)
		k := prim.keys[i]
		switch {
		case prim.keyErr(i) != "":
			jr.pre[i] = append(jr.pre[i], joinErr{value: prim.raw[i], msg: prim.keyErr(i), p: onP})
		case prim.dups[k] != nil:
			jr.pre[i] = append(jr.pre[i], joinErr{value: prim.raw[i], p: onP,
				msg: fmt.Sprintf("duplicate join key: every %s record with it is rejected (%s)", prim.name, recList(prim.batch, prim.dups[k]))})
			// Joined to nothing (which of them an other record belongs to
			// is unknown), and those records are not "joined by no one".
			for s := 1; s < ns; s++ {
				row[s] = -1
				v := jr.views[s]
				if j, ok := v.first[k]; ok {
					v.matched[j] = true
					for _, d := range v.dups[k] {
						v.matched[d] = true
					}
				}
			}
			continue
		}
		for s := 1; s < ns; s++ {
			v := jr.views[s]
			row[s] = -1
			if k == "" {
				if jr.unknown&(1<<s) != 0 && len(jr.pre[i]) == 0 {
					jr.pre[i] = append(jr.pre[i], joinErr{msg: v.unknownMsg()})
				}
				continue
			}
			j, ok := v.first[k]
			switch {
			case ok && v.dups[k] != nil:
				for _, d := range v.dups[k] {
					v.matched[d] = true
				}
				jr.pre[i] = append(jr.pre[i], joinErr{value: prim.raw[i], p: js.on[s], msg: fmt.Sprintf(
					"%s has %d records with this join key (%s): which is this person's can't be told, so the person is left as is",
					v.name, len(v.dups[k]), recList(v.batch, v.dups[k]))})
			case ok:
				v.matched[j] = true
				row[s] = int32(j)
			case jr.unknown&(1<<s) != 0:
				jr.pre[i] = append(jr.pre[i], joinErr{value: prim.raw[i], msg: v.unknownMsg()})
			}
		}
	}
	for s := 1; s < ns; s++ {
		v := jr.views[s]
		if v.batch == nil || prim.batch == nil {
			continue // with no primary read, "joins no one" would say nothing true
		}
		for r := range v.batch.Records {
			rec := &v.batch.Records[r]
			w := Warning{Origin: rec.Origin, Field: "join_key", Value: clip(v.raw[r])}
			if js.on[s] != nil {
				w.Rule = js.on[s].rule.Expr
			}
			switch {
			case v.keyErr(r) != "":
				w.Msg = v.keyErr(r) + ": the record joins no one and is ignored"
			case !v.matched[r]:
				w.Msg = fmt.Sprintf("no %s record has this join key: not created (who exists is decided by %s)", prim.name, prim.name)
			default:
				continue
			}
			jr.warns = append(jr.warns, w)
		}
	}
	return jr
}

func (v *srcView) unknownMsg() string {
	if v.batch == nil {
		return fmt.Sprintf("the joined source %s could not be read, so this person's %s record is unknown: left as is until %s is read again", v.name, v.name, v.name)
	}
	return fmt.Sprintf("the joined source %s was not read completely (see its source problem) and has no record with this join key: left as is until %s is read completely", v.name, v.name)
}

// keyErr is why record i has no join key ("" when it has one).
func (v *srcView) keyErr(i int) string {
	if v.keys[i] != "" {
		return ""
	}
	if strings.HasPrefix(v.raw[i], "\x00") {
		return v.raw[i][1:]
	}
	return "empty join key"
}

// joinKeys evaluates a source's join-key rule on each of its records and
// indexes the keys (folded: trimmed, lower case). A record whose rule fails
// keeps "\x00"+the error as its raw key (see keyErr).
func (m *Mapper) joinKeys(v *srcView, p *program) {
	if v.batch == nil || p == nil {
		v.first = map[string]int{}
		return
	}
	recs := v.batch.Records
	v.keys, v.raw, v.matched = make([]string, len(recs)), make([]string, len(recs)), make([]bool, len(recs))
	v.first, v.dups = make(map[string]int, len(recs)), map[string][]int{}
	ev := m.newEvaluator(p.idents, p.allEnv)
	for i := range recs {
		ev.load(&recs[i])
		s, err := ev.str(p)
		if err != nil {
			v.raw[i] = "\x00" + problemText(model.Origin{}, "join_key", err.value, err.msg, "")
			continue
		}
		s = strings.TrimSpace(s)
		v.raw[i] = s
		if s == "" {
			continue
		}
		k := strings.ToLower(s)
		v.keys[i] = k
		if j, dup := v.first[k]; !dup {
			v.first[k] = i
		} else if v.dups[k] == nil {
			v.dups[k] = []int{j, i}
		} else {
			v.dups[k] = append(v.dups[k], i)
		}
	}
}

// layout decides the merged records' columns: the joined fields the user
// rules read (all fields when a rule uses $env), and a source's bare name
// when a rule reads the whole record (hr[x], ad == nil). A field a read
// source lacks is left out, so a rule reading it fails with "no column",
// as without a join; a field of a source that failed is kept (nil).
func (jr *joinRun) layout() {
	js := jr.m.join
	add := func(src int, col string) {
		name := js.sources[src]
		if col != "" {
			name += "." + col
		}
		pos := -1
		for i, n := range jr.views[src].header {
			if n == col {
				pos = i
				break
			}
		}
		jr.names = append(jr.names, name)
		jr.slots = append(jr.slots, slot{src: src, col: col, bare: col == "", pos: pos})
	}
	if jr.m.userAllEnv {
		for i, v := range jr.views {
			for _, c := range v.colList {
				add(i, c)
			}
		}
	}
	for _, id := range jr.m.userIdents {
		s, col, ok := js.nsOf(id)
		if !ok || (jr.m.userAllEnv && col != "" && jr.views[s].cols[col]) {
			continue
		}
		if v := jr.views[s]; col != "" && v.batch != nil && len(v.colList) > 0 && !v.cols[col] {
			continue
		}
		add(s, col)
	}
}

// fill sets merged record i's values (into buf, reused by the caller) and
// the row's join problems, and returns which sources it has records of.
func (jr *joinRun) fill(i int, buf *[]any) uint16 {
	ns := len(jr.views)
	row := jr.match[i*ns : (i+1)*ns]
	vals := (*buf)[:0]
	for _, sl := range jr.slots {
		j := row[sl.src]
		if j < 0 {
			vals = append(vals, nil)
			continue
		}
		rec := &jr.views[sl.src].batch.Records[j]
		if sl.bare {
			mm := make(map[string]any, len(rec.Names))
			for c, n := range rec.Names {
				if c < rec.Len() {
					if v := rec.Value(c); !blank(v) {
						mm[n] = v
					}
				}
			}
			vals = append(vals, mm)
			continue
		}
		var v any
		if h := jr.views[sl.src].header; sl.pos >= 0 && sameSlice(rec.Names, h) {
			if sl.pos < rec.Len() {
				v = rec.Value(sl.pos)
			}
		} else {
			v, _ = rec.Get(sl.col)
		}
		if blank(v) {
			v = nil
		}
		vals = append(vals, v)
	}
	*buf = vals
	jr.merged[i].Values = vals
	var present uint16
	for s, j := range row {
		if j >= 0 {
			present |= 1 << s
		}
	}
	return present
}

// origins are the records person i was joined from, per source.
func (jr *joinRun) origins(i int) []model.Origin {
	ns := len(jr.views)
	out := make([]model.Origin, ns)
	for s, j := range jr.match[i*ns : (i+1)*ns] {
		if j >= 0 {
			out[s] = jr.views[s].batch.Records[j].Origin
		}
	}
	return out
}

// trace works out, for a mapped row, which source each field came from.
// The sources a rule could have taken something from are the present ones
// whose fields it reads are not all nil (removing any other changes
// nothing). One such source gave the value; of several, each whose removal
// (its record treated as absent, as for a person it has no record of)
// changes the result decided it.
func (m *Mapper) trace(ev *evaluator, r *row) {
	n := len(m.traces)
	both := make([]uint16, 2*n)
	x := r.more()
	x.from, x.read = both[:n:n], both[n:]
	for k, t := range m.traces {
		var live uint16
		for s, ids := range t.idents {
			if x.present&(1<<s) == 0 {
				continue
			}
			if t.p.allEnv {
				live |= 1 << s
				continue
			}
			for _, id := range ids {
				if ev.env[id] != nil {
					live |= 1 << s
					break
				}
			}
		}
		x.read[k] = live
		if bits.OnesCount16(live) < 2 {
			x.from[k] = live
			continue
		}
		v0, e0 := ev.eval(t.p)
		for s := range m.join.sources {
			if live&(1<<s) == 0 {
				continue
			}
			ids := t.idents[s]
			if t.p.allEnv {
				ids = nil
				for _, n := range ev.names {
					if i, _, ok := m.join.nsOf(n); ok && i == s {
						ids = append(ids, n)
					}
				}
			}
			saved := ev.saved[:0]
			for _, id := range ids {
				saved = append(saved, ev.env[id])
				ev.env[id] = nil
			}
			v, e := ev.eval(t.p)
			for i, id := range ids {
				ev.env[id] = saved[i]
			}
			ev.saved = saved
			if (e == nil) != (e0 == nil) || (e == nil && !reflect.DeepEqual(v, v0)) || (e != nil && e.msg != e0.msg) {
				x.from[k] |= 1 << s
			}
		}
	}
}

// JoinTrace says, with a join, which source records each person was made
// of and which source each field came from; `orgsync explain` shows it.
type JoinTrace struct {
	Sources []string // primary first
	Fields  []string // mapped fields, the index of PersonTrace.From and Read
	Rules   []string // each field's rule
	Reads   []uint16 // each field's rule: the sources it reads
	People  map[string]*PersonTrace
}

// PersonTrace is one person's part of a JoinTrace.
type PersonTrace struct {
	JoinKey string
	Records []model.Origin // per source; zero: no record of that source joined
	From    []uint16       // per field: the sources that decided its value
	Read    []uint16       // per field: the sources with a value the rule reads
}

// Explain renders a person's trace, or nil for a key it does not know.
func (t *JoinTrace) Explain(key string) []string {
	if t == nil || t.People[key] == nil {
		return nil
	}
	pt := t.People[key]
	out := []string{fmt.Sprintf("joined on key %q (primary %s):", pt.JoinKey, t.Sources[0])}
	for s, o := range pt.Records {
		if o == (model.Origin{}) {
			out = append(out, fmt.Sprintf("  %s: no record with this join key: its fields are nil", t.Sources[s]))
		} else {
			out = append(out, fmt.Sprintf("  %s: record %s", t.Sources[s], o))
		}
	}
	var present uint16
	for s, o := range pt.Records {
		if o != (model.Origin{}) {
			present |= 1 << s
		}
	}
	names := func(set uint16) string {
		var l []string
		for s := range t.Sources {
			if set&(1<<s) != 0 {
				l = append(l, t.Sources[s])
			}
		}
		return strings.Join(l, ", ")
	}
	for f, field := range t.Fields {
		var from string
		switch {
		case pt.From[f] != 0:
			from = "from " + names(pt.From[f])
		case pt.Read[f] != 0:
			from = "from " + strings.ReplaceAll(names(pt.Read[f]), ", ", " or ") + " (the same value either way)"
		case t.Reads[f]&present != 0:
			from = "no value in " + strings.ReplaceAll(names(t.Reads[f]&present), ", ", " or ")
		default:
			from = "from no source record (the rule's value without them)"
		}
		out = append(out, fmt.Sprintf("  %s: %s (rule %s)", field, from, t.Rules[f]))
	}
	return out
}

func recList(b *connectors.Batch, idx []int) string {
	var o []string
	for _, i := range idx {
		o = append(o, b.Records[i].Origin.Locator)
	}
	if len(o) > 5 {
		o = append(o[:5], fmt.Sprintf("and %d more", len(o)-5))
	}
	return strings.Join(o, "; ")
}

// ruleRef is how messages name a rule: mapping.user.email, join.on.ad.
func ruleRef(name string) string {
	if strings.HasPrefix(name, "join.") {
		return name
	}
	return "mapping." + name
}
