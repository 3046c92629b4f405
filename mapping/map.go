package mapping

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
)

// RecordError is one problem with a record the mapping cannot use. The
// record is left out of the Org, and the engine protects its WeCom member
// (never treats it as absent) by every identifier the record still has:
// Key, UserID, Mobile and Email are filled whenever they could be computed,
// on every problem of the record, whatever field failed. A person record
// with none of them (Unidentified) cannot be matched to a member, so the
// engine must hold every disable and delete of the run.
//
// A record with several problems has one RecordError per problem (the report
// lists them all); RejectedRecords counts records.
type RecordError struct {
	Origin model.Origin `json:"origin"`
	// Kind is KindPerson ("") or KindDepartment for a row of the
	// department table, which names no member.
	Kind   RecordKind `json:"kind,omitempty"`
	Key    string     `json:"key,omitempty"`
	UserID string     `json:"userid,omitempty"` // only a userid WeCom would accept
	// Mobile is the record's mobile as people's mobiles are normalised
	// (model.NormalizeMobile), or the trimmed raw value when it does not
	// normalise; Email is its email lower-cased. Either is left empty when
	// longer than WeCom allows (such a value names no member).
	Mobile string `json:"mobile,omitempty"`
	Email  string `json:"email,omitempty"`
	Field  string `json:"field,omitempty"`
	Value  string `json:"value,omitempty"` // clipped to a few hundred bytes
	Rule   string `json:"rule,omitempty"`
	Msg    string `json:"msg"`
}

// RecordKind says what a rejected record describes.
type RecordKind string

const (
	KindPerson     RecordKind = ""           // a person record
	KindDepartment RecordKind = "department" // a row of the department table
)

// Error reads like
// `hr:employees.csv:12: mobile "12x": not a possible phone number (rule e164(手机, "CN"))`.
// The value is quoted with Go escapes, so control characters, bidi
// controls and invalid UTF-8 in it are shown, not sent to the terminal.
func (e RecordError) Error() string { return problemText(e.Origin, e.Field, e.Value, e.Msg, e.Rule) }

// Unidentified reports a person record with no identifier to protect its
// member by: no key, userid, mobile or email.
func (e RecordError) Unidentified() bool {
	return e.Kind == KindPerson && e.Key == "" && e.UserID == "" && e.Mobile == "" && e.Email == ""
}

// RejectedRecords counts the distinct records (by kind and origin) among
// problems: a row with a bad mobile and a bad email is one rejected record.
func RejectedRecords(errs []RecordError) int {
	type rec struct {
		kind   RecordKind
		origin model.Origin
	}
	seen := make(map[rec]bool, len(errs))
	for _, e := range errs {
		seen[rec{e.Kind, e.Origin}] = true
	}
	return len(seen)
}

// Warning is something mapping left out of a record it still synced: the
// record is in the Org (not rejected, not protected), without the part the
// warning names: a direct leader that could not be resolved. With a join,
// also a record of a joined source that joins no one (no primary record
// has its join key, or it has none): Field "join_key", that source's
// origin; such a record is never created.
type Warning struct {
	Origin model.Origin `json:"origin"`
	Key    string       `json:"key,omitempty"`
	UserID string       `json:"userid,omitempty"`
	Field  string       `json:"field,omitempty"`
	Value  string       `json:"value,omitempty"`
	Rule   string       `json:"rule,omitempty"`
	Msg    string       `json:"msg"`
}

// String reads like a RecordError.
func (w Warning) String() string { return problemText(w.Origin, w.Field, w.Value, w.Msg, w.Rule) }

func problemText(origin model.Origin, field, value, msg, rule string) string {
	var b strings.Builder
	if o := origin.String(); o != "" {
		b.WriteString(o)
		b.WriteString(": ")
	}
	if field != "" {
		b.WriteString(field)
		fmt.Fprintf(&b, " %q: ", value)
	}
	b.WriteString(msg)
	if rule != "" {
		b.WriteString(" (rule ")
		b.WriteString(rule)
		b.WriteString(")")
	}
	return b.String()
}

// Result is what Map produces: the desired Org, one RecordError per
// problem of the records left out of it, and warnings about records in it
// (with a join, also about records of joined sources that join no one).
type Result struct {
	Org      model.Org
	Rejected []RecordError
	Warnings []Warning
	// Excluded are the records mapping.include / mapping.exclude left out
	// of scope, in record order: not in the Org and not rejected.
	Excluded []Exclusion
	// Join is, with a join, where each person's fields came from.
	Join *JoinTrace
	// TableFailed says why the department table could not be read (its
	// file missing or unreadable, its source not read): every person is
	// then rejected, and the run should say the table is the cause.
	TableFailed string
}

// Exclusion is a record left out of scope by mapping.include or
// mapping.exclude. Key and UserID are what its rules gave (best effort),
// so that the plan can say why its member is a leaver.
type Exclusion struct {
	Origin model.Origin `json:"origin"`
	Key    string       `json:"key,omitempty"`
	UserID string       `json:"userid,omitempty"`
	// Rule names the rule, its line and expression, like
	// `mapping.exclude (line 12): 类型 == "外包"`.
	Rule string `json:"rule"`
}

// Reason reads "excluded by rule mapping.exclude (line 12): 类型 == "外包"".
func (x Exclusion) Reason() string { return "excluded by rule " + x.Rule }

// String reads like a RecordError: origin, then the reason.
func (x Exclusion) String() string { return problemText(x.Origin, "", "", x.Reason(), "") }

// evalErr is a rule's failure on one record.
type evalErr struct {
	value string
	msg   string
	// verdict: a helper judged the value (ValueError), so the data is at
	// fault, not the rule.
	verdict bool
}

