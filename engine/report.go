package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/plan"
)

// Report is the outcome of one run; `--output json` prints it and the state
// store keeps it. Its top-level shape is a stable interface for scripts.
type Report struct {
	RunID           int64        `json:"run_id"`
	Status          string       `json:"status"` // succeeded | failed | refused
	DryRun          bool         `json:"dry_run,omitempty"`
	StartedAt       time.Time    `json:"started_at"`
	FinishedAt      time.Time    `json:"finished_at"`
	Changes         ChangeCounts `json:"changes"` // applied (planned, for a dry run) per op
	Held            int          `json:"held"`
	Failed          int          `json:"failed"`
	RejectedRecords int          `json:"rejected_records"` // records, not problems (a record may have several)
	Warnings        int          `json:"warnings"`         // records synced with something left out
	APICalls        int          `json:"api_calls"`
	// Pacing is, per WeCom API the apply called, its achieved rate
	// against the limit (one learned from a 45009 when rate_per_minute
	// was set too high).
	Pacing        []directory.Pace `json:"pacing,omitempty"`
	Unowned       int              `json:"unowned_members"`
	Settled       int              `json:"settled_pending,omitempty"`
	SourceRecords map[string]int   `json:"source_records"`
	// Sources is each source's shape, the baseline of later runs' shrink,
	// encoding and column checks.
	Sources        map[string]SourceShape `json:"sources,omitempty"`
	SourceProblems []string               `json:"source_problems,omitempty"`
	Refusal        string                 `json:"refusal,omitempty"`
	Error          string                 `json:"error,omitempty"`
	// Attention says why a run that finished needs an admin (status
	// needs_attention): held changes, rejected records, source problems,
	// calls whose outcome the next run settles.
	Attention []string `json:"attention,omitempty"`

	HeldChanges []plan.Held            `json:"held_changes,omitempty"`
	Failures    []directory.ItemResult `json:"failures,omitempty"`
	Pending     []directory.ItemResult `json:"pending,omitempty"`
	Rejected    []mapping.RecordError  `json:"rejected,omitempty"`
	WarningList []mapping.Warning      `json:"warning_list,omitempty"`

	Plan *plan.Changes `json:"-"`
}

// ChangeCounts counts changes per op (the report's "changes").
type ChangeCounts map[string]int

// Total is the number of changes of every op.
func (c ChangeCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Ops lists the ops with at least one change, sorted.
func (c ChangeCounts) Ops() []string {
	var ops []string
	for op, n := range c {
		if n > 0 {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	return ops
}

// NonZero is c without its zero counts.
func (c ChangeCounts) NonZero() ChangeCounts {
	out := ChangeCounts{}
	for _, op := range c.Ops() {
		out[op] = c[op]
	}
	return out
}

// maxListed bounds the per-item lists kept in a report.
const maxListed = 200

func (r *Report) fill(p *Prepared) {
	for _, op := range plan.AllOps {
		r.Changes[string(op)] = 0
	}
	r.Plan = p.Changes
	r.Held = len(p.Changes.Held)
	r.HeldChanges = head(p.Changes.Held)
	r.RejectedRecords = mapping.RejectedRecords(p.Rejected)
	r.Warnings = len(p.Warnings)
	r.WarningList = head(p.Warnings)
	r.Rejected = head(p.Rejected)
	r.Unowned = p.Changes.Unowned
	r.SourceRecords = p.Records
	r.SourceProblems = p.Problems
	r.Sources = p.Shapes
	if len(p.Problems) > 0 && !p.Approved {
		for name, sh := range r.Sources {
			sh.Clean = false // a suspect run is no baseline, unless an admin approved it
			r.Sources[name] = sh
		}
	}
}

// settledStatus is the status of a run that finished without failing:
// succeeded, or needs_attention with the reasons in Attention.
func (r *Report) settledStatus() string {
	r.Attention = nil
	if r.Held > 0 {
		r.Attention = append(r.Attention, fmt.Sprintf("%d changes held by the safety guard (see held_changes)", r.Held))
	}
	if r.RejectedRecords > 0 {
		r.Attention = append(r.Attention, fmt.Sprintf("%d source records rejected (see rejected); their members are left as they are", r.RejectedRecords))
	}
	if len(r.SourceProblems) > 0 {
		r.Attention = append(r.Attention, fmt.Sprintf("%d source problems: %s", len(r.SourceProblems), strings.Join(r.SourceProblems, "; ")))
	}
	if len(r.Pending) > 0 {
		r.Attention = append(r.Attention, fmt.Sprintf("%d changes not finished (see pending); the next run settles or makes them", len(r.Pending)))
	}
	if len(r.Attention) > 0 {
		return StatusAttention
	}
	return StatusSucceeded
}

func head[T any](s []T) []T {
	if len(s) > maxListed {
		return s[:maxListed]
	}
	return s
}
