package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// The held queue, as a run weighs it:
//
//	queue row        the plan's change now          the run
//	(none)           held by the guard              adds a held row with the evidence
//	held             held again                     updates the row (reason, evidence, run)
//	approved         the same change (fingerprint)  lets it through the thresholds; applied once made
//	approved         a different change             holds it again: the row is reopened as held
//	rejected         the same change                drops it from the plan (a notice says so)
//	rejected         a different change             weighs it as new: held again reopens the row
//	held/approved/   not planned at all             the row becomes obsolete
//	rejected
//
// A change's fingerprint is its op, object, fields and before and after
// values without their source locators (a line number that moves in the
// next export does not make another change).

type heldKey struct {
	op     plan.Op
	object string
}

type plannedChange struct {
	user *plan.UserChange
	dept *plan.DeptChange
	fp   string // computed on first use
}

// reviewQueue is the queue's open rows and the guardable changes one plan
// made, before the guard moved any into Held.
type reviewQueue struct {
	open    map[heldKey]state.HeldChange
	planned map[heldKey]*plannedChange
}

// guardable are the lists the guard may hold changes from.
func guardableUsers(c *plan.Changes) []*[]plan.UserChange {
	return []*[]plan.UserChange{&c.UserUpdates, &c.UserMoves, &c.UserDisables, &c.UserDeletes}
}

func guardableDepts(c *plan.Changes) []*[]plan.DeptChange {
	return []*[]plan.DeptChange{&c.DeptUpdates, &c.DeptDeletes}
}

// loadQueue reads the open queue, notes the plan's guardable changes, and
// drops from the plan those an admin rejected as they are.
func (e *Engine) loadQueue(ctx context.Context, c *plan.Changes) (*reviewQueue, error) {
	rows, err := e.store.ListHeld(ctx, state.HeldFilter{Status: state.HeldOpen})
	if err != nil {
		return nil, err
	}
	q := &reviewQueue{open: make(map[heldKey]state.HeldChange, len(rows)), planned: map[heldKey]*plannedChange{}}
	for _, r := range rows {
		q.open[heldKey{plan.Op(r.Op), r.Object}] = r
	}
	for _, l := range guardableUsers(c) {
		for _, u := range *l {
			q.planned[heldKey{u.Op, u.UserID}] = &plannedChange{user: &u}
		}
	}
	for _, l := range guardableDepts(c) {
		for _, d := range *l {
			q.planned[heldKey{d.Op, d.Key}] = &plannedChange{dept: &d}
		}
	}
	if len(rows) == 0 {
		return q, nil
	}
	rejected := func(k heldKey) bool {
		r, ok := q.open[k]
		if ok && r.Status == state.HeldRejected && q.fingerprint(k) == r.Fingerprint {
			c.Notices = append(c.Notices, plan.Notice{Object: k.object,
				Msg: fmt.Sprintf("%s rejected in the held queue (#%d, by %s): not proposed again until the source changes it", k.op, r.ID, r.DecidedBy)})
			return true
		}
		return false
	}
	for _, l := range guardableUsers(c) {
		*l = slices.DeleteFunc(*l, func(u plan.UserChange) bool { return rejected(heldKey{u.Op, u.UserID}) })
	}
	for _, l := range guardableDepts(c) {
		*l = slices.DeleteFunc(*l, func(d plan.DeptChange) bool { return rejected(heldKey{d.Op, d.Key}) })
	}
	return q, nil
}

// User and Dept make the queue the guard's plan.Approval: a change is
// approved when its row is and the plan still makes that very change.
func (q *reviewQueue) User(u plan.UserChange) bool { return q.approved(heldKey{u.Op, u.UserID}) }
func (q *reviewQueue) Dept(d plan.DeptChange) bool { return q.approved(heldKey{d.Op, d.Key}) }

func (q *reviewQueue) approved(k heldKey) bool {
	r, ok := q.open[k]
	return ok && r.Status == state.HeldApproved && q.fingerprint(k) == r.Fingerprint
}

func (q *reviewQueue) fingerprint(k heldKey) string {
	p := q.planned[k]
	if p == nil {
		return ""
	}
	if p.fp == "" {
		p.fp = p.fingerprint()
	}
	return p.fp
}

