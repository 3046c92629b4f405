package engine

import (
	"bytes"
	"crypto/sha256"

	"github.com/orgsync/orgsync/plan"
)

// drifted reports whether a run given a reviewed plan (Options.Plan or
// Options.PlanSum) must refuse because the fresh plan differs from it.
func (o Options) drifted(fresh *plan.Changes) bool {
	switch {
	case o.PlanSum != nil:
		return !bytes.Equal(o.PlanSum, PlanDigest(fresh))
	case o.Plan != nil:
		return !samePlan(o.Plan, fresh)
	}
	return false
}

// PlanDigest is the SHA-256 of a plan's changes as Changes.WriteJSON
// writes them, notices left out; nil for a plan that cannot be encoded.
func PlanDigest(c *plan.Changes) []byte {
	cp := *c
	cp.Notices = nil
	h := sha256.New()
	if err := cp.WriteJSON(h, "", ""); err != nil {
		return nil // a plan that cannot be encoded matches nothing
	}
	return h.Sum(nil)
}

// samePlan reports whether a reviewed plan equals a fresh one in every
// change (notices aside): whether their JSON is the same. The JSON writes
// struct fields in order and sorts map keys, so equal plans encode to equal
// bytes; each is hashed as it is written (plan.Changes.WriteJSON) rather
// than held whole, which for 100k changes is two copies of 60 MB.
func samePlan(a, b *plan.Changes) bool {
	x, y := PlanDigest(a), PlanDigest(b)
	return x != nil && bytes.Equal(x, y)
}
