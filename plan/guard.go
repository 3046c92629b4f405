package plan

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/orgsync/orgsync/model"
)

// Threshold is a limit given as a count ("20"), a percentage of the
// managed objects ("5%"), or both ("5% or 20": whichever is larger, so a
// percentage stays sensible in a small company). The zero value means no
// limit.
type Threshold struct {
	Count   int
	Percent float64
	Set     bool
}

// ParseThreshold reads "20", "5%", "5% or 20" or "" (no limit).
func ParseThreshold(s string) (Threshold, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Threshold{}, nil
	}
	bad := fmt.Errorf("threshold %q: want a count like 20, a percentage like 5%%, or both like \"5%% or 20\"", s)
	var t Threshold
	for _, part := range strings.Split(s, " or ") {
		part = strings.TrimSpace(part)
		if p, ok := strings.CutSuffix(part, "%"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || f < 0 || f > 100 || t.Percent != 0 {
				return Threshold{}, bad
			}
			t.Percent = f
		} else {
			n, err := strconv.Atoi(part)
			if err != nil || n < 0 || t.Count != 0 {
				return Threshold{}, bad
			}
			t.Count = n
		}
		t.Set = true
	}
	return t, nil
}

// MustThreshold parses a threshold known to be valid (defaults).
func MustThreshold(s string) Threshold {
	t, err := ParseThreshold(s)
	if err != nil {
		panic(err)
	}
	return t
}

// Limit is the threshold as a count for a scope of total managed objects.
func (t Threshold) Limit(total int) int {
	if !t.Set {
		return math.MaxInt
	}
	return max(t.Count, int(math.Floor(float64(total)*t.Percent/100))) // "0%": nothing allowed
}

func (t Threshold) String() string {
	var parts []string
	if !t.Set {
		return "none"
	}
	if t.Percent > 0 {
		parts = append(parts, strconv.FormatFloat(t.Percent, 'f', -1, 64)+"%")
	}
	if t.Count > 0 || t.Percent == 0 {
		parts = append(parts, strconv.Itoa(t.Count))
	}
	return strings.Join(parts, " or ")
}

// Limits are the change-volume thresholds, one per kind of change.
// Disables and deletes over their limit (per run or per rolling day)
// refuse the run; every other kind over its limit is held for approval
// while the rest of the run goes on.
type Limits struct {
	Disables, Deletes             Threshold // of managed members, per run
	DisablesPerDay, DeletesPerDay Threshold // of managed members, over 24 h across runs
	Moves                         Threshold // members moved, of managed members
	Updates                       Threshold // members whose one field changes, per field
	Clears                        Threshold // members whose one field goes from set to empty, per field
	DeptRenames, DeptMoves        Threshold // of managed departments
	DeptDeletes                   Threshold // of managed departments
}

// Default thresholds for the kinds an admin does not set.
var (
	DefaultMaxMoves             = "10% or 20"
	DefaultMaxUpdates           = "10% or 20"
	DefaultMaxClears            = "5% or 10"
	DefaultMaxDepartmentRenames = "10% or 5"
	DefaultMaxDepartmentMoves   = "10% or 5"
	DefaultMaxDepartmentDeletes = "10% or 5"
	DefaultMaxDisablesPerDay    = "10% or 20"
	DefaultMaxDeletesPerDay     = "50"
)

// GuardInput is what the guard weighs a plan against.
type GuardInput struct {
	// SourceProblems lists why the sources can't be trusted this run
	// (errors, incomplete or shrunk reads, a changed shape, a sentinel
	// missing). Any problem holds every disable, delete, department delete
	// and department rename or move: people missing from a broken read
	// have not left.
	SourceProblems []string
	DesiredPeople  int // people the sources yielded (rejected records included)
	ManagedMembers int // members orgsync owns (the base of percentages)
	ManagedDepts   int // departments orgsync owns
	Limits         Limits
	// RecentDisables and RecentDeletes count what earlier runs did in the
	// 24 hours before this one (the rolling budgets).
	RecentDisables, RecentDeletes int
	// AllowDestructive lets an admin approve one run with up to this many
	// guarded changes (over any threshold) in all (--allow-destructive N).
	AllowDestructive int
	// Approved, when set, names the changes an admin approved one by one
	// in the held queue (and that the plan still makes exactly so). They
	// are weighed against no threshold and never refuse the run; a source
	// problem still holds them, as it holds every disable and delete.
	Approved Approval
}

