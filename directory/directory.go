// Package directory is the boundary between orgsync and a directory it
// keeps in step: WeCom today (directory/wecom), Feishu/Lark, DingTalk or
// SCIM tomorrow. The engine talks to a Directory only; everything one
// directory's API needs — its client, errcodes, idempotent fallbacks,
// pacing, the reads its restrictions leave open — lives behind it.
//
// In the spirit of external-dns's provider: Load reads the current
// directory as plan.Current, Apply makes a plan's changes with a journal,
// Adopt answers the lookups adoption rules need. Every implementation runs
// the suite in directory/conformance against its own test server.
package directory

import (
	"context"
	"errors"
	"time"

	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// Directory is one directory orgsync keeps.
type Directory interface {
	// Load reads the directory's current state: the managed scope's
	// departments and members, and what outside it constrains it (ids
	// used elsewhere, members outside the scope). It never returns a
	// partial state: an error fails the run.
	Load(ctx context.Context) (plan.Current, error)
	// Apply makes the changes in DESIGN order, journaling every call before
	// and after it (with the shadow mutation of a call that succeeded, in
	// the same journal write). Per-item failures are in Result; err is set
	// only when the apply stopped as a whole (ErrAborted).
	Apply(ctx context.Context, ch *plan.Changes, j Journal, o ApplyOptions) (Result, error)
	// Adopt finds pre-existing members that adopt rules (by mobile, by
	// email) assign to desired people who are neither managed nor in the
	// directory under their userid: person key → the member's userid.
	Adopt(ctx context.Context, desired model.Org, shadow *state.Shadow, cur plan.Current, by AdoptBy) (map[string]string, error)
	// Check proves access for 'orgsync validate': a line saying what was
	// seen, or an error saying what to fix.
	Check(ctx context.Context) (string, error)
	// Calls counts every API request made so far (answered or not).
	Calls() int
}

// AdoptBy says which lookups adoption may make.
type AdoptBy struct {
	Mobile, Email bool
}

// Journal is the part of the state store Apply writes to: every call is
// journaled before (Begin) and after (Finish, with the shadow mutation of
// a successful call, in one transaction); ApplyAll writes mutations that
// need no call (re-keying, forgetting objects gone from the directory).
type Journal interface {
	Begin(ctx context.Context, runID int64, op, object string, before, after any) (int64, error)
	Finish(ctx context.Context, entryID int64, status string, errcode int, errmsg string, mut state.Mutation) error
	ApplyAll(ctx context.Context, muts []state.Mutation) error
}

// ApplyOptions are one run's settings for Apply.
type ApplyOptions struct {
	RunID int64
	// Shadow is the store's shadow as loaded for the plan; Apply keeps it
	// current in memory so that successive changes to one member compose.
	Shadow *state.Shadow
	Now    func() time.Time
	// Progress, when set, is called after each change with the number
	// done (succeeded or failed) and the total.
	Progress func(done, total int)
	// Stop, when closed, ends the apply at the next change boundary: calls
	// in flight finish and are journaled; the rest is reported pending.
	Stop <-chan struct{}
}

// ItemResult is the outcome of one change that did not succeed.
type ItemResult struct {
	Op     plan.Op `json:"op"`
	Object string  `json:"object"`
	Code   int     `json:"errcode,omitempty"` // the directory's error code, when it gave one
	Error  string  `json:"error"`
}

// Result is what an apply did.
type Result struct {
	Done    map[plan.Op]int `json:"done"`
	Failed  []ItemResult    `json:"failed,omitempty"`
	Pending []ItemResult    `json:"pending,omitempty"` // not attempted, or outcome unknown: the next run settles or makes them
	// Pacing is, per API the apply called, how fast it went against the
	// directory's limit (a directory without limits leaves it empty).
	Pacing []Pace `json:"pacing,omitempty"`
}

// Pace is one API's achieved rate in an apply.
type Pace struct {
	API       string  `json:"api"`
	Calls     int     `json:"calls"` // attempts, retries included
	PerMinute float64 `json:"per_minute"`
	Limit     int     `json:"limit_per_minute"`        // the limit paced against
	Learned   bool    `json:"limit_learned,omitempty"` // the limit is lower than configured: the directory refused calls over it
	Ratio     float64 `json:"ratio"`                   // PerMinute / Limit
}

// ErrAborted wraps the error that stopped an apply as a whole (a
// configuration error such as a revoked secret, or a journal failure).
var ErrAborted = errors.New("apply aborted")
