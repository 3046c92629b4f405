package mapping

import (
	"errors"
	"fmt"
	"strings"

	"github.com/orgsync/orgsync/connectors"
)

// probeLimit is how many records of each batch Probe evaluates: enough for
// "fails on every record" to mean something, cheap at validate time.
const probeLimit = 1000

// Probe evaluates every rule on the records of batches (the first
// probeLimit of each) and reports, as Compile does (rule and YAML line),
// each rule that cannot work with this data, where Map would reject every
// record:
//
//   - a rule reading a column the source does not have;
//   - a rule that fails on every record with an error of the rule itself,
//     such as int(姓名) on a column of names, a non-finite number, or a
//     non-text value for a text field. A helper's verdict on a value (a
//     date that is not one, a key missing from a lookup) is the data's
//     problem and never counts.
//
// It is the check `orgsync validate` can make once it has read the sources;
// Compile cannot, since columns and their values are only known then. A
// batch of the department table's source is probed with the table's rules.
// Empty batches say nothing.
//
// With a join, each source's join key is probed on its own records, every
// joined field a rule reads must be a column of its source (when that
// source was read), and the person rules are evaluated on the first merged
// records.
func (m *Mapper) Probe(batches []*connectors.Batch) error {
	if m.join != nil {
		return m.probeJoin(batches)
	}
	return errors.Join(m.ProbeEach(batches)...)
}

// ProbeEach is Probe batch by batch, for several sources that are a union
// (no join): errs[i] is what makes batches[i] unusable, nil if nothing.
// Sources of a union may differ in their columns: a column an optional
// rule reads that one source lacks is nil there, and counts only when no
// source has it; a rule for the key, userid or name whose column a source
// lacks makes that source's batch unusable. With a join, every batch gets
// Probe's verdict on the whole.
func (m *Mapper) ProbeEach(batches []*connectors.Batch) []error {
	errs := make([]error, len(batches))
	if m.join != nil {
		if err := m.probeJoin(batches); err != nil {
			for i := range errs {
				errs[i] = err
			}
		}
		return errs
	}
	missing := map[*program][]error{} // optional rule → its missing-column errors, per batch probed
	var missingOrder []*program
	probed := 0
	for i, b := range batches {
		if b == nil || len(b.Records) == 0 {
			continue
		}
		progs, idents, allEnv := m.userPrograms, m.userIdents, m.userAllEnv
		table := m.table != nil && m.table.Source != "" && b.Source == m.table.Source
		if table {
			progs, idents, allEnv = m.tablePrograms, m.tableIdents, m.tableAllEnv
		}
		bad, absent := m.probeBatch(b, progs, idents, allEnv)
		if !table {
			probed++
			for _, a := range absent {
				if required(a.p.name) {
					bad = append(bad, a.err)
				} else {
					missing[a.p] = append(missing[a.p], a.err)
					if len(missing[a.p]) == 1 {
						missingOrder = append(missingOrder, a.p)
					}
				}
			}
		} else {
			bad = probeAll(bad, absent)
		}
		errs[i] = errors.Join(bad...)
	}
	for _, p := range missingOrder {
		list := missing[p]
		if len(list) < probed {
			continue // another source has the column
		}
		for i, b := range batches {
			if b != nil && len(b.Records) > 0 {
				errs[i] = errors.Join(errs[i], list[0])
			}
		}
	}
	return errs
}

// required names the rules without which a record can't be mapped at all.
func required(rule string) bool {
	return rule == "key" || rule == "user.userid" || rule == "user.name"
}

