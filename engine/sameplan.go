package engine

import (
	"bytes"

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

// PlanDigest is plan.Digest: the SHA-256 of a plan's changes as
// Changes.WriteJSON writes them, notices left out, which plan.DigestJSON
// computes from a plan file without holding it. It is nil for a plan that
// cannot be encoded, which matches nothing.
func PlanDigest(c *plan.Changes) []byte {
	sum, err := plan.Digest(c)
	if err != nil {
		return nil
	}
	return sum
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
