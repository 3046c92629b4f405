package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/state"
)

// DefaultMaxShrink is how much smaller than at its last good read a source
// may come back before the run treats it as broken.
const DefaultMaxShrink = "5% or 10"

// SourceShape is what one source's read looked like. A run keeps it in its
// report, so the next run can tell a source that shrank sharply, changed
// encoding or lost columns (a truncated, re-encoded or re-headed export)
// from an ordinary day.
type SourceShape struct {
	Records  int      `json:"records"`
	Encoding string   `json:"encoding,omitempty"`
	Columns  []string `json:"columns,omitempty"`
	// Clean: read without any problem, or approved by an admin; only a
	// clean shape is a baseline for later runs.
	Clean bool `json:"clean"`
}

// protectRejected returns the keys and userids whose members a rejected
// record protects, tied by every identifier the record still has (its
// key, userid, mobile or email matched against the shadow), and how many
// rejected records could be tied to nothing at all.
func protectRejected(rejected []mapping.RecordError, shadow *state.Shadow) (map[string]bool, int) {
	protected := map[string]bool{}
	if len(rejected) == 0 {
		return protected, 0
	}
	byMobile, byEmail := map[string]string{}, map[string]string{}
	for k, m := range shadow.Members {
		if m.Person.Mobile != "" {
			byMobile[m.Person.Mobile] = k
		}
		if m.Person.Email != "" {
			byEmail[strings.ToLower(m.Person.Email)] = k
		}
	}
	// A record is tied if any of its problems names an identifier that
	// finds its member (or, for key and userid, could: a new hire has no
	// member yet). A record with only a mobile or email that matches no
	// member may be anyone whose details changed: it is untied.
	tied := map[model.Origin]bool{}
	seen := map[model.Origin]bool{}
	for _, r := range rejected {
		if r.Kind == mapping.KindDepartment {
			continue // a department-table row names no member
		}
		seen[r.Origin] = true
		if r.Key != "" {
			protected[r.Key] = true
			tied[r.Origin] = true
		}
		if r.UserID != "" {
			protected[model.UserIDKey(r.UserID)] = true
			tied[r.Origin] = true
		}
		if k, ok := byMobile[r.Mobile]; ok && r.Mobile != "" {
			protected[k] = true
			tied[r.Origin] = true
		}
		if k, ok := byEmail[strings.ToLower(r.Email)]; ok && r.Email != "" {
			protected[k] = true
			tied[r.Origin] = true
		}
	}
	return protected, len(seen) - len(tied)
}

// sentinelProblems names each policy.sentinels entry (a userid or source
// key) that the sources did not yield: its absence means the read is
// wrong, not that the person left.
func (e *Engine) sentinelProblems(desired model.Org, rejected []mapping.RecordError) []string {
	if len(e.cfg.Policy.Sentinels) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, p := range desired.People {
		seen[model.UserIDKey(p.UserID)], seen[p.Key] = true, true
	}
	for _, r := range rejected {
		seen[model.UserIDKey(r.UserID)], seen[r.Key] = true, true
	}
	var out []string
	for _, s := range e.cfg.Policy.Sentinels {
		if !seen[s] && !seen[model.UserIDKey(s)] {
			out = append(out, fmt.Sprintf("sentinel %q is missing from the sources (policy.sentinels): treated as a source outage", s))
		}
	}
	return out
}

// shapeProblems compares each source's read with its last clean read: a
// record count down by more than max_shrink, another encoding, or columns
// gone mean the export is truncated, re-encoded or re-headed.
func (e *Engine) shapeProblems(ctx context.Context, p *Prepared) ([]string, error) {
	base, err := e.lastCleanShapes(ctx, p.Shapes)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, sh := range p.Shapes {
		b, ok := base[name]
		if !ok {
			continue
		}
		if lim := e.shrink.Limit(b.shape.Records); b.shape.Records-sh.Records > lim {
			out = append(out, fmt.Sprintf("%s: %d records, %d fewer than the %d of its last good read (run %d), more than max_shrink %s = %d: the export looks truncated",
				name, sh.Records, b.shape.Records-sh.Records, b.shape.Records, b.run, e.shrink, lim))
		}
		if sh.Encoding != "" && b.shape.Encoding != "" && encodingFamily(sh.Encoding) != encodingFamily(b.shape.Encoding) {
			out = append(out, fmt.Sprintf("%s: decoded as %s, but as %s at its last good read (run %d): the export looks re-encoded", name, sh.Encoding, b.shape.Encoding, b.run))
		}
		var gone []string
		for _, c := range b.shape.Columns {
			if !slices.Contains(sh.Columns, c) {
				gone = append(gone, c)
			}
		}
		if len(gone) > 0 && len(sh.Columns) > 0 {
			out = append(out, fmt.Sprintf("%s: columns %s are gone since its last good read (run %d): the export looks re-headed", name, strings.Join(gone, ", "), b.run))
		}
	}
	slices.Sort(out)
	return out, nil
}

type baseline struct {
	shape SourceShape
	run   int64
}

// lastCleanShapes finds, for each source, its shape in the newest recent
// run that read it cleanly.
func (e *Engine) lastCleanShapes(ctx context.Context, want map[string]SourceShape) (map[string]baseline, error) {
	out := map[string]baseline{}
	runs, err := e.store.Runs(ctx, 30)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if len(out) == len(want) {
			break
		}
		if r.Status != StatusSucceeded && r.Status != StatusAttention || len(r.Report) == 0 {
			continue
		}
		var rep struct {
			Sources map[string]SourceShape `json:"sources"`
		}
		if json.Unmarshal(r.Report, &rep) != nil {
			continue
		}
		for name, sh := range rep.Sources {
			if _, done := out[name]; !done && sh.Clean {
				if _, wanted := want[name]; wanted {
					out[name] = baseline{shape: sh, run: r.ID}
				}
			}
		}
	}
	return out, nil
}

// encodingFamily folds encodings that read the same text: GB18030 is a
// superset of GBK, so a config switched from auto (gb18030) to gbk is not a
// re-encoded export.
func encodingFamily(enc string) string {
	switch strings.ToLower(enc) {
	case "gbk", "gb18030", "gb2312":
		return "gb"
	}
	return strings.ToLower(enc)
}
