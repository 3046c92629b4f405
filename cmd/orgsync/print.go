package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// printPlan prints the plan for review. It is written through a buffer:
// a first import prints a line per change, 100k lines of small writes.
func printPlan(w io.Writer, p *engine.Prepared) {
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	w = bw
	records := 0
	for _, n := range p.Records {
		records += n
	}
	fmt.Fprintf(w, "sources: %d records, %d people mapped, %d records rejected", records, len(p.Desired.People), mapping.RejectedRecords(p.Rejected))
	if len(p.Excluded) > 0 {
		fmt.Fprintf(w, ", %d excluded by rule", len(p.Excluded))
	}
	fmt.Fprintln(w)
	for _, pr := range p.Problems {
		fmt.Fprintf(w, "  SOURCE PROBLEM: %s\n", pr)
	}
	for i, r := range p.Rejected {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more problems of rejected records\n", len(p.Rejected)-20)
			break
		}
		fmt.Fprintf(w, "  rejected: %s\n", r.Error())
	}
	for i, x := range p.Warnings {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more warnings\n", len(p.Warnings)-20)
			break
		}
		fmt.Fprintf(w, "  warning: %s\n", x.String())
	}
	printChanges(w, p.Changes, 0)
	for i, n := range p.Changes.Notices {
		if i == 0 {
			fmt.Fprintln(w, "notices:")
		}
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more notices (--output json lists them all)\n", len(p.Changes.Notices)-20)
			break
		}
		fmt.Fprintf(w, "  %s: %s\n", n.Object, n.Msg)
	}
	if p.Refusal != nil {
		fmt.Fprintf(w, "\nREFUSED: %s\n", p.Refusal.Reason)
	}
}

// printChanges prints counts, then each change (at most limit per kind when
// limit > 0).
func printChanges(w io.Writer, c *plan.Changes, limit int) {
	bw := bufio.NewWriterSize(w, 64<<10) // w itself when printPlan's buffer
	defer bw.Flush()
	w = bw
	counts := c.Counts()
	var parts []string
	for _, op := range plan.AllOps {
		if counts[op] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", op, counts[op]))
		}
	}
	if len(parts) == 0 {
		fmt.Fprintln(w, "plan: no changes")
	} else {
		fmt.Fprintf(w, "plan: %d changes (%s)\n", c.Total(), strings.Join(parts, ", "))
	}
	if len(c.Held) > 0 {
		fmt.Fprintf(w, "held: %d changes held by the safety guard:\n", len(c.Held))
		for i, h := range c.Held {
			if i == 20 || (limit > 0 && i == limit) {
				fmt.Fprintf(w, "  ... %d more held changes\n", len(c.Held)-i)
				break
			}
			fmt.Fprintf(w, "  HELD %-14s %s  # %s\n", h.Op, h.Object, h.Reason)
		}
	}
	if c.Unowned > 0 {
		fmt.Fprintf(w, "unowned: %d members in scope not created or adopted by orgsync (left as is)\n", c.Unowned)
	}
	depts := func(title string, l []plan.DeptChange) {
		for i, d := range l {
			if limit > 0 && i == limit {
				fmt.Fprintf(w, "  ... %d more %s\n", len(l)-limit, title)
				return
			}
			fmt.Fprintf(w, "  %-18s %s (id %d)%s  # %s\n", d.Op, d.Key, d.ID, deptDiff(d), d.Reason)
		}
	}
	users := func(title string, l []plan.UserChange) {
		for i, u := range l {
			if limit > 0 && i == limit {
				fmt.Fprintf(w, "  ... %d more %s\n", len(l)-limit, title)
				return
			}
			fmt.Fprintf(w, "  %-18s %s%s  # %s", u.Op, u.UserID, userDiff(u), u.Reason)
			if o := u.Origin.String(); o != "" {
				fmt.Fprintf(w, " [%s]", o)
			}
			fmt.Fprintln(w)
		}
	}
	depts("department creates", c.DeptCreates)
	depts("department updates", c.DeptUpdates)
	users("member creates", c.UserCreates)
	users("member updates", c.UserUpdates)
	users("member moves", c.UserMoves)
	users("member enables", c.UserEnables)
	users("member disables", c.UserDisables)
	users("member deletes", c.UserDeletes)
	depts("department deletes", c.DeptDeletes)
}