// evaluator runs rules against records. One per goroutine: it reuses one
// env map and one VM for every record instead of allocating per record.
type evaluator struct {
	m      *Mapper
	idents []string // columns the rules read
	allEnv bool     // some rule uses $env: load every column
	env    map[string]any
	vm     vm.VM

	names   []string // header of the bound batch
	colIdx  []int    // idents[i] → position in names, -1 missing
	missing map[string]bool
	rec     *connectors.Record
	saved   []any // join field provenance: values set aside while a source is removed

	// lazy: the env is not filled when a record is loaded. A rule that is
	// a column reads the record itself (str without boxing a text cell),
	// and a rule that is an expression puts the columns it reads into the
	// env before it runs. Filling the env with every column boxed each
	// cell of each record again: 8M short-lived allocations at a million
	// rows, at the run's peak. Off with $env and with joins, whose trace
	// reads and rewrites the env.
	lazy bool
	slot map[string]int // ident → its index in idents
}

func (m *Mapper) newEvaluator(idents []string, allEnv bool) *evaluator {
	e := &evaluator{m: m, idents: idents, allEnv: allEnv, env: make(map[string]any, len(idents)+8)}
	if !allEnv && m.join == nil {
		e.lazy, e.slot = true, make(map[string]int, len(idents))
		for i, id := range idents {
			e.slot[id] = i
		}
	}
	return e
}

// at is the loaded record's value of the column ident id reads; nil when
// the record has no such column.
func (e *evaluator) at(id string) any {
	if i, ok := e.slot[id]; ok {
		if j := e.colIdx[i]; j >= 0 && j < e.rec.Len() {
			return e.rec.Value(j)
		}
	}
	return nil
}

func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// bind prepares the column positions for a record's header; records of one
// batch share it, so this runs once per batch.
func (e *evaluator) bind(names []string) {
	if e.colIdx != nil && sameSlice(names, e.names) {
		return
	}
	e.names = names
	e.colIdx = make([]int, len(e.idents))
	e.missing = map[string]bool{}
	clear(e.env)
	pos := make(map[string]int, len(names))
	for i := len(names) - 1; i >= 0; i-- {
		pos[names[i]] = i // the first of duplicate names wins
	}
	for i, id := range e.idents {
		j, ok := pos[id]
		if !ok {
			j = -1
			e.missing[id] = true
		}
		e.colIdx[i] = j
	}
}

func (e *evaluator) load(r *connectors.Record) {
	e.bind(r.Names)
	e.rec = r
	if e.lazy {
		return
	}
	n := r.Len()
	if e.allEnv {
		for i, name := range r.Names {
			if i < n {
				e.env[name] = r.Value(i)
			}
		}
	}
	for i, id := range e.idents {
		var v any
		if j := e.colIdx[i]; j >= 0 && j < n {
			v = r.Value(j)
		}
		e.env[id] = v
	}
}

// eval runs p on the loaded record.
func (e *evaluator) eval(p *program) (any, *evalErr) {
	for _, id := range p.idents {
		if e.missing[id] {
			if e.m.join != nil {
				if s, col, ok := e.m.join.nsOf(id); ok && col != "" {
					return nil, &evalErr{msg: fmt.Sprintf("the joined source %s has no column %q", e.m.join.sources[s], col)}
				}
			}
			return nil, &evalErr{msg: fmt.Sprintf("the source has no column %q (columns: %s)", id, strings.Join(e.names, ", "))}
		}
	}
	if p.column != "" { // one of p.idents, so known to be present
		if e.lazy {
			return e.at(p.column), nil
		}
		return e.env[p.column], nil
	}
	if e.lazy {
		for _, id := range p.idents {
			e.env[id] = e.at(id)
		}
	}
	out, err := e.vm.Run(p.prog, e.env)
	if err != nil {
		var ve *ValueError
		if errors.As(err, &ve) {
			return nil, &evalErr{value: ve.Value, msg: ve.Msg, verdict: true}
		}
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		return nil, &evalErr{msg: oneLine(msg)}
	}
	if f, ok := out.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return nil, &evalErr{value: toString(f), msg: "not a finite number"}
	}
	return out, nil
}

// str runs p and renders the result as a string; a nil program yields "".
// A result that is not text (a bool, a map, a time) is the rule's error,
// not its rendering: "true" or "map[…]" is never a name or a userid.
func (e *evaluator) str(p *program) (string, *evalErr) {
	if p == nil {
		return "", nil
	}
	if e.lazy && p.column != "" && e.rec.Values == nil && !e.missing[p.column] {
		// A text cell is text: read it as it is, without boxing it.
		if j := e.colIdx[e.slot[p.column]]; j >= 0 && j < len(e.rec.Texts) {
			return e.rec.Texts[j], nil
		}
		return "", nil
	}
	v, err := e.eval(p)
	if err != nil {
		return "", err
	}
	if what := notText(v); what != "" {
		return "", &evalErr{value: clip(fmt.Sprint(v)), msg: "the rule yields " + what + ", want text"}
	}
	return toString(v), nil
}

// list runs p for a field that takes one value or a list (department,
// leaders); like str, a value that is not text is the rule's error.
func (e *evaluator) list(p *program) (any, *evalErr) {
	v, err := e.eval(p)
	if err != nil {
		return nil, err
	}
	if what := notText(v); what != "" {
		return nil, &evalErr{value: clip(fmt.Sprint(v)), msg: "the rule yields " + what + ", want text"}
	}
	return v, nil
}

// notText names the type of a rule result that a text field cannot take;
// "" for text: strings, lists of them (the first value is used, as for
// LDAP's multi-valued attributes), numbers and nil (empty).
func notText(v any) string {
	switch x := v.(type) {
	case nil, string, []string, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return ""
	case []any:
		if len(x) == 0 {
			return ""
		}
		return notText(x[0])
	case bool:
		return "a bool"
	case time.Time:
		return "a time (format it with date())"
	case time.Duration:
		return "a duration"
	}
	return fmt.Sprintf("a %T", v)
}

// row is one person record being mapped.
type row struct {
	rec *connectors.Record
	// p is the person being built, in MapResult's one slice of people,
	// which becomes Org.People: the rows carry no copy of their own.
	p          *model.Person
	leaderKeys []string
	keyOK      bool
	useridOK   bool
	deptOK     bool
	// x holds what few rows have (errors, warnings, an exclusion) or only
	// a join's rows have: every row lives through all of mapping, and at
	// 1M rows each byte here is a megabyte of mapping's peak.
	x *rowExtra
}

