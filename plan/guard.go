package plan

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Threshold is a limit given as a count ("20") or a percentage of managed
// members ("5%"). The zero value means no limit.
type Threshold struct {
	Count   int
	Percent float64
	Set     bool
}

// ParseThreshold reads "20", "5%" or "" (no limit).
func ParseThreshold(s string) (Threshold, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Threshold{}, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 {
			return Threshold{}, fmt.Errorf("threshold %q: want a count like 20 or a percentage like 5%%", s)
		}
		return Threshold{Percent: f, Set: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Threshold{}, fmt.Errorf("threshold %q: want a count like 20 or a percentage like 5%%", s)
	}
	return Threshold{Count: n, Set: true}, nil
}

// Limit is the threshold as a count for a scope of total managed members.
func (t Threshold) Limit(total int) int {
	if !t.Set {
		return math.MaxInt
	}
	if t.Percent > 0 {
		return int(math.Floor(float64(total) * t.Percent / 100))
	}
	return t.Count // also "0%": no destructive change allowed
}

func (t Threshold) String() string {
	switch {
	case !t.Set:
		return "none"
	case t.Percent > 0:
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(t.Count)
}

// GuardInput is what the guard weighs a plan against.
type GuardInput struct {
	// SourceProblems lists why the sources could not be read completely
	// (errors, incomplete batches). Any problem holds every disable and
	// delete: people missing from a broken read have not left.
	SourceProblems []string
	DesiredPeople  int // people the sources yielded (rejected records included)
	ManagedMembers int // members orgsync owns (the base of percentages)
	MaxDisables    Threshold
	MaxDeletes     Threshold
	// AllowDestructive lets an admin approve one run with up to this many
	// disables plus deletes over the thresholds (--allow-destructive N).
	AllowDestructive int
}

// ErrEmptySource is the refusal when the sources yield nobody: an empty
// export is far more likely a broken HR job than a company with no staff.
var ErrEmptySource = errors.New("the sources yielded no people")

// RefusedError is returned when the guard refuses a run: nothing may be
// applied. The CLI exits 3 with its message.
type RefusedError struct {
	Reason               string
	Disables, Deletes    int
	MaxDisables, MaxDels string
	Managed              int
	Err                  error
}

func (e *RefusedError) Error() string { return "refused by the safety guard: " + e.Reason }
func (e *RefusedError) Unwrap() error { return e.Err }

// Guard checks a plan before any write. It holds destructive changes when
// the source is suspect (moving them into Held) and refuses the run (a
// *RefusedError) when the sources are empty or the destructive changes
// exceed the thresholds.
func Guard(c *Changes, g GuardInput) error {
	if g.DesiredPeople == 0 {
		return &RefusedError{Err: ErrEmptySource, Reason: "the sources yielded no people; refusing to treat everyone as a leaver (check the HR export / LDAP filter)"}
	}
	if len(g.SourceProblems) > 0 {
		why := "source problem: " + strings.Join(g.SourceProblems, "; ")
		for _, u := range c.UserDisables {
			c.Held = append(c.Held, Held{Op: u.Op, Object: u.UserID, Reason: why})
		}
		for _, u := range c.UserDeletes {
			c.Held = append(c.Held, Held{Op: u.Op, Object: u.UserID, Reason: why})
		}
		for _, d := range c.DeptDeletes {
			c.Held = append(c.Held, Held{Op: d.Op, Object: d.Key, Reason: why})
		}
		c.UserDisables, c.UserDeletes, c.DeptDeletes = nil, nil, nil
		c.ForgetMembers, c.ForgetDepts = nil, nil
	}
	dis, del := len(c.UserDisables), len(c.UserDeletes)
	maxDis, maxDel := g.MaxDisables.Limit(g.ManagedMembers), g.MaxDeletes.Limit(g.ManagedMembers)
	if dis <= maxDis && del <= maxDel {
		return nil
	}
	if g.AllowDestructive > 0 && dis+del <= g.AllowDestructive {
		return nil
	}
	return &RefusedError{
		Disables: dis, Deletes: del, MaxDisables: g.MaxDisables.String(), MaxDels: g.MaxDeletes.String(), Managed: g.ManagedMembers,
		Reason: fmt.Sprintf("%d disables (max_disables %s = %d of %d managed members) and %d deletes (max_deletes %s = %d); review with 'orgsync plan', then rerun with --allow-destructive %d to approve",
			dis, g.MaxDisables, limitShown(maxDis), g.ManagedMembers, del, g.MaxDeletes, limitShown(maxDel), dis+del),
	}
}

func limitShown(n int) int {
	if n == math.MaxInt {
		return -1
	}
	return n
}