func deptDiff(d plan.DeptChange) string {
	if d.Before == nil || d.After == nil {
		if d.After != nil && d.Op == plan.OpDeptCreate {
			return fmt.Sprintf(" name=%q", d.After.Name)
		}
		return ""
	}
	var parts []string
	for _, w := range d.What {
		switch w {
		case "name":
			parts = append(parts, fmt.Sprintf("name %q → %q", d.Before.Name, d.After.Name))
		case "parent":
			parts = append(parts, fmt.Sprintf("parent %q → %q", d.Before.ParentKey, d.After.ParentKey))
		case "order":
			parts = append(parts, fmt.Sprintf("order %d → %d", d.Before.Order, d.After.Order))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

func userDiff(u plan.UserChange) string {
	switch {
	case u.Op == plan.OpUserCreate && u.After != nil:
		return fmt.Sprintf(" %s [%s]", u.After.Name, strings.Join(u.After.Departments, ", "))
	case u.Before == nil || u.After == nil || len(u.Fields) == 0:
		return ""
	}
	var parts []string
	for _, f := range u.Fields {
		b, a := field(u.Before, f), field(u.After, f)
		if b != a {
			parts = append(parts, fmt.Sprintf("%s %s → %s", f, b, a))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

// field renders one person field for a diff line. PII is shown: plan output
// is for the admin reviewing it, not for logs.
func field(p *model.Person, f string) string {
	switch f {
	case "name":
		return fmt.Sprintf("%q", p.Name)
	case "alias":
		return fmt.Sprintf("%q", p.Alias())
	case "position":
		return fmt.Sprintf("%q", p.Position)
	case "mobile":
		return fmt.Sprintf("%q", p.Mobile)
	case "email":
		return fmt.Sprintf("%q", p.Email)
	case "biz_mail":
		return fmt.Sprintf("%q", p.BizMail())
	case "telephone":
		return fmt.Sprintf("%q", p.Telephone())
	case "gender":
		return fmt.Sprintf("%q", p.Gender)
	case "department":
		return "[" + strings.Join(p.Departments, ", ") + "]"
	case "main_department":
		return fmt.Sprintf("%q", p.MainDepartment())
	case "is_leader_in_dept":
		return "[" + strings.Join(p.LeaderOf(), ", ") + "]"
	case "direct_leader":
		return "[" + strings.Join(p.DirectLeaders, ", ") + "]"
	case "extattr":
		var s []string
		for _, a := range p.ExtAttrs() {
			s = append(s, a.Name+"="+a.Value)
		}
		return "{" + strings.Join(s, ", ") + "}"
	}
	return ""
}

func printReport(w io.Writer, r *engine.Report) {
	fmt.Fprintf(w, "\nrun %d: %s", r.RunID, strings.ToUpper(r.Status))
	if r.DryRun {
		fmt.Fprint(w, " (dry run: nothing written)")
	}
	fmt.Fprintf(w, " in %s, %d WeCom API calls\n", r.FinishedAt.Sub(r.StartedAt).Round(1e6), r.APICalls)
	keys := r.Changes.Ops()
	for _, k := range keys {
		fmt.Fprintf(w, "  %-18s %d\n", k, r.Changes[k])
	}
	if len(keys) == 0 {
		fmt.Fprintln(w, "  no changes")
	}
	fmt.Fprintf(w, "  held %d, failed %d, rejected records %d, unowned members %d\n", r.Held, r.Failed, r.RejectedRecords, r.Unowned)
	for _, p := range r.Pacing {
		// Only where pacing mattered: many calls, or a limit WeCom showed.
		if p.Calls < 100 && !p.Learned {
			continue
		}
		learned := ""
		if p.Learned {
			learned = ", learned from a 45009: rate_per_minute is set too high"
		}
		fmt.Fprintf(w, "  pace %-20s %d calls at %.0f/min, %.2f of the limit (%d/min%s)\n", p.API, p.Calls, p.PerMinute, p.Ratio, p.Limit, learned)
	}
	for _, p := range r.SourceProblems {
		fmt.Fprintf(w, "  source problem: %s\n", p)
	}
	if r.Warnings > 0 {
		fmt.Fprintf(w, "  warnings %d (records synced with something left out, e.g. %s)\n", r.Warnings, r.WarningList[0].String())
	}
	for _, a := range r.Attention {
		fmt.Fprintf(w, "  NEEDS ATTENTION: %s\n", a)
	}
	for i, f := range r.Failures {
		if i == 20 {
			fmt.Fprintf(w, "  ... %d more failures (see --output json or 'orgsync history')\n", len(r.Failures)-20)
			break
		}
		fmt.Fprintf(w, "  FAILED %s %s: %s\n", f.Op, f.Object, f.Error)
	}
	if len(r.Pending) > 0 {
		fmt.Fprintf(w, "  pending for the next run: %d (%s)\n", len(r.Pending), r.Pending[0].Error)
	}
	if r.Refusal != "" {
		fmt.Fprintf(w, "  REFUSED: %s\n", r.Refusal)
	}
}

func newHistoryCmd(g *globals) *cobra.Command {
	var cfgPath, object, output string
	var run int64
	var limit int
	cmd := &cobra.Command{
		Use:   "history -c FILE [--run ID] [--object USERID|DEPT] [--limit N]",
		Short: "List past runs, or the audit log of changes (what, when, before, after, result)",
		Example: `  orgsync history -c orgsync.yaml                 # recent runs
  orgsync history -c orgsync.yaml --run 12        # every change of run 12
  orgsync history -c orgsync.yaml --object zhangsan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := context.Background()
			e, _, err := openEngine(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			st := e.Store()
			if run == 0 && object == "" {
				runs, err := st.Runs(ctx, limit)
				if err != nil {
					return withExit(ExitFailed, err)
				}
				if output == "json" {
					writeJSON(g.stdout, runs)
					return nil
				}
				fmt.Fprintf(g.stdout, "%-6s %-20s %-10s %-9s %s\n", "RUN", "STARTED", "DURATION", "STATUS", "CHANGES")
				for _, r := range runs {
					var rep engine.Report
					_ = json.Unmarshal(r.Report, &rep)
					dur := "-"
					if !r.FinishedAt.IsZero() {
						dur = r.FinishedAt.Sub(r.StartedAt).Round(1e6).String()
					}
					fmt.Fprintf(g.stdout, "%-6d %-20s %-10s %-9s %d (held %d, failed %d)\n", r.ID, r.StartedAt.Local().Format("2006-01-02 15:04:05"), dur, r.Status, rep.Changes.Total(), rep.Held, rep.Failed)
				}
				return nil
			}
			es, err := st.Journal(ctx, state.JournalFilter{RunID: run, Object: object, Limit: limit})
			if err != nil {
				return withExit(ExitFailed, err)
			}
			if output == "json" {
				writeJSON(g.stdout, es)
				return nil
			}
			for _, e := range es {
				res := e.Status
				if e.ErrCode != 0 {
					res = fmt.Sprintf("%s (%d)", e.Status, e.ErrCode)
				}
				fmt.Fprintf(g.stdout, "%s run %d %-18s %-24s %s\n", e.StartedAt.Local().Format("2006-01-02 15:04:05"), e.RunID, e.Op, e.Object, res)
				for _, line := range jsonDiff(e.Before, e.After) {
					fmt.Fprintf(g.stdout, "    %s\n", line)
				}
				if e.ErrMsg != "" {
					fmt.Fprintf(g.stdout, "    error:  %s\n", e.ErrMsg)
				}
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().Int64Var(&run, "run", 0, "show the changes of this run")
	cmd.Flags().StringVar(&object, "object", "", "show the changes to this userid or department key")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs or changes")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newExplainCmd(g *globals) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "explain -c FILE PERSON",
		Short: "Explain what orgsync does with one person (by source key or userid) and why",
		Long: `explain reads the sources and WeCom like 'plan' and tells, for one person
given by source key (e.g. 工号) or userid: which record it came from, what
mapping made of it (or why the record was rejected), what orgsync knows of it
in WeCom, and which change the next sync makes and why, or why none.`,
		Example: `  orgsync explain -c orgsync.yaml E00123
  orgsync explain -c orgsync.yaml zhangsan`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			e, _, err := openEngine(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			p, err := e.Prepare(ctx, 0)
			if err != nil {
				return withExit(ExitFailed, err)
			}
			for _, line := range engine.Explain(p, args[0], cfgPath) {
				fmt.Fprintln(g.stdout, line)
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	return cmd
}

// jsonDiff renders a journal entry's before → after as one line per field
// that differs (a create shows every field it set, a delete what it had).
func jsonDiff(before, after json.RawMessage) []string {
	var b, a map[string]any
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &a)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		if k != "origin" {
			sorted = append(sorted, k)
		}
	}
	sort.Strings(sorted)
	show := func(v any) string {
		if v == nil {
			return "-"
		}
		j, _ := json.Marshal(v)
		return string(j)
	}
	var out []string
	for _, k := range sorted {
		bv, av := show(b[k]), show(a[k])
		switch {
		case bv == av:
		case b == nil:
			out = append(out, fmt.Sprintf("%s: %s", k, av))
		case a == nil:
			out = append(out, fmt.Sprintf("%s: %s (was)", k, bv))
		default:
			out = append(out, fmt.Sprintf("%s: %s → %s", k, bv, av))
		}
	}
	return out
}

// writePlanJSON writes what 'plan --output json' prints: the object
// {"changes", "refusal", "rejected", "source_problems"} (keys in the order
// encoding/json gives a map), streamed: the changes one at a time
// (plan.Changes.WriteJSON) and the rejected records one at a time. Compact,
// or with indent laid out as json.MarshalIndent does with two spaces.
func writePlanJSON(w io.Writer, p *engine.Prepared, indent bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	j := jsonWriter{w: bw}
	if indent {
		j.indent = "  "
	}
	bw.WriteByte('{')
	j.key(1, "changes")
	if err := p.Changes.WriteJSON(bw, j.indent, j.indent); err != nil {
		return err
	}
	bw.WriteByte(',')
	j.key(1, "refusal")
	j.value(1, refusalText(p.Refusal))
	bw.WriteByte(',')
	j.key(1, "rejected")
	writeJSONArray(&j, 1, p.Rejected)
	bw.WriteByte(',')
	j.key(1, "source_problems")
	writeJSONArray(&j, 1, p.Problems)
	j.newline(0)
	bw.WriteString("}\n")
	if j.err != nil {
		return j.err
	}
	return bw.Flush()
}

// jsonWriter writes JSON a piece at a time, each value by encoding/json
// (HTML characters not escaped, as writeJSON), keeping the first error.
type jsonWriter struct {
	w      *bufio.Writer
	indent string // "" for compact
	buf    bytes.Buffer
	enc    *json.Encoder
	err    error
}

func (j *jsonWriter) newline(depth int) {
	if j.indent != "" {
		j.w.WriteByte('\n')
		j.w.WriteString(strings.Repeat(j.indent, depth))
	}
}

// key starts the member name at depth.
func (j *jsonWriter) key(depth int, name string) {
	j.newline(depth)
	j.w.WriteString(`"` + name + `":`)
	if j.indent != "" {
		j.w.WriteByte(' ')
	}
}

// value writes v as a value at depth.
func (j *jsonWriter) value(depth int, v any) {
	if j.enc == nil {
		j.enc = json.NewEncoder(&j.buf)
		j.enc.SetEscapeHTML(false)
	}
	j.buf.Reset()
	if j.indent != "" {
		j.enc.SetIndent(strings.Repeat(j.indent, depth), j.indent)
	}
	if err := j.enc.Encode(v); err != nil && j.err == nil {
		j.err = err
	}
	j.w.Write(bytes.TrimSuffix(j.buf.Bytes(), []byte{'\n'}))
}

// writeJSONArray writes l at depth one element at a time: null for nil, as
// encoding/json does.
func writeJSONArray[T any](j *jsonWriter, depth int, l []T) {
	if len(l) == 0 {
		j.value(depth, l)
		return
	}
	j.w.WriteByte('[')
	for i := range l {
		if i > 0 {
			j.w.WriteByte(',')
		}
		j.newline(depth + 1)
		j.value(depth+1, l[i])
	}
	j.newline(depth)
	j.w.WriteByte(']')
}

// readPlan decodes a plan written by 'plan --out' whole (plan.ReadJSON):
// sync --plan needs that only for a file whose members are out of the
// order 'plan --out' writes them (see loadPlan).
func readPlan(r io.Reader) (*plan.Changes, error) { return plan.ReadJSON(r) }