// rowExtra is the part of a row most rows never need (see row.x).
type rowExtra struct {
	errs  []RecordError
	warns []Warning
	// idMobile and idEmail identify the member of a rejected row (see
	// RecordError.Mobile) when its own field failed; otherwise the
	// person's mobile and email do (idSet).
	idMobile, idEmail       string
	mobileIDSet, emailIDSet bool
	excluded                *Exclusion // left out of scope by include/exclude
	// With a join: the primary record's index, the sources it has records
	// of, and per traced field the sources that decided it and were read.
	pi         int
	present    uint16
	from, read []uint16
}

// more returns the row's extra part, making it on first use.
func (r *row) more() *rowExtra {
	if r.x == nil {
		r.x = &rowExtra{}
	}
	return r.x
}

// errors are the row's errors (none for most rows).
func (r *row) errors() []RecordError {
	if r.x == nil {
		return nil
	}
	return r.x.errs
}

// ids is what identifies the member of a rejected row: the mobile and
// email its fields give, or what their failed values still tell.
func (r *row) ids() (mobile, email string) {
	mobile, email = r.p.Mobile, r.p.Email
	if x := r.x; x != nil {
		if x.mobileIDSet {
			mobile = x.idMobile
		}
		if x.emailIDSet {
			email = x.idEmail
		}
	}
	return mobile, email
}

func (r *row) fail(field, value string, p *program, msg string) {
	e := RecordError{Origin: r.rec.Origin, Field: field, Value: clip(value), Msg: msg}
	if p != nil {
		e.Rule = p.rule.Expr
	}
	x := r.more()
	x.errs = append(x.errs, e)
}

func (r *row) warn(field, value string, p *program, msg string) {
	w := Warning{Origin: r.rec.Origin, Field: field, Value: clip(value), Msg: msg}
	if p != nil {
		w.Rule = p.rule.Expr
	}
	x := r.more()
	x.warns = append(x.warns, w)
}

// Map is MapResult without the warnings, for callers that predate them.
func (m *Mapper) Map(batches []*connectors.Batch) (model.Org, []RecordError) {
	res := m.MapResult(batches)
	return res.Org, res.Rejected
}

// MapResult maps every record of the person batches (and reads the
// department table when departments come from one) into the desired Org.
// Records that break a rule or WeCom's limits are left out and reported
// (Rejected); the rest form a consistent Org: unique keys, userids, mobiles
// and emails, no manager cycles, and every direct leader either a person of
// the Org or the userid of a rejected (so protected, left as it is) record.
// A leader that cannot be resolved is left out of the person's
// direct_leader with a Warning; it does not reject the person.
//
// People keep the order of the records; departments are sorted by key.
// Problems and warnings come in record order (department table rows first).
func (m *Mapper) MapResult(batches []*connectors.Batch) Result {
	return m.mapResult(batches, false)
}

// MapAndRelease is MapResult for a caller that reads the batches no more:
// each record's values are released (Record.Release) once it is mapped, its
// Origin and Problem kept, and its person given text of its own (see
// owner). The values (the cells, and for CSV the lines they are cut from:
// 35 MB at 100k people) are then not all live beside the people built
// from them, which lowers the peak heap of a run by as much.
func (m *Mapper) MapAndRelease(batches []*connectors.Batch) Result {
	return m.mapResult(batches, true)
}

func (m *Mapper) mapResult(batches []*connectors.Batch, release bool) Result {
	dt := m.inlineTable
	if dt == nil && m.table != nil {
		dt = m.buildTable(batches)
	}
	var recs []*connectors.Record
	var jr *joinRun
	if m.join != nil {
		jr = m.joinBatches(batches)
		recs = make([]*connectors.Record, len(jr.merged))
		for i := range jr.merged {
			recs[i] = &jr.merged[i]
		}
	} else {
		for _, b := range batches {
			if b == nil || (m.table != nil && m.table.Source != "" && b.Source == m.table.Source) {
				continue
			}
			for i := range b.Records {
				recs = append(recs, &b.Records[i])
			}
		}
	}
	rows := make([]row, len(recs))
	people := make([]model.Person, len(recs))
	// The people are written here first, on one goroutine: the first
	// write to each fresh page of them faults, and two workers faulting at
	// once wait on each other for the process's memory map (measured: 0.3 s
	// of CPU in a 100k first import's 2.0 s).
	for i := range rows {
		rows[i].p = &people[i]
		people[i].Enabled = false
	}
	workers := m.workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
		if len(recs) < 4096 {
			workers = 1
		}
	}
	var wg sync.WaitGroup
	chunk := (len(recs) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(recs))
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := m.newEvaluator(m.userIdents, m.userAllEnv)
			cache := map[string]deptRef{}
			var buf []any
			var own owner
			for i := lo; i < hi; i++ {
				r := &rows[i]
				r.rec = recs[i]
				if jr != nil {
					// The merged values live in buf only while the row is
					// mapped; later steps read the record's origin alone.
					x := r.more()
					x.pi, x.present = i, jr.fill(i, &buf)
					for _, je := range jr.pre[i] {
						r.fail("join_key", je.value, je.p, je.msg)
					}
				}
				m.mapRow(ev, r, dt, cache)
				if jr != nil || release {
					own.person(r.p)
					r.rec.Release()
				}
			}
		}()
	}
	wg.Wait()

	var res Result
	if dt != nil {
		res.TableFailed = dt.failed
	}
	if m.include != nil || m.exclude != nil {
		kept := make([]row, 0, len(rows))
		for i := range rows {
			if x := rows[i].x; x != nil && x.excluded != nil {
				x := x.excluded
				res.Excluded = append(res.Excluded, *x)
				continue
			}
			kept = append(kept, rows[i])
		}
		rows = kept
	}

	m.crossCheck(rows)

	org := &res.Org
	if dt != nil {
		res.Rejected = append(res.Rejected, dt.errs...)
		org.Departments = dt.departments()
	} else {
		var keys []string
		first := map[string]model.Origin{}
		for i := range rows {
			r := &rows[i]
			if !r.deptOK {
				continue
			}
			for _, k := range r.p.Departments {
				if _, ok := first[k]; !ok {
					first[k] = r.rec.Origin
					keys = append(keys, k)
				}
			}
		}
		org.Departments = pathDepartments(keys, first)
	}
	// The accepted people move down over the rejected and excluded ones,
	// in record order: people[n] is written only once row n (or a later
	// one) has been read, so every row reads its own person below.
	n := 0
	if jr != nil {
		res.Warnings = append(res.Warnings, jr.warns...)
		res.Join = &JoinTrace{Sources: m.join.sources, People: make(map[string]*PersonTrace, len(rows))}
		for _, t := range m.traces {
			res.Join.Fields = append(res.Join.Fields, t.field)
			res.Join.Rules = append(res.Join.Rules, t.p.rule.Expr)
			res.Join.Reads = append(res.Join.Reads, t.reads)
		}
	}
	for i := range rows {
		r := &rows[i]
		if len(r.errors()) == 0 {
			if jr != nil {
				res.Join.People[r.p.Key] = &PersonTrace{JoinKey: jr.views[0].raw[r.x.pi], Records: jr.origins(r.x.pi), From: r.x.from, Read: r.x.read}
			}
			if r.p != &people[n] {
				people[n] = *r.p
			}
			n++
			if r.x == nil {
				continue
			}
			for _, w := range r.x.warns {
				w.Key, w.UserID = r.p.Key, r.p.UserID
				res.Warnings = append(res.Warnings, w)
			}
			continue
		}
		for _, e := range r.x.errs {
			if r.keyOK {
				e.Key = r.p.Key
			}
			if r.useridOK {
				e.UserID = r.p.UserID
			}
			e.Mobile, e.Email = r.ids()
			res.Rejected = append(res.Rejected, e)
		}
	}
	clear(people[n:]) // the rejected and excluded: nothing of theirs stays reachable
	org.People = people[:n]
	return res
}