// probeBatch returns the rules that fail on every record of b, and the
// rules reading a column b does not have (not evaluated further).
func (m *Mapper) probeBatch(b *connectors.Batch, progs []*program, idents []string, allEnv bool) ([]error, []absentColumn) {
	ev := m.newEvaluator(idents, allEnv)
	n := min(len(b.Records), probeLimit)
	type tally struct {
		failed int
		first  *evalErr
	}
	tallies := make([]tally, len(progs))
	var out []error
	absent := map[*program]error{}
	var order []absentColumn
	for i := 0; i < n; i++ {
		ev.load(&b.Records[i])
		if i == 0 {
			for _, p := range progs {
				for _, id := range p.idents {
					if ev.missing[id] {
						where := b.Source
						if b.Location != "" {
							where += " (" + b.Location + ")"
						}
						absent[p] = fmt.Errorf("%s%s: %s: the source %s has no column %q (columns: %s)",
							ruleRef(p.name), p.rule.at(), p.rule.Expr, where, id, joinNames(ev.names))
						order = append(order, absentColumn{p, absent[p]})
						break
					}
				}
			}
		}
		for j, p := range progs {
			if absent[p] != nil {
				continue
			}
			var err *evalErr
			if kindOf(p.name) == textField {
				_, err = ev.str(p)
			} else {
				_, err = ev.eval(p)
			}
			if err != nil && err.verdict {
				tallies[j].failed = -1 << 30 // the data decides: never "every record"
			}
			if err != nil && !err.verdict {
				tallies[j].failed++
				if tallies[j].first == nil {
					tallies[j].first = err
				}
			}
		}
	}
	for j, p := range progs {
		if t := tallies[j]; t.failed == n && absent[p] == nil {
			out = append(out, fmt.Errorf("%s%s: %s: fails on every record of %s (%d of %d read), e.g. %s: %q: %s",
				ruleRef(p.name), p.rule.at(), p.rule.Expr, b.Source, n, n, b.Records[0].Origin, t.first.value, t.first.msg))
		}
	}
	return out, order
}

// absentColumn is a rule reading a column a batch does not have.
type absentColumn struct {
	p   *program
	err error
}

func joinNames(names []string) string {
	const most = 20
	if len(names) > most {
		return fmt.Sprintf("%s, … %d more", strings.Join(names[:most], ", "), len(names)-most)
	}
	return strings.Join(names, ", ")
}

func (m *Mapper) probeJoin(batches []*connectors.Batch) error {
	var errs []error
	var people []*connectors.Batch
	for _, b := range batches {
		if b == nil {
			continue
		}
		if m.table != nil && m.table.Source != "" && b.Source == m.table.Source {
			if len(b.Records) > 0 {
				errs = append(errs, probeAll(m.probeBatch(b, m.tablePrograms, m.tableIdents, m.tableAllEnv))...)
			}
			continue
		}
		people = append(people, b)
		if i, ok := m.join.index[b.Source]; ok && m.join.on[i] != nil && len(b.Records) > 0 {
			p := m.join.on[i]
			errs = append(errs, probeAll(m.probeBatch(b, []*program{p}, p.idents, p.allEnv))...)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	jr := m.joinBatches(people)
	for _, p := range m.userPrograms {
		for _, id := range p.idents {
			s, col, ok := m.join.nsOf(id)
			if !ok || col == "" {
				continue
			}
			if v := jr.views[s]; v.batch != nil && len(v.colList) > 0 && !v.cols[col] {
				errs = append(errs, fmt.Errorf("%s%s: %s: the source %s has no column %q (columns: %s)",
					ruleRef(p.name), p.rule.at(), p.rule.Expr, v.name, col, joinNames(v.colList)))
				break
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	n := min(len(jr.merged), probeLimit)
	if n == 0 {
		return nil
	}
	merged := &connectors.Batch{Source: "the records joined from " + m.join.sources[0], Records: make([]connectors.Record, n)}
	for i := 0; i < n; i++ {
		var buf []any
		jr.fill(i, &buf)
		merged.Records[i] = jr.merged[i]
	}
	return errors.Join(probeAll(m.probeBatch(merged, m.userPrograms, m.userIdents, m.userAllEnv))...)
}

// probeAll is probeBatch's verdict where a missing column is as bad as a
// failing rule (one source on its own).
func probeAll(failing []error, absent []absentColumn) []error {
	for _, a := range absent {
		failing = append(failing, a.err)
	}
	return failing
}