func (p *plannedChange) fingerprint() string {
	var v any
	if u := p.user; u != nil {
		v = struct {
			Op            plan.Op
			Object        string
			Fields        []string
			Before, After *model.Person
		}{u.Op, model.UserIDKey(u.UserID), u.Fields, withoutOrigin(u.Before), withoutOrigin(u.After)}
	} else {
		d := p.dept
		v = struct {
			Op            plan.Op
			Object        string
			What          []string
			Before, After *model.Department
		}{d.Op, d.Key, d.What, deptWithoutOrigin(d.Before), deptWithoutOrigin(d.After)}
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func withoutOrigin(p *model.Person) *model.Person {
	if p == nil {
		return nil
	}
	cp := *p
	cp.Origin = model.Origin{}
	return &cp
}

func deptWithoutOrigin(d *model.Department) *model.Department {
	if d == nil {
		return nil
	}
	cp := *d
	cp.Origin = model.Origin{}
	return &cp
}

// evidence is the queue row for a planned change the guard held.
func (q *reviewQueue) evidence(k heldKey, reason string) state.HeldChange {
	h := state.HeldChange{Op: string(k.op), Object: k.object, Reason: reason, Fingerprint: q.fingerprint(k)}
	p := q.planned[k]
	switch {
	case p == nil:
		h.Fingerprint = string(k.op) + " " + k.object
	case p.user != nil:
		h.Origin = p.user.Origin.String()
		h.Before, _ = json.Marshal(p.user.Before)
		h.After, _ = json.Marshal(p.user.After)
	default:
		h.Origin = p.dept.Origin.String()
		h.Before, _ = json.Marshal(p.dept.Before)
		h.After, _ = json.Marshal(p.dept.After)
	}
	return h
}

// recordQueue writes what a run (not a dry run) found to the queue: the
// changes it held, and with a refusal every disable and delete it would
// have made, as held; the approved changes it made as applied (res is nil
// when nothing was applied, or the apply stopped as a whole); the rows
// whose change it no longer plans, or made differently within the
// thresholds, as obsolete. A queue that can't be written is logged: the
// run's own outcome stands.
func (e *Engine) recordQueue(ctx context.Context, runID int64, p *Prepared, res *directory.Result) (refused []plan.Held) {
	q := p.queue
	if q == nil || p.Changes == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var holds []state.HeldChange
	for _, h := range p.Changes.Held {
		holds = append(holds, q.evidence(heldKey{h.Op, h.Object}, h.Reason))
	}
	if p.Refusal != nil {
		for _, l := range [][]plan.UserChange{p.Changes.UserDisables, p.Changes.UserDeletes} {
			for _, u := range l {
				if k := (heldKey{u.Op, u.UserID}); !q.approved(k) {
					holds = append(holds, q.evidence(k, "refused: "+p.Refusal.Reason))
					refused = append(refused, plan.Held{Op: u.Op, Object: u.UserID, Reason: "refused: " + p.Refusal.Reason})
				}
			}
		}
	}
	var applied, unheld, obsolete, superseded []int64
	if res != nil {
		notMade := map[heldKey]bool{}
		for _, it := range slices.Concat(res.Failed, res.Pending) {
			notMade[heldKey{it.Op, it.Object}] = true
		}
		made := func(k heldKey) {
			r, ok := q.open[k]
			switch {
			case !ok || notMade[k]:
			case q.approved(k):
				applied = append(applied, r.ID)
			case r.Fingerprint == q.fingerprint(k): // within the thresholds now
				unheld = append(unheld, r.ID)
			default: // another change of the same object, within the thresholds
				superseded = append(superseded, r.ID)
			}
		}
		for _, l := range guardableUsers(p.Changes) {
			for _, u := range *l {
				made(heldKey{u.Op, u.UserID})
			}
		}
		for _, l := range guardableDepts(p.Changes) {
			for _, d := range *l {
				made(heldKey{d.Op, d.Key})
			}
		}
	}
	for k, r := range q.open {
		if q.planned[k] == nil {
			obsolete = append(obsolete, r.ID)
		}
	}
	slices.Sort(obsolete)
	err := e.store.Hold(ctx, runID, holds)
	if err == nil {
		err = e.store.CloseHeld(ctx, runID, applied, state.HeldApplied, "approved, and made by this run")
	}
	if err == nil {
		err = e.store.CloseHeld(ctx, runID, unheld, state.HeldApplied, "made by this run: within the thresholds now")
	}
	if err == nil {
		err = e.store.CloseHeld(ctx, runID, obsolete, state.HeldObsolete, "no longer planned: the source or WeCom changed")
	}
	if err == nil {
		err = e.store.CloseHeld(ctx, runID, superseded, state.HeldObsolete, "superseded: the source changed, and this run made the new change within the thresholds")
	}
	if err != nil {
		e.log.Warn("the held queue could not be updated (the run's outcome stands)", zap.Int64("run_id", runID), zap.Error(err))
	}
	return refused
}

// Limits are the change-volume thresholds the engine's guard applies (the
// review page shows them).
func (e *Engine) Limits() plan.Limits { return e.limits }