// maxLeaders is the most direct leaders WeCom's read-side docs allow; its
// current write docs say 1, so more than one is passed on and left to the
// target to accept or refuse per member.
const maxLeaders = 5

var (
	useridRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_@.-]*$`)
	phoneRE  = regexp.MustCompile(`^[0-9+\-,]+$`)
)

// mapRow evaluates every rule on one record and applies the per-record
// WeCom rules. Every problem is recorded, not just the first.
func (m *Mapper) mapRow(ev *evaluator, r *row, dt *deptTable, cache map[string]deptRef) {
	ev.load(r.rec)
	p := r.p
	p.Origin = r.rec.Origin
	if len(r.errors()) == 0 && m.outOfScope(ev, r) {
		return
	}
	if r.rec.Problem != "" {
		// The source could not read this record cleanly: rejected, but
		// mapped on, so that its identifiers protect its member.
		r.fail("", "", nil, r.rec.Problem)
	}
	if m.join != nil {
		defer func() {
			if len(r.errors()) == 0 {
				m.trace(ev, r)
			}
		}()
	}

	key, err := ev.str(m.key)
	if err != nil {
		r.fail("key", err.value, m.key, err.msg)
	} else if key = strings.TrimSpace(key); key == "" {
		r.fail("key", key, m.key, "empty key")
	} else {
		p.Key, r.keyOK = key, true
	}

	uid, err := ev.str(m.userid)
	switch {
	case err != nil:
		r.fail("userid", err.value, m.userid, err.msg)
	default:
		uid = strings.TrimSpace(uid)
		if msg := checkUserID(uid); msg != "" {
			r.fail("userid", uid, m.userid, msg)
		} else {
			p.UserID, r.useridOK = uid, true
		}
	}

	if name, err := ev.str(m.name); err != nil {
		r.fail("name", err.value, m.name, err.msg)
	} else if name = model.NormalizeName(name); name == "" || runeLen(name) > 64 {
		r.fail("name", name, m.name, fmt.Sprintf("must be 1 to 64 characters (has %d)", runeLen(name)))
	} else if msg := checkText(name); msg != "" {
		r.fail("name", name, m.name, msg)
	} else {
		p.Name = name
	}

	m.mapDepartments(ev, r, dt, cache)

	p.Position = m.text(ev, r, "position", m.position, 128, "characters")
	// The fields most people leave empty are gathered here and set at the
	// end, in one PersonMore (mapDepartments may have set some already).
	more := p.More()
	more.Alias = m.text(ev, r, "alias", m.alias, 64, "characters")
	if tel := m.text(ev, r, "telephone", m.telephone, 32, "bytes"); tel != "" {
		if !phoneRE.MatchString(tel) {
			r.fail("telephone", tel, m.telephone, "may hold only digits, +, - and ,")
		} else {
			more.Telephone = tel
		}
	}

	if raw, err := ev.str(m.mobile); err != nil {
		r.fail("mobile", err.value, m.mobile, err.msg)
		r.x.idMobile, r.x.mobileIDSet = mobileID(err.value, m.region), true
	} else if mob, msg := normalizeMobile(raw, m.region); msg != "" {
		r.fail("mobile", raw, m.mobile, msg)
		r.x.idMobile, r.x.mobileIDSet = mobileID(raw, m.region), true
	} else {
		p.Mobile = mob
	}
	var emailID string
	p.Email, emailID = m.email1(ev, r, "email", m.email)
	if emailID != p.Email {
		x := r.more()
		x.idEmail, x.emailIDSet = emailID, true
	}
	more.BizMail, _ = m.email1(ev, r, "biz_mail", m.bizMail)
	if p.Mobile == "" && p.Email == "" && !r.failed("mobile") && !r.failed("email") {
		r.fail("mobile", "", m.mobile, "no mobile and no email: WeCom needs at least one")
	}

	if g, err := ev.str(m.gender); err != nil {
		r.fail("gender", err.value, m.gender, err.msg)
	} else if gg, ok := normalizeGender(g); !ok {
		r.fail("gender", g, m.gender, "want 男/女, M/F, male/female or 1/2")
	} else {
		p.Gender = gg
	}

	p.Enabled = true
	if m.enabled != nil {
		v, err := ev.eval(m.enabled)
		if err != nil {
			r.fail("enabled", err.value, m.enabled, err.msg)
		} else if b, ok := boolValue(v); !ok {
			r.fail("enabled", toString(v), m.enabled, "not a yes/no value (want a comparison like 状态 != \"离职\", or true/false, 1/0, 是/否)")
		} else {
			p.Enabled = b
		}
	}

	if m.directLeader != nil {
		v, err := ev.list(m.directLeader)
		if err != nil {
			r.fail("direct_leader", err.value, m.directLeader, err.msg)
		} else {
			for _, k := range toStrings(v) {
				if k = strings.TrimSpace(k); k != "" && !contains(r.leaderKeys, k) {
					r.leaderKeys = append(r.leaderKeys, k)
				}
			}
		}
	}

	for _, x := range m.extattr {
		v, err := ev.str(x.p)
		if err != nil {
			r.fail(x.field, err.value, x.p, err.msg)
			continue
		}
		v = strings.TrimSpace(v)
		if n := runeLen(v); n > 64 {
			r.fail(x.field, v, x.p, fmt.Sprintf("is %d characters, WeCom allows 64", n))
			continue
		}
		if msg := checkText(v); msg != "" {
			r.fail(x.field, v, x.p, msg)
			continue
		}
		if more.ExtAttrs == nil { // stays nil without attributes
			more.ExtAttrs = make([]model.ExtAttr, 0, len(m.extattr))
		}
		more.ExtAttrs = append(more.ExtAttrs, model.ExtAttr{Name: x.name, Value: v})
	}
	p.SetMore(more)
}

// owner gives a person text of its own once its record is released. A
// CSV reader allocates one string per line and slices the cells from it,
// so a person whose key, name and email are those cells keeps the whole
// line alive, every column of it, for the rest of the run: 104 MB at a
// million people. person copies the person's own fields into one
// allocation, and positions, which many people share, into one copy each
// (up to maxShared distinct ones; the rest get a copy of their own), so
// the lines are garbage once mapped. One owner per mapping worker.
type owner struct{ shared map[string]string }

const maxShared = 1 << 14

func (o *owner) person(p *model.Person) {
	ownText(&p.Key, &p.UserID, &p.Name, &p.Mobile, &p.Email)
	if m := p.More(); m.Alias != "" || m.BizMail != "" || m.Telephone != "" || len(m.ExtAttrs) > 0 {
		ownText(&m.Alias, &m.BizMail, &m.Telephone)
		for i := range m.ExtAttrs { // made for this person by mapRow: not shared
			ownText(&m.ExtAttrs[i].Value)
		}
		p.SetMore(m)
	}
	if p.Position != "" {
		if s, ok := o.shared[p.Position]; ok {
			p.Position = s
		} else {
			s = strings.Clone(p.Position)
			if o.shared == nil {
				o.shared = map[string]string{}
			}
			if len(o.shared) < maxShared {
				o.shared[s] = s
			}
			p.Position = s
		}
	}
}

// ownText copies the strings into one allocation of their own and points
// them at it.
func ownText(fields ...*string) {
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	if n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all := b.String()
	for _, f := range fields {
		*f, all = all[:len(*f)], all[len(*f):]
	}
}

func (r *row) failed(field string) bool {
	for _, e := range r.errors() {
		if e.Field == field {
			return true
		}
	}
	return false
}

// text evaluates an optional free-text field with a length limit.
func (m *Mapper) text(ev *evaluator, r *row, field string, p *program, limit int, unit string) string {
	v, err := ev.str(p)
	if err != nil {
		r.fail(field, err.value, p, err.msg)
		return ""
	}
	v = strings.TrimSpace(v)
	n := len(v)
	if unit == "characters" {
		n = runeLen(v)
	}
	if n > limit {
		r.fail(field, v, p, fmt.Sprintf("is %d %s, WeCom allows %d", n, unit, limit))
		return ""
	}
	if msg := checkText(v); msg != "" {
		r.fail(field, v, p, msg)
		return ""
	}
	return v
}

// email1 evaluates an email field. It returns the address to send ("" when
// unset or rejected) and the address that identifies the member of a
// rejected row (lower-cased, even when malformed).
func (m *Mapper) email1(ev *evaluator, r *row, field string, p *program) (string, string) {
	raw, err := ev.str(p)
	if err != nil {
		r.fail(field, err.value, p, err.msg)
		return "", emailID(err.value)
	}
	e := model.NormalizeEmail(raw)
	if e == "" {
		return "", ""
	}
	if len(e) < 6 || len(e) > 64 {
		r.fail(field, raw, p, fmt.Sprintf("is %d bytes, WeCom wants 6 to 64", len(e)))
		return "", emailID(raw)
	}
	if msg := checkText(e); msg != "" {
		r.fail(field, raw, p, msg)
		return "", emailID(raw)
	}
	if !isEmail(e) {
		r.fail(field, raw, p, "not an email address")
		return "", emailID(raw)
	}
	return e, e
}

// mobileID is the mobile that identifies a rejected row's member: the form
// people's mobiles are stored in when raw has one, else raw trimmed; ""
// when longer than WeCom's 32 bytes (no member can have it).
func mobileID(raw, region string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 32 {
		return ""
	}
	if out, msg := normalizeMobile(raw, region); msg == "" {
		return out
	}
	if out, err := model.NormalizeMobile(raw, region); err == nil {
		return out
	}
	return raw
}

// emailID is the email that identifies a rejected row's member: lower-cased
// and trimmed; "" when longer than WeCom's 64 bytes.
func emailID(raw string) string {
	if e := model.NormalizeEmail(raw); len(e) <= 64 {
		return e
	}
	return ""
}

// checkUserID applies WeCom's userid rules: 1–64 bytes of letters, digits
// and _ - @ ., starting with a letter or digit.
func checkUserID(uid string) string {
	switch {
	case uid == "":
		return "empty userid"
	case len(uid) > 64:
		return fmt.Sprintf("is %d bytes, WeCom allows 64", len(uid))
	case !isAlnum(uid[0]):
		return "must start with a letter or digit"
	case !useridRE.MatchString(uid):
		return "may hold only letters, digits and _ - @ ."
	}
	return ""
}

// yesWords and noWords are how HR files say yes and no (lower case), for
// enabled and for truthy().
var (
	yesWords = map[string]bool{"1": true, "true": true, "t": true, "yes": true, "y": true, "是": true, "启用": true,
		"在职": true, "正常": true, "enabled": true, "active": true, "on": true}
	noWords = map[string]bool{"0": true, "false": true, "f": true, "no": true, "n": true, "否": true, "禁用": true,
		"离职": true, "停用": true, "disabled": true, "inactive": true, "off": true}
)

// boolValue reads an enabled value. Unknown strings are not guessed: a
// wrong guess would disable people.
func boolValue(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int:
		return x != 0, x == 0 || x == 1
	case float64:
		return x != 0, x == 0 || x == 1
	}
	s := strings.ToLower(strings.TrimSpace(toString(v)))
	switch {
	case yesWords[s]:
		return true, true
	case noWords[s]:
		return false, true
	}
	return false, false
}

// deptCacheKey is the key of a department value in the per-run cache: one
// key per distinct value, never shared by two values that resolve
// differently. A single value is its own key (no allocation for the common
// string); a list (or a value starting with NUL) is NUL-prefixed and
// length-prefixed, so the string "a;b" and the list ["a", "b"] (or
// ["a\x00b"] and ["a", "b"]) never meet.
func deptCacheKey(vals []string) string {
	if len(vals) == 1 && !strings.HasPrefix(vals[0], "\x00") {
		return vals[0]
	}
	var b strings.Builder
	b.WriteByte(0)
	for _, v := range vals {
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

// mapDepartments resolves department, main_department and leader_of.
func (m *Mapper) mapDepartments(ev *evaluator, r *row, dt *deptTable, cache map[string]deptRef) {
	p := r.p
	resolve := func(v any) (deptRef, string) {
		var vals []string
		var key string
		if s, ok := v.(string); ok {
			key = s
			if strings.HasPrefix(s, "\x00") {
				key = deptCacheKey([]string{s})
			}
			if ref, ok := cache[key]; ok {
				return ref, ref.raw
			}
			vals = []string{s}
		} else {
			vals = toStrings(v)
			key = deptCacheKey(vals)
			if ref, ok := cache[key]; ok {
				return ref, ref.raw
			}
		}
		var ref deptRef
		if dt != nil {
			ref = dt.resolveCodes(vals)
		} else {
			for _, s := range vals {
				one := m.resolvePaths(s)
				if one.msg != "" {
					ref = one
					break
				}
				for _, k := range one.keys {
					if !contains(ref.keys, k) {
						ref.keys = append(ref.keys, k)
					}
				}
			}
		}
		ref.raw = strings.Join(vals, ";")
		cache[key] = ref
		return ref, ref.raw
	}
	r.deptOK = true
	if m.department != nil {
		v, err := ev.list(m.department)
		if err != nil {
			r.fail("department", err.value, m.department, err.msg)
			r.deptOK = false
		} else if ref, raw := resolve(v); ref.msg != "" {
			r.fail("department", raw, m.department, ref.msg)
			r.deptOK = false
		} else {
			p.Departments = ref.keys
		}
	}
	if m.mainDepartment != nil {
		v, err := ev.list(m.mainDepartment)
		if err != nil {
			r.fail("main_department", err.value, m.mainDepartment, err.msg)
		} else if ref, raw := resolve(v); ref.msg != "" {
			r.fail("main_department", raw, m.mainDepartment, ref.msg)
		} else if len(ref.keys) > 1 {
			r.fail("main_department", raw, m.mainDepartment, "names more than one department")
		} else if len(ref.keys) == 1 {
			if !contains(p.Departments, ref.keys[0]) && r.deptOK {
				r.fail("main_department", raw, m.mainDepartment, "is not one of the person's departments")
			} else {
				p.SetMainDepartment(ref.keys[0])
			}
		}
	}
	switch {
	case m.leaderOf != nil:
		v, err := ev.list(m.leaderOf)
		if err != nil {
			r.fail("leader_of", err.value, m.leaderOf, err.msg)
		} else if ref, raw := resolve(v); ref.msg != "" {
			r.fail("leader_of", raw, m.leaderOf, ref.msg)
		} else {
			for _, k := range ref.keys {
				if !contains(p.Departments, k) {
					if r.deptOK {
						r.fail("leader_of", raw, m.leaderOf, fmt.Sprintf("department %q is not one of the person's departments", k))
					}
					break
				}
			}
			p.SetLeaderOf(ref.keys)
		}
	case m.isLeader != nil:
		v, err := ev.eval(m.isLeader)
		if err != nil {
			r.fail("is_leader", err.value, m.isLeader, err.msg)
		} else if b, ok := boolValue(v); !ok && !blank(v) {
			r.fail("is_leader", toString(v), m.isLeader, "not a yes/no value")
		} else if b {
			p.SetLeaderOf(append([]string(nil), p.Departments...))
		}
	}
	if len(p.Departments) > 100 {
		r.fail("department", fmt.Sprint(len(p.Departments)), m.department, "more than WeCom's 100 departments per member")
	}
}

// crossCheck applies the rules that span records: duplicate keys,
// case-insensitive userid clashes, mobiles and emails used twice (WeCom
// keeps each unique in the corp), direct leaders and manager cycles.
//
// Every row of a clash is rejected, so every one of them is protected:
// which of them is right is for HR to say. A leader reference is resolved
// to a record (see resolveLeader) and emitted as that record's userid; one
// that resolves to no usable record is dropped with a warning instead of
// rejecting the person (a missing manager must not freeze their reports).
// A leader whose own record is rejected keeps the link by userid when that
// userid is unambiguous: the leader's member is protected and left as it
// is, so the link WeCom has stays true, and dropping it would clear every
// report's direct_leader because of, say, the leader's bad mobile.
func (m *Mapper) crossCheck(rows []row) {
	// The unique fields are indexed on a goroutine of their own while the
	// keys and userids are indexed here: both only read the rows (at 1M
	// people each side is 2M map inserts, a second of one core). What they
	// find is recorded after, in the order it always was: keys, userids,
	// mobile, email, biz_mail.
	var uniq [3]map[string][]int
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		// One index serves the three in turn (cleared between them): at 1M
		// people each is a map of 1M strings, 50 MB, and three of them made
		// one after the other are 100 MB more garbage at mapping's peak.
		first := make(map[string]int, len(rows))
		uniq[0] = dupsOf(rows, first, m.mobile, func(r *row) string { return r.p.Mobile })
		uniq[1] = dupsOf(rows, first, m.email, func(r *row) string { return r.p.Email })
		uniq[2] = dupsOf(rows, first, m.bizMail, func(r *row) string { return r.p.BizMail() })
	}()

	// Index every key and folded userid; the few that repeat get a list.
	firstKey := make(map[string]int, len(rows))
	firstUID := make(map[string]int, len(rows))
	byKey := dupsOf(rows, firstKey, m.key, func(r *row) string {
		if !r.keyOK {
			return ""
		}
		return r.p.Key
	})
	byUID := dupsOf(rows, firstUID, m.userid, func(r *row) string {
		if !r.useridOK {
			return ""
		}
		return model.UserIDKey(r.p.UserID)
	})
	<-indexed
	for _, key := range sortedKeys(byKey) {
		idx := byKey[key]
		for _, i := range idx {
			rows[i].fail("key", key, m.key, "duplicate key: every row with it is rejected ("+rowList(rows, idx)+")")
		}
	}
	for _, k := range sortedKeys(byUID) {
		idx := byUID[k]
		if oneRecord(rows, idx) {
			continue // the same key twice: reported as a duplicate key
		}
		for _, i := range idx {
			rows[i].fail("userid", rows[i].p.UserID, m.userid,
				"userid clashes with another record's (WeCom compares userids case-insensitively): "+rowList(rows, idx))
		}
	}
	failDups(rows, "mobile", m.mobile, uniq[0])
	failDups(rows, "email", m.email, uniq[1])
	failDups(rows, "biz_mail", m.bizMail, uniq[2])

	// Leaders. foldKey indexes keys case-insensitively for references
	// written in another case (e1 for E1); -1 marks a fold two keys share.
	// It is built on the first reference no key matches exactly.
	var foldKey map[string]int
	folded := func() map[string]int {
		if foldKey == nil {
			foldKey = make(map[string]int, len(firstKey))
			for k, i := range firstKey {
				f := strings.ToLower(k)
				if j, ok := foldKey[f]; ok && j != i {
					foldKey[f] = -1
				} else {
					foldKey[f] = i
				}
			}
		}
		return foldKey
	}
	leaders := make([][]int, len(rows))
	for i := range rows {
		r := &rows[i]
		if n := len(r.leaderKeys); n > maxLeaders {
			r.fail("direct_leader", strings.Join(r.leaderKeys, ","), m.directLeader,
				fmt.Sprintf("%d direct leaders, WeCom allows at most %d", n, maxLeaders))
			continue
		}
		for _, lk := range r.leaderKeys {
			j, why := resolveLeader(rows, lk, firstKey, folded, firstUID, byKey, byUID)
			switch {
			case why != "":
				r.warn("direct_leader", lk, m.directLeader, why+": synced without this direct leader")
			case j == i:
				r.fail("direct_leader", lk, m.directLeader, "manager cycle: the person is their own leader")
			case !contains2(leaders[i], j):
				leaders[i] = append(leaders[i], j)
			}
		}
	}
	for _, scc := range cycles(leaders) {
		var keys []string
		for _, i := range scc {
			keys = append(keys, rows[i].p.Key)
		}
		sort.Strings(keys)
		for _, i := range scc {
			rows[i].fail("direct_leader", strings.Join(rows[i].leaderKeys, ","), m.directLeader,
				"manager cycle: "+strings.Join(keys, " → ")+" lead each other")
		}
	}
	for i := range rows {
		r := &rows[i]
		if len(r.errors()) > 0 {
			continue
		}
		for _, l := range leaders[i] {
			ld := &rows[l]
			switch {
			case len(ld.errors()) == 0:
			case ld.useridOK && !ld.failed("userid"):
				r.warn("direct_leader", ld.p.Key, m.directLeader, fmt.Sprintf(
					"the leader's record (%s) is rejected: the link to its userid %s is kept as WeCom has it", ld.rec.Origin, ld.p.UserID))
			default:
				r.warn("direct_leader", ld.p.Key, m.directLeader, fmt.Sprintf(
					"the leader's record (%s) is rejected and has no usable userid: synced without this direct leader", ld.rec.Origin))
				continue
			}
			r.p.DirectLeaders = append(r.p.DirectLeaders, ld.p.UserID)
		}
	}
}

// resolveLeader finds the record a direct_leader reference names: the
// record with that key; else the one whose key differs only in case; else
// the one with that userid (compared as WeCom does, case-insensitively).
// why says, when there is none, why not.
func resolveLeader(rows []row, ref string, firstKey map[string]int, foldKey func() map[string]int, firstUID map[string]int,
	byKey, byUID map[string][]int) (int, string) {
	if j, ok := firstKey[ref]; ok {
		if idx := byKey[ref]; idx != nil {
			return -1, "the leader's key is duplicated (" + rowList(rows, idx) + ")"
		}
		return j, ""
	}
	if j, ok := foldKey()[strings.ToLower(ref)]; ok {
		if j < 0 {
			return -1, "the key matches two records' keys that differ only in case"
		}
		if idx := byKey[rows[j].p.Key]; idx != nil {
			return -1, "the leader's key is duplicated (" + rowList(rows, idx) + ")"
		}
		return j, ""
	}
	u := model.UserIDKey(ref)
	if j, ok := firstUID[u]; ok {
		if idx := byUID[u]; idx != nil && !oneRecord(rows, idx) {
			return -1, "the leader's userid is claimed by several records (" + rowList(rows, idx) + ")"
		}
		return j, ""
	}
	return -1, "no record has this key"
}

// uniqueField rejects every row of a group that shares a non-empty value of
// a field WeCom keeps unique in the corp; values are compared as they would
// be sent (normalised mobiles, lower-cased emails).
// dupsOf indexes the non-empty values get reads of the rows in first
// (cleared first: value → its first row) and returns those more than one
// row has, each with its rows; nil when the field has no rule. It only
// reads the rows.
func dupsOf(rows []row, first map[string]int, p *program, get func(*row) string) map[string][]int {
	if p == nil {
		return nil
	}
	clear(first)
	dups := map[string][]int{}
	for i := range rows {
		v := get(&rows[i])
		if v == "" {
			continue
		}
		if j, dup := first[v]; !dup {
			first[v] = i
		} else if dups[v] == nil {
			dups[v] = []int{j, i}
		} else {
			dups[v] = append(dups[v], i)
		}
	}
	return dups
}

// failDups rejects every row of a value that more than one record has.
func failDups(rows []row, field string, p *program, dups map[string][]int) {
	for _, v := range sortedKeys(dups) {
		idx := dups[v]
		if oneRecord(rows, idx) {
			continue // the same key twice: reported as a duplicate key
		}
		for _, i := range idx {
			rows[i].fail(field, v, p, "another record has the same "+field+": every row with it is rejected ("+rowList(rows, idx)+")")
		}
	}
}

// oneRecord reports rows that all carry the same valid key: one record
// listed twice, which the duplicate-key check reports.
func oneRecord(rows []row, idx []int) bool {
	for _, i := range idx {
		if !rows[i].keyOK || rows[i].p.Key != rows[idx[0]].p.Key {
			return false
		}
	}
	return true
}

func contains2(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

func rowList(rows []row, idx []int) string {
	var o []string
	for _, i := range idx {
		o = append(o, rows[i].rec.Origin.Locator)
	}
	if len(o) > 5 {
		o = append(o[:5], fmt.Sprintf("and %d more", len(o)-5))
	}
	return "rows " + strings.Join(o, ", ")
}

// cycles returns the strongly connected components with more than one
// member (Tarjan), i.e. the people who lead each other in a loop.
func cycles(edges [][]int) [][]int {
	n := len(edges)
	index := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var out [][]int
	var st []int
	next := 0
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		st = append(st, v)
		on[v] = true
		for _, w := range edges[v] {
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := st[len(st)-1]
				st = st[:len(st)-1]
				on[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				sort.Ints(comp)
				out = append(out, comp)
			}
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 && len(edges[v]) > 0 {
			strong(v)
		}
	}
	return out
}

func truncate(s string) string {
	r := []rune(s)
	if len(r) <= 40 {
		return s
	}
	return string(r[:40]) + "…"
}

// outOfScope evaluates include and exclude on a loaded record. An excluded
// record gets r.excluded (with the key and userid its rules give, for the
// plan's reason) and is mapped no further; a rule that can't decide
// rejects the record (see Config.Include).
func (m *Mapper) outOfScope(ev *evaluator, r *row) bool {
	decide := func(p *program, field string) (bool, bool) {
		if p == nil {
			return false, false
		}
		v, err := ev.eval(p)
		if err != nil {
			r.fail(field, err.value, p, err.msg)
			return false, false
		}
		b, ok := boolValue(v)
		switch {
		case ok:
			return b, true
		case blank(v) && field == "exclude":
			return false, true
		case blank(v):
			r.fail(field, "", p, "the rule gives an empty value, want yes or no: the record is left as is")
		default:
			r.fail(field, toString(v), p, "not a yes/no value (want a comparison like 类型 == \"外包\", or true/false)")
		}
		return false, false
	}
	var why *program
	if in, ok := decide(m.include, "include"); ok && !in {
		why = m.include
	} else if ex, ok := decide(m.exclude, "exclude"); ok && ex && len(r.errors()) == 0 {
		why = m.exclude
	}
	if why == nil || len(r.errors()) > 0 {
		return false
	}
	x := &Exclusion{Origin: r.rec.Origin, Rule: fmt.Sprintf("%s%s: %s", ruleRef(why.name), why.rule.at(), why.rule.Expr)}
	if why == m.include {
		x.Rule += " is false"
	}
	if k, err := ev.str(m.key); err == nil {
		x.Key = strings.TrimSpace(k)
	}
	if u, err := ev.str(m.userid); err == nil && checkUserID(strings.TrimSpace(u)) == "" {
		x.UserID = strings.TrimSpace(u)
	}
	r.more().excluded = x
	return true
}

// isEmail reports whether e looks like an address WeCom takes: a local
// part, "@", and a domain with a dot inside it (name.tld), none of them
// holding white space or @ , ; < > " ( ) [ ]. It is the regular expression
//
//	^[^@\s,;<>"()\[\]]+@[^@\s,;<>"()\[\]]+\.[^@\s,;<>"()\[\].]+$
//
// as a loop (the regexp was 8% of mapping 100k rows; mapping_test keeps the
// two equal).
func isEmail(e string) bool {
	at := strings.IndexByte(e, '@')
	if at <= 0 {
		return false
	}
	for i := 0; i < len(e); i++ {
		switch e[i] {
		case '@':
			if i != at {
				return false
			}
		case ' ', '\t', '\n', '\f', '\r', ',', ';', '<', '>', '"', '(', ')', '[', ']':
			return false
		}
	}
	domain := e[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-1
}