// Approval tells approved changes from the rest.
type Approval interface {
	User(UserChange) bool
	Dept(DeptChange) bool
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

// Guard checks a plan before any write. It holds changes a suspect source
// would make, holds each other kind of change that exceeds its threshold
// (moving them into Held), and refuses the run (a *RefusedError) when the
// sources are empty or disables or deletes exceed theirs.
func Guard(c *Changes, g GuardInput) error {
	if g.DesiredPeople == 0 {
		return &RefusedError{Err: ErrEmptySource, Reason: "the sources yielded no people; refusing to treat everyone as a leaver (check the HR export / LDAP filter)"}
	}
	if len(g.SourceProblems) > 0 {
		why := "source problem: " + strings.Join(g.SourceProblems, "; ")
		c.holdUsers(&c.UserDisables, func(UserChange) bool { return true }, why)
		c.holdUsers(&c.UserDeletes, func(UserChange) bool { return true }, why)
		c.holdDepts(&c.DeptDeletes, func(DeptChange) bool { return true }, why)
		c.holdDepts(&c.DeptUpdates, func(d DeptChange) bool {
			return !d.Adopt && (slices.Contains(d.What, "name") || slices.Contains(d.What, "parent"))
		}, why)
		c.ForgetMembers, c.ForgetDepts = nil, nil
	}
	if g.Approved != nil {
		defer c.setAsideApproved(g.Approved)()
	}

	over := c.overThresholds(g)
	guarded := c.countGuarded(over)
	l := g.Limits
	dis, del := len(c.UserDisables), len(c.UserDeletes)
	maxDis, maxDel := l.Disables.Limit(g.ManagedMembers), l.Deletes.Limit(g.ManagedMembers)
	dayDis, dayDel := l.DisablesPerDay.Limit(g.ManagedMembers), l.DeletesPerDay.Limit(g.ManagedMembers)
	destructive := dis > maxDis || del > maxDel || g.RecentDisables+dis > dayDis || g.RecentDeletes+del > dayDel
	if destructive {
		guarded += dis + del
	}
	if guarded == 0 || (g.AllowDestructive > 0 && guarded <= g.AllowDestructive) {
		return nil // nothing over a threshold, or the admin approved it all
	}
	if destructive {
		reason := fmt.Sprintf("%d disables (max_disables %s = %d of %d managed members) and %d deletes (max_deletes %s = %d)",
			dis, l.Disables, limitShown(maxDis), g.ManagedMembers, del, l.Deletes, limitShown(maxDel))
		if g.RecentDisables+dis > dayDis || g.RecentDeletes+del > dayDel {
			reason += fmt.Sprintf("; in the last 24 hours earlier runs disabled %d and deleted %d (max_disables_per_day %s = %d, max_deletes_per_day %s = %d)",
				g.RecentDisables, g.RecentDeletes, l.DisablesPerDay, limitShown(dayDis), l.DeletesPerDay, limitShown(dayDel))
		}
		for _, o := range over {
			reason += "; " + o.why
		}
		return &RefusedError{
			Disables: dis, Deletes: del, MaxDisables: l.Disables.String(), MaxDels: l.Deletes.String(), Managed: g.ManagedMembers,
			Reason: reason + fmt.Sprintf("; review with 'orgsync plan', then approve them one by one or by kind with 'orgsync held approve' (or the daemon's /ui/), or the whole run with --allow-destructive %d", guarded),
		}
	}
	holdDeptDeletes := false
	for _, o := range over {
		why := o.why + fmt.Sprintf(": held for approval ('orgsync held approve', the daemon's /ui/, or --allow-destructive %d for the whole run)", guarded)
		c.holdUsers(&c.UserMoves, o.user, why)
		c.holdUsers(&c.UserUpdates, o.user, why)
		c.holdDepts(&c.DeptUpdates, o.dept, why)
		c.holdDepts(&c.DeptDeletes, o.dept, why)
		holdDeptDeletes = holdDeptDeletes || o.kind == "max_moves"
	}
	if holdDeptDeletes {
		// A department may be planned for deletion only because the held
		// moves empty it.
		c.holdDepts(&c.DeptDeletes, func(DeptChange) bool { return true }, "held with the member moves it depends on")
	}
	return nil
}

// overLimit is one kind of change over its threshold, and which changes
// it covers.
type overLimit struct {
	kind  string
	count int
	why   string
	user  func(UserChange) bool
	dept  func(DeptChange) bool
}

// countGuarded counts the distinct changes that some over-threshold kind
// covers (one change may be over two: a mass update that clears a field).
func (c *Changes) countGuarded(over []overLimit) int {
	n := 0
	for _, l := range [][]UserChange{c.UserUpdates, c.UserMoves} {
		for _, u := range l {
			if slices.ContainsFunc(over, func(o overLimit) bool { return o.user(u) }) {
				n++
			}
		}
	}
	for _, l := range [][]DeptChange{c.DeptUpdates, c.DeptDeletes} {
		for _, d := range l {
			if slices.ContainsFunc(over, func(o overLimit) bool { return o.dept(d) }) {
				n++
			}
		}
	}
	return n
}

// clearable are the fields whose going from set to empty is guarded.
var clearable = []string{"alias", "position", "mobile", "email", "biz_mail", "telephone", "direct_leader", "extattr"}

// overThresholds lists the kinds of change (other than disables and
// deletes) that exceed their thresholds.
func (c *Changes) overThresholds(g GuardInput) []overLimit {
	var out []overLimit
	noUser := func(UserChange) bool { return false }
	noDept := func(DeptChange) bool { return false }
	check := func(kind string, t Threshold, total, n int, what string, user func(UserChange) bool, dept func(DeptChange) bool) {
		if lim := t.Limit(total); n > lim {
			out = append(out, overLimit{kind: kind, count: n, user: user, dept: dept,
				why: fmt.Sprintf("%d %s (%s %s = %d of %d)", n, what, kind, t, lim, total)})
		}
	}
	m, d := g.ManagedMembers, g.ManagedDepts
	isMove := func(u UserChange) bool { return u.Op == OpUserMove }
	check("max_moves", g.Limits.Moves, m, len(c.UserMoves), "member moves", isMove, noDept)

	// Clears first: a change over both is held with the more telling reason.
	managedUpdates := slices.Concat(c.UserUpdates, c.UserMoves)
	for _, f := range clearable {
		clears := func(u UserChange) bool {
			return !u.Adopt && u.Before != nil && u.After != nil && slices.Contains(u.Fields, f) && cleared(f, u.Before, u.After)
		}
		n := 0
		for _, u := range managedUpdates {
			if clears(u) {
				n++
			}
		}
		check("max_clears", g.Limits.Clears, m, n, "members whose "+f+" is cleared", clears, noDept)
	}
	for _, f := range allFields {
		if f == "department" {
			continue // moves are weighed above
		}
		changes := func(u UserChange) bool { return !u.Adopt && u.Before != nil && slices.Contains(u.Fields, f) }
		n := 0
		for _, u := range managedUpdates {
			if changes(u) {
				n++
			}
		}
		check("max_updates", g.Limits.Updates, m, n, "members whose "+f+" changes", changes, noDept)
	}
	for _, w := range []struct{ what, kind string }{{"name", "max_department_renames"}, {"parent", "max_department_moves"}} {
		t := g.Limits.DeptRenames
		if w.what == "parent" {
			t = g.Limits.DeptMoves
		}
		has := func(dc DeptChange) bool {
			return dc.Op == OpDeptUpdate && !dc.Adopt && slices.Contains(dc.What, w.what)
		}
		n := 0
		for _, dc := range c.DeptUpdates {
			if has(dc) {
				n++
			}
		}
		what := "department renames"
		if w.what == "parent" {
			what = "department moves"
		}
		check(w.kind, t, d, n, what, noUser, has)
	}
	isDelete := func(dc DeptChange) bool { return dc.Op == OpDeptDelete }
	check("max_department_deletes", g.Limits.DeptDeletes, d, len(c.DeptDeletes), "department deletes", noUser, isDelete)
	if len(c.DeptCreates) > 0 && len(c.DeptDeletes) > 0 && !slices.ContainsFunc(out, func(o overLimit) bool { return o.kind == "max_department_deletes" }) {
		// Deleting a department loses its id, and the department chats
		// and permissions tied to it; creating others in the same run is
		// what a rename that plan could not recognise by its members
		// looks like.
		out = append(out, overLimit{kind: "possible_renames", count: len(c.DeptDeletes), user: noUser, dept: isDelete,
			why: fmt.Sprintf("%d department deletes in a run that also creates %d departments: possibly renamed departments not recognised by their members (a delete loses the department's id, chats and permissions)", len(c.DeptDeletes), len(c.DeptCreates))})
	}
	return out
}

// cleared reports whether field f is set before and empty after.
func cleared(f string, before, after *model.Person) bool {
	get := func(p *model.Person) bool {
		switch f {
		case "alias":
			return p.Alias() != ""
		case "position":
			return p.Position != ""
		case "mobile":
			return p.Mobile != ""
		case "email":
			return p.Email != ""
		case "biz_mail":
			return p.BizMail() != ""
		case "telephone":
			return p.Telephone() != ""
		case "direct_leader":
			return len(p.DirectLeaders) > 0
		case "extattr":
			return len(p.ExtAttrs()) > 0
		}
		return false
	}
	return get(before) && !get(after)
}

// setAsideApproved takes the approved changes out of the lists the
// thresholds weigh, and returns what puts them back, in plan order,
// beside whatever the guard let through.
func (c *Changes) setAsideApproved(a Approval) (restore func()) {
	users := []*[]UserChange{&c.UserUpdates, &c.UserMoves, &c.UserDisables, &c.UserDeletes}
	depts := []*[]DeptChange{&c.DeptUpdates, &c.DeptDeletes}
	origU, origD := make([][]UserChange, len(users)), make([][]DeptChange, len(depts))
	for i, l := range users {
		if slices.ContainsFunc(*l, a.User) {
			origU[i] = slices.Clone(*l)
			*l = slices.DeleteFunc(slices.Clone(*l), a.User)
		}
	}
	for i, l := range depts {
		if slices.ContainsFunc(*l, a.Dept) {
			origD[i] = slices.Clone(*l)
			*l = slices.DeleteFunc(slices.Clone(*l), a.Dept)
		}
	}
	return func() {
		for i, l := range users {
			if origU[i] == nil {
				continue
			}
			kept := map[string]bool{}
			for _, u := range *l {
				kept[u.UserID] = true
			}
			*l = slices.DeleteFunc(origU[i], func(u UserChange) bool { return !kept[u.UserID] && !a.User(u) })
		}
		for i, l := range depts {
			if origD[i] == nil {
				continue
			}
			kept := map[string]bool{}
			for _, d := range *l {
				kept[d.Key] = true
			}
			*l = slices.DeleteFunc(origD[i], func(d DeptChange) bool { return !kept[d.Key] && !a.Dept(d) })
		}
	}
}

func (c *Changes) holdUsers(list *[]UserChange, hold func(UserChange) bool, why string) {
	kept := (*list)[:0]
	for _, u := range *list {
		if hold(u) {
			c.Held = append(c.Held, Held{Op: u.Op, Object: u.UserID, Reason: why})
		} else {
			kept = append(kept, u)
		}
	}
	*list = kept
}

func (c *Changes) holdDepts(list *[]DeptChange, hold func(DeptChange) bool, why string) {
	kept := (*list)[:0]
	for _, d := range *list {
		if hold(d) {
			c.Held = append(c.Held, Held{Op: d.Op, Object: d.Key, Reason: why})
		} else {
			kept = append(kept, d)
		}
	}
	*list = kept
}

func limitShown(n int) int {
	if n == math.MaxInt {
		return -1
	}
	return n
}
