// Package plan computes the smallest correct set of changes that makes WeCom
// match the sources, and guards it.
//
// Calculate compares three things:
//   - desired: what mapping made of the sources;
//   - shadow: what orgsync last applied, and what it owns (state store);
//   - current: what WeCom holds now, as far as the 2022 read restrictions let
//     us see it: member ↔ department rows (user/list_id) and the department
//     tree (department/simplelist).
//
// Fields are compared against the shadow (WeCom may not let us read them),
// existence and membership against current, so a no-change night makes no
// write call and a member moved or deleted by hand is put back.
//
// Example rows (policy: mode sync, leavers disable, delete_after 720h):
//
//	desired          shadow                current          change
//	zhangsan 研发    –                     –                user_create
//	zhangsan 研发    zhangsan 研发          zhangsan 研发     none
//	zhangsan 销售    zhangsan 研发          zhangsan 研发     user_move
//	zhangsan 研发    zhangsan 研发          zhangsan 销售     user_move (put back)
//	zhangsan mobile2 zhangsan mobile1      zhangsan         user_update [mobile]
//	zhangsan 研发    zhangsan 研发          –                user_create (re-create)
//	–                lisi enabled          lisi             user_disable
//	–                lisi disabled 31d ago lisi             user_delete
//	lisi enabled     lisi disabled         lisi             user_enable (rehire)
//	–                –                     wangwu           none: not owned (Unowned++)
//	wangwu           –                     wangwu           none, or adopt with adopt: [userid]
//	rejected record  lisi                  lisi             none: protected
package plan

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orgsync/orgsync/model"
)

// Mode limits which kinds of change a run may make.
type Mode string

const (
	ModeSync       Mode = "sync"        // everything
	ModeUpsertOnly Mode = "upsert-only" // creates and updates; no disables or deletes
	ModeCreateOnly Mode = "create-only" // creates only
)

// Policy is the admin's choice of what orgsync may do.
type Policy struct {
	Mode             Mode
	Leavers          string        // "disable" (default) or "delete"
	DeleteAfter      time.Duration // a member disabled as a leaver this long is deleted (0 = never)
	AdoptUserID      bool          // adopt pre-existing WeCom members whose userid matches
	AdoptDepartments bool          // adopt pre-existing departments whose name matches under the same parent (names need full reads)
	RenameShare      float64       // share of people that makes a vanished and a new department one (0 = DefaultRenameShare)
	Protected        []string      // userids never changed
	RootDepartmentID int           // the managed scope; 1 = the whole corp
}

// CurrentDept is a department as WeCom reports it.
type CurrentDept struct {
	ID, ParentID int
	Order        uint32
	Name         string // "" when details cannot be read (48009)
}

// CurrentMember is a member as user/list_id reports it.
type CurrentMember struct {
	UserID      string
	Departments []int
}

// Current is WeCom's state within the managed scope, and what of the rest
// of the corp constrains it.
type Current struct {
	Departments map[int]CurrentDept       // the managed scope, including its root
	Members     map[string]*CurrentMember // by model.UserIDKey: members in the scope
	// Outside holds members that exist in WeCom only outside the managed
	// scope (by model.UserIDKey): their userids can't be created, and they
	// are never written unless an adopt rule takes them over.
	Outside map[string]*CurrentMember
	// MaxDeptID is the largest department id in the whole corp: ids are
	// unique corp-wide, so new ones are allocated above it.
	MaxDeptID int
}

// Input is everything Calculate needs.
type Input struct {
	Desired model.Org
	Current Current
	Shadow  *Shadow
	// Protected holds the keys and userids of records that mapping rejected:
	// their members are left exactly as they are.
	Protected map[string]bool
	// AdoptMatches maps a person key to the userid of a pre-existing WeCom
	// member that an adopt rule (mobile, email) matched.
	AdoptMatches map[string]string
	Policy       Policy
	Now          time.Time
}

// Calculate returns the changes that make WeCom match Desired within the
// policy. It never returns a change to a member or department that orgsync
// does not own, unless an adopt rule takes it over.
func Calculate(in Input) *Changes { return calculate(in, false) }

// calculate is Calculate; noShortcut makes it take the long way where a
// shortcut gives the same answer (tests compare the two).
func calculate(in Input, noShortcut bool) *Changes {
	c := &calc{in: in, ch: &Changes{}, noShortcut: noShortcut}
	if c.in.Shadow == nil {
		c.in.Shadow = &Shadow{Members: map[string]*ShadowMember{}, Departments: map[string]*ShadowDept{}}
	}
	c.protected = map[string]bool{}
	for _, u := range in.Policy.Protected {
		c.protected[model.UserIDKey(u)] = true
	}
	c.rekeyShadow()
	c.departments()
	c.orderRenames()
	c.members()
	c.deptDeletes()
	c.sort()
	return c.ch
}

type calc struct {
	in        Input
	ch        *Changes
	protected map[string]bool
	// deptID resolves a department key to its WeCom id (0 while it is
	// created in this run: apply resolves it then).
	deptID map[string]int
	// nextID is the next id orgsync assigns to a department it creates.
	nextID int
	// movedOut counts, per department id, members this plan takes out of it.
	movedOut map[int]int
	// desiredSub and currentSub hold, per department, the userid keys in
	// its subtree (built on first use by matchByMembers).
	desiredSub map[string]map[string]bool
	currentSub map[int]map[string]bool
	// renamed holds, per desired department key recognised as a managed
	// department under a new key, how it was matched.
	renamed map[string]string
	// byRule[i] is the shadow member under desired person i's userid (nil
	// when there is none): looked up once for rename detection and the
	// member diff, which at 1M people is a million lookups in a map of
	// strings fewer. Built on first use (shadowOf).
	byRule []*ShadowMember
	// noShortcut makes matchRenames build the subtrees even when
	// sameSubtrees shows the answer, and members make its passes over
	// leavers and unowned members even when the counts show there are none
	// (tests compare the two).
	noShortcut bool
}

// shadowOf returns the shadow member under desired person i's userid.
func (c *calc) shadowOf(i int) *ShadowMember {
	if c.byRule == nil {
		people, members := c.in.Desired.People, c.in.Shadow.Members
		c.byRule = make([]*ShadowMember, len(people))
		for j := range people {
			c.byRule[j] = members[model.UserIDKey(people[j].UserID)]
		}
	}
	return c.byRule[i]
}

func (c *calc) allows(op Op) bool {
	switch c.in.Policy.Mode {
	case ModeCreateOnly:
		return op == OpDeptCreate || op == OpUserCreate
	case ModeUpsertOnly:
		return op != OpUserDisable && op != OpUserDelete && op != OpDeptDelete
	}
	return true
}

func (c *calc) add(list *[]UserChange, ch UserChange) {
	if !c.allows(ch.Op) {
		c.ch.Notices = append(c.ch.Notices, Notice{Object: ch.UserID, Msg: fmt.Sprintf("%s not made: mode %s (%s)", ch.Op, c.in.Policy.Mode, ch.Reason)})
		return
	}
	*list = append(*list, ch)
}

func (c *calc) root() int {
	if c.in.Policy.RootDepartmentID == 0 {
		return 1
	}
	return c.in.Policy.RootDepartmentID
}

func (c *calc) departments() {
	sh := c.in.Shadow
	cur := c.in.Current.Departments
	c.deptID = make(map[string]int, len(c.in.Desired.Departments))
	c.movedOut = map[int]int{}
	maxID := max(1, c.in.Current.MaxDeptID)
	for id := range cur {
		maxID = max(maxID, id)
	}
	for _, d := range sh.Departments {
		maxID = max(maxID, d.Department.ID)
	}
	c.nextID = maxID + 1

	// Known ids first, so that parents resolve regardless of order.
	for _, d := range c.in.Desired.Departments {
		if s := sh.Departments[d.Key]; s != nil {
			if _, ok := cur[s.Department.ID]; ok {
				c.deptID[d.Key] = s.Department.ID
			}
		}
	}
	// Top-down, so that a parent created in this run has its id before its
	// children are planned.
	desired := slices.Clone(c.in.Desired.Departments)
	depth := deptDepths(desired)
	sort.SliceStable(desired, func(i, j int) bool {
		di, dj := depth[desired[i].Key], depth[desired[j].Key]
		if di != dj {
			return di < dj
		}
		return desired[i].Key < desired[j].Key
	})
	// name → id of current departments under a parent, for adoption when
	// names are readable.
	type sibling struct {
		parent int
		name   string
	}
	byParentName := map[sibling]int{}
	ownedIDs := map[int]bool{}
	for _, d := range sh.Departments {
		ownedIDs[d.Department.ID] = true
	}
	for id, d := range cur {
		if d.Name != "" && !ownedIDs[id] {
			byParentName[sibling{d.ParentID, d.Name}] = id
		}
	}
	for i := range desired {
		d := desired[i]
		want := d
		parentID := c.root()
		if d.ParentKey != "" {
			parentID = c.deptID[d.ParentKey] // 0 if created in this run
		}
		want.ParentID = parentID
		s := sh.Departments[d.Key]
		if s != nil {
			if cd, ok := cur[s.Department.ID]; ok {
				want.ID = s.Department.ID
				var what []string
				if d.Name != s.Department.Name {
					what = append(what, "name")
				}
				if parentID == 0 || cd.ParentID != parentID {
					what = append(what, "parent")
				}
				if d.Order != s.Department.Order || (d.Order != 0 && cd.Order != d.Order) {
					what = append(what, "order")
				}
				if len(what) > 0 {
					before := s.Department
					reason := deptReason(what)
					if how, ok := c.renamed[d.Key]; ok {
						reason += ": " + how
					}
					c.ch.DeptUpdates = append(c.ch.DeptUpdates, DeptChange{Op: OpDeptUpdate, Key: d.Key, ID: want.ID, Before: &before, After: &want, What: what, Reason: reason, Origin: d.Origin})
				}
				continue
			}
		}
		if id, ok := byParentName[sibling{parentID, d.Name}]; ok && parentID != 0 && !c.in.Policy.AdoptDepartments {
			// Creating it would clash (60008), and it is not ours.
			c.ch.Notices = append(c.ch.Notices, Notice{Object: d.Key, Msg: fmt.Sprintf("a department named %q already exists under the same parent (id %d) and orgsync does not own it: not created, left as is (add `adopt: [departments]` to take it over)", d.Name, id)})
			continue
		}
		if parentID != 0 {
			if id, ok := byParentName[sibling{parentID, d.Name}]; ok {
				want.ID = id
				c.deptID[d.Key] = id
				delete(byParentName, sibling{parentID, d.Name})
				reason := "adopt the existing department of the same name"
				var what []string
				if d.Order != 0 && cur[id].Order != d.Order {
					what = append(what, "order")
				}
				c.ch.DeptUpdates = append(c.ch.DeptUpdates, DeptChange{Op: OpDeptUpdate, Key: d.Key, ID: id, After: &want, What: what, Adopt: true, Reason: reason, Origin: d.Origin})
				continue
			}
		}
		if parentID != 0 && c.in.Policy.AdoptDepartments {
			if id, score, total, ok := c.matchByMembers(d.Key, parentID, ownedIDs); ok {
				// Names can't be read (restricted reads), but the members
				// can: the existing department holding most of this one's
				// people is this department (a lost state store, a first
				// run over a hand-made tree).
				want.ID = id
				c.deptID[d.Key] = id
				ownedIDs[id] = true
				var what []string
				if d.Order != 0 && cur[id].Order != d.Order {
					what = append(what, "order")
				}
				c.ch.DeptUpdates = append(c.ch.DeptUpdates, DeptChange{Op: OpDeptUpdate, Key: d.Key, ID: id, After: &want, What: what, Adopt: true,
					Reason: fmt.Sprintf("adopt the existing department whose members match (%d of %d)", score, total), Origin: d.Origin})
				continue
			}
		}
		reason := "new in the source"
		if s != nil {
			reason = "missing from WeCom (deleted by hand?): re-create"
			c.ch.ForgetDepts = append(c.ch.ForgetDepts, d.Key)
		}
		want.ID = c.nextID
		c.nextID++
		if !c.allows(OpDeptCreate) {
			continue
		}
		c.ch.DeptCreates = append(c.ch.DeptCreates, DeptChange{Op: OpDeptCreate, Key: d.Key, ID: want.ID, After: &want, Reason: reason, Origin: d.Origin})
	}
}

// matchByMembers finds the unowned current department under parentID
// whose subtree holds most of the people the desired department key's
// subtree holds: more than half of the larger of the two sets, and
// strictly more than any other candidate.
func (c *calc) matchByMembers(key string, parentID int, owned map[int]bool) (id, score, total int, ok bool) {
	if c.desiredSub == nil {
		c.desiredSub, c.currentSub = map[string]map[string]bool{}, map[int]map[string]bool{}
		parent := map[string]string{}
		for _, d := range c.in.Desired.Departments {
			parent[d.Key] = d.ParentKey
		}
		for _, p := range c.in.Desired.People {
			for _, k := range p.Departments {
				for n := 0; k != "" && n < 64; n++ {
					if c.desiredSub[k] == nil {
						c.desiredSub[k] = map[string]bool{}
					}
					c.desiredSub[k][model.UserIDKey(p.UserID)] = true
					k = parent[k]
				}
			}
		}
		for uk, m := range c.in.Current.Members {
			for _, d := range m.Departments {
				for n := 0; d != 0 && n < 64; n++ {
					if c.currentSub[d] == nil {
						c.currentSub[d] = map[string]bool{}
					}
					c.currentSub[d][uk] = true
					cd, ok := c.in.Current.Departments[d]
					if !ok || cd.ParentID == d {
						break
					}
					d = cd.ParentID
				}
			}
		}
	}
	want := c.desiredSub[key]
	if len(want) == 0 {
		return 0, 0, 0, false
	}
	best, second := 0, 0
	for cid, cd := range c.in.Current.Departments {
		if cd.ParentID != parentID || cid == parentID || owned[cid] {
			continue
		}
		n := 0
		for u := range c.currentSub[cid] {
			if want[u] {
				n++
			}
		}
		switch {
		case n > best:
			second, best, id = best, n, cid
		case n > second:
			second = n
		}
	}
	total = max(len(want), len(c.currentSub[id]))
	if best == 0 || best*2 <= total || second == best {
		return 0, 0, 0, false
	}
	return id, best, len(want), true
}

// deptDepths returns each department's depth below the managed root by
// following ParentKey (keys need not be paths when departments come from a
// table). A parent cycle is cut at 64 levels; mapping rejects cycles.
func deptDepths(ds []model.Department) map[string]int {
	parent := make(map[string]string, len(ds))
	for _, d := range ds {
		parent[d.Key] = d.ParentKey
	}
	depth := make(map[string]int, len(ds))
	var walk func(k string, n int) int
	walk = func(k string, n int) int {
		if k == "" || n > 64 {
			return 0
		}
		if d, ok := depth[k]; ok {
			return d
		}
		d := 1 + walk(parent[k], n+1)
		depth[k] = d
		return d
	}
	for _, d := range ds {
		walk(d.Key, 0)
	}
	return depth
}

func deptReason(what []string) string {
	parts := make([]string, len(what))
	for i, w := range what {
		switch w {
		case "name":
			parts[i] = "renamed"
		case "parent":
			parts[i] = "moved"
		case "order":
			parts[i] = "reordered"
		}
	}
	return strings.Join(parts, ", ") + " in the source"
}

// currentDeptKeys turns a member's current department ids into keys; ids
// orgsync does not manage become "#ID" so they never equal a desired key.
func currentDeptKeys(ids []int, byID map[int]string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if k, ok := byID[id]; ok {
			out = append(out, k)
		} else {
			out = append(out, fmt.Sprintf("#%d", id))
		}
	}
	sort.Strings(out)
	return out
}

// sameDepartments reports whether a member's current department ids are the
// desired keys, in any order. One department each, the common case, needs
// no sorted copies.
func sameDepartments(keys []string, ids []int, byID map[int]string) bool {
	if len(keys) == 1 && len(ids) == 1 {
		k, ok := byID[ids[0]]
		if !ok {
			k = fmt.Sprintf("#%d", ids[0])
		}
		return k == keys[0]
	}
	return slices.Equal(sortedCopy(keys), currentDeptKeys(ids, byID))
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func (c *calc) members() {
	sh := c.in.Shadow
	cur := c.in.Current.Members
	byID := sh.DeptKeyByID()
	// A managed member is found by userid or, failing that, by source key:
	// WeCom userids cannot change, so a person adopted under another userid,
	// or whose userid rule changed, keeps the userid WeCom has.
	// byKey is built on the first person the shadow does not know by
	// userid: never on a quiet night, where it would be a map of every
	// managed member (1M entries, 50 MB at 1M) built to be read by no one.
	var byKey map[string]*ShadowMember
	byKeyOf := func(key string) *ShadowMember {
		if byKey == nil {
			byKey = make(map[string]*ShadowMember, len(sh.Members))
			for _, m := range sh.Members {
				if m.Person.Key != "" {
					byKey[m.Person.Key] = m
				}
			}
		}
		return byKey[key]
	}
	// The userid is final here: WeCom's, for a member orgsync manages or
	// adopts under another userid than the rule gives. Leader references
	// (mapping resolved them to the rules' userids) follow it.
	final := make([]string, len(c.in.Desired.People))
	renamed := map[string]string{} // rule userid key → final userid
	for i := range c.in.Desired.People {
		p := &c.in.Desired.People[i]
		final[i] = p.UserID
		if c.shadowOf(i) == nil {
			if m := byKeyOf(p.Key); m != nil {
				if !m.Adopted {
					c.ch.Notices = append(c.ch.Notices, Notice{Object: m.Person.UserID, Msg: fmt.Sprintf("the userid rule now gives %q; WeCom userids cannot change, so %q is kept", p.UserID, m.Person.UserID)})
				}
				final[i] = m.Person.UserID
			} else if matched, ok := c.in.AdoptMatches[p.Key]; ok {
				final[i] = matched
			}
		}
		if final[i] != p.UserID {
			renamed[model.UserIDKey(p.UserID)] = final[i]
		}
	}
	// matched counts the people found in the shadow, and curInShadow those
	// of them WeCom lists in the scope: when every managed member is matched
	// and every member WeCom lists is one of them, there are no leavers and
	// nothing unowned, and the two passes over the shadow and WeCom's list
	// below (with a set of every userid to test against) are skipped. This
	// holds only while the desired userids are the rule's (unique, as
	// mapping guarantees); otherwise the passes run.
	matched, curInShadow := 0, 0
	// People the shadow does not know are creates, most of them: the list
	// is allocated once (at 100k, growing it by doubling costs twice its
	// size in copies).
	if n := len(c.in.Desired.People) - len(sh.Members); n > 0 {
		c.ch.UserCreates = slices.Grow(c.ch.UserCreates, n)
	}
	for i := range c.in.Desired.People {
		// Changes point at the desired person itself (see UserChange);
		// only a person whose userid or leaders the final userids change
		// is copied.
		p := &c.in.Desired.People[i]
		if p.UserID != final[i] || (len(renamed) > 0 && len(p.DirectLeaders) > 0) {
			cp := *p
			cp.UserID = final[i]
			if len(renamed) > 0 && len(cp.DirectLeaders) > 0 {
				leaders := make([]string, len(cp.DirectLeaders))
				for j, l := range cp.DirectLeaders {
					leaders[j] = cmp.Or(renamed[model.UserIDKey(l)], l)
				}
				cp.DirectLeaders = leaders
			}
			p = &cp
		}
		k := model.UserIDKey(p.UserID)
		s := c.shadowOf(i) // the userid is the rule's, or one it doesn't know
		if p.UserID != c.in.Desired.People[i].UserID {
			s = sh.Members[k]
		}
		cm := cur[k]
		if s != nil {
			matched++
			if cm != nil {
				curInShadow++
			}
		}
		if c.protected[k] {
			c.ch.Notices = append(c.ch.Notices, Notice{Object: p.UserID, Msg: "protected by policy: left as is"})
			continue
		}
		if cm == nil && s != nil {
			cm = c.in.Current.Outside[k] // ours, moved out of the scope by hand: put back
		}
		if o := c.in.Current.Outside[k]; s == nil && cm == nil && o != nil {
			// The userid exists outside the managed scope: creating it
			// would clash (60102), and the member is not ours.
			if !c.in.Policy.AdoptUserID {
				c.ch.Notices = append(c.ch.Notices, Notice{Object: p.UserID, Msg: fmt.Sprintf("exists in WeCom outside the managed scope (departments %v) and orgsync does not own it: not created, left as is (add `adopt: [userid]` to take it over)", o.Departments)})
				continue
			}
			c.add(&c.ch.UserUpdates, UserChange{Op: OpUserUpdate, UserID: o.UserID, Key: p.Key, After: p, Fields: allFields, Adopt: true, Reason: fmt.Sprintf("adopt the pre-existing member from outside the managed scope (departments %v): moved into it", o.Departments), Origin: p.Origin})
			if !p.Enabled {
				c.add(&c.ch.UserDisables, UserChange{Op: OpUserDisable, UserID: o.UserID, Key: p.Key, After: p, Reason: "disabled in the source", Origin: p.Origin})
			}
			continue
		}
		switch {
		case s == nil && cm != nil:
			adopt := c.in.Policy.AdoptUserID
			if _, ok := c.in.AdoptMatches[p.Key]; ok {
				adopt = true
			}
			if !adopt {
				c.ch.Notices = append(c.ch.Notices, Notice{Object: p.UserID, Msg: "exists in WeCom but orgsync does not own it: left as is (add `adopt: [userid]` to take it over)"})
				continue
			}
			for _, id := range cm.Departments {
				c.movedOut[id]++
			}
			c.add(&c.ch.UserUpdates, UserChange{Op: OpUserUpdate, UserID: p.UserID, Key: p.Key, After: p, Fields: allFields, Adopt: true, Reason: "adopt the pre-existing member", Origin: p.Origin})
			if !p.Enabled {
				c.add(&c.ch.UserDisables, UserChange{Op: OpUserDisable, UserID: p.UserID, Key: p.Key, After: p, Reason: "disabled in the source", Origin: p.Origin})
			}
		case s == nil || cm == nil:
			if !p.Enabled {
				if s != nil {
					c.ch.ForgetMembers = append(c.ch.ForgetMembers, p.UserID)
				}
				c.ch.Notices = append(c.ch.Notices, Notice{Object: p.UserID, Msg: "disabled in the source and not in WeCom: not created"})
				continue
			}
			reason := "new in the source"
			if s != nil {
				reason = "missing from WeCom (deleted by hand?): re-create"
			}
			c.add(&c.ch.UserCreates, UserChange{Op: OpUserCreate, UserID: p.UserID, Key: p.Key, After: p, Reason: reason, Origin: p.Origin})
		default:
			before := &s.Person
			fields := diffFields(before, p)
			moved := !sameDepartments(p.Departments, cm.Departments, byID) ||
				!slices.Equal(p.Departments, before.Departments)
			if moved {
				for _, id := range cm.Departments {
					c.movedOut[id]++
				}
				fields = append(fields, "department")
				c.add(&c.ch.UserMoves, UserChange{Op: OpUserMove, UserID: p.UserID, Key: p.Key, Before: before, After: p, Fields: fields, Reason: moveReason(before, p), Origin: p.Origin})
			} else if len(fields) > 0 {
				c.add(&c.ch.UserUpdates, UserChange{Op: OpUserUpdate, UserID: p.UserID, Key: p.Key, Before: before, After: p, Fields: fields, Reason: "changed in the source: " + strings.Join(fields, ", "), Origin: p.Origin})
			}
			switch {
			case p.Enabled && !before.Enabled:
				c.add(&c.ch.UserEnables, UserChange{Op: OpUserEnable, UserID: p.UserID, Key: p.Key, Before: before, After: p, Reason: "enabled in the source again (rehire)", Origin: p.Origin})
			case !p.Enabled && before.Enabled:
				c.add(&c.ch.UserDisables, UserChange{Op: OpUserDisable, UserID: p.UserID, Key: p.Key, Before: before, After: p, Reason: "disabled in the source", Origin: p.Origin})
			case !p.Enabled && c.expired(s):
				c.add(&c.ch.UserDeletes, UserChange{Op: OpUserDelete, UserID: p.UserID, Key: p.Key, Before: before, Reason: c.expiredReason(s), Origin: p.Origin})
			}
		}
	}
	if !c.noShortcut && len(renamed) == 0 && matched == len(sh.Members) && curInShadow == len(cur) {
		return
	}
	seen := make(map[string]bool, len(final))
	for _, u := range final {
		seen[model.UserIDKey(u)] = true
	}
	// Managed members the sources no longer list: leavers.
	for k, s := range sh.Members {
		if seen[k] {
			continue
		}
		before := &s.Person
		if c.protected[k] {
			continue
		}
		if c.in.Protected[before.Key] || c.in.Protected[k] {
			c.ch.Notices = append(c.ch.Notices, Notice{Object: before.UserID, Msg: "its source record was rejected: left as is"})
			continue
		}
		cm := cur[k]
		if cm == nil {
			cm = c.in.Current.Outside[k] // ours, moved out of the scope by hand
		}
		if cm == nil {
			c.ch.ForgetMembers = append(c.ch.ForgetMembers, before.UserID)
			continue
		}
		switch {
		case c.in.Policy.Leavers == "delete":
			c.add(&c.ch.UserDeletes, UserChange{Op: OpUserDelete, UserID: before.UserID, Key: before.Key, Before: before, Reason: "no longer in the source (leavers: delete)"})
		case before.Enabled:
			c.add(&c.ch.UserDisables, UserChange{Op: OpUserDisable, UserID: before.UserID, Key: before.Key, Before: before, Reason: "no longer in the source"})
		case c.expired(s):
			c.add(&c.ch.UserDeletes, UserChange{Op: OpUserDelete, UserID: before.UserID, Key: before.Key, Before: before, Reason: c.expiredReason(s)})
		}
	}
	for k := range cur {
		if sh.Members[k] == nil && !seen[k] {
			c.ch.Unowned++
		}
	}
}

func (c *calc) expired(s *ShadowMember) bool {
	return c.in.Policy.DeleteAfter > 0 && !s.DisabledAt.IsZero() && c.in.Now.Sub(s.DisabledAt) >= c.in.Policy.DeleteAfter
}

func (c *calc) expiredReason(s *ShadowMember) string {
	return fmt.Sprintf("disabled since %s, longer than delete_after %s", s.DisabledAt.UTC().Format(time.RFC3339), c.in.Policy.DeleteAfter)
}

func moveReason(before, after *model.Person) string {
	if slices.Equal(before.Departments, after.Departments) {
		return "department membership differs in WeCom (changed by hand?): put back"
	}
	return fmt.Sprintf("moved in the source: %s → %s", strings.Join(before.Departments, ","), strings.Join(after.Departments, ","))
}

// allFields is every field orgsync manages; an adopted member gets them all.
var allFields = []string{"name", "alias", "position", "mobile", "email", "biz_mail", "telephone", "gender", "department", "direct_leader", "extattr"}

// diffFields lists the managed fields that differ (department and enable
// are handled separately).
func diffFields(a, b *model.Person) []string {
	var out []string
	add := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	add("name", a.Name != b.Name)
	add("alias", a.Alias() != b.Alias())
	add("position", a.Position != b.Position)
	add("mobile", a.Mobile != b.Mobile)
	add("email", a.Email != b.Email)
	add("biz_mail", a.BizMail() != b.BizMail())
	add("telephone", a.Telephone() != b.Telephone())
	add("gender", a.Gender != b.Gender)
	add("main_department", a.MainDepartment() != b.MainDepartment())
	add("is_leader_in_dept", !slices.Equal(a.LeaderOf(), b.LeaderOf()))
	add("direct_leader", !slices.Equal(a.DirectLeaders, b.DirectLeaders))
	add("extattr", !slices.Equal(a.ExtAttrs(), b.ExtAttrs()))
	return out
}

// deptDeletes plans deletion of managed departments the sources no longer
// list, bottom-up, only when they will be empty: WeCom refuses to delete a
// department with members (60005) or children (60006), and a member orgsync
// does not own must never be moved to make room.
func (c *calc) deptDeletes() {
	sh := c.in.Shadow
	cur := c.in.Current.Departments
	desired := make(map[string]bool, len(c.in.Desired.Departments))
	for _, d := range c.in.Desired.Departments {
		desired[d.Key] = true
	}
	var cands []*ShadowDept
	for k, d := range sh.Departments {
		if desired[k] {
			continue
		}
		if _, ok := cur[d.Department.ID]; !ok {
			c.ch.ForgetDepts = append(c.ch.ForgetDepts, k)
			continue
		}
		cands = append(cands, d)
	}
	if len(cands) == 0 {
		return // most nights: no pass over every member to count them
	}
	members := map[int]int{}
	for _, m := range c.in.Current.Members {
		for _, id := range m.Departments {
			members[id]++
		}
	}
	depth := func(id int) int {
		n := 0
		for id != 0 && n < 64 {
			id = cur[id].ParentID
			n++
		}
		return n
	}
	sort.Slice(cands, func(i, j int) bool {
		di, dj := depth(cands[i].Department.ID), depth(cands[j].Department.ID)
		if di != dj {
			return di > dj
		}
		return cands[i].Department.Key < cands[j].Department.Key
	})
	children := map[int]int{}
	for id, d := range cur {
		if id != d.ParentID {
			children[d.ParentID]++
		}
	}
	deletedFrom := map[int]int{}
	for _, u := range c.ch.UserDeletes {
		if cm := c.in.Current.Members[model.UserIDKey(u.UserID)]; cm != nil {
			for _, id := range cm.Departments {
				deletedFrom[id]++
			}
		}
	}
	for _, d := range cands {
		id := d.Department.ID
		left := members[id] - c.movedOut[id] - deletedFrom[id]
		if left > 0 || children[id] > 0 {
			c.ch.Notices = append(c.ch.Notices, Notice{Object: d.Department.Key, Msg: fmt.Sprintf("no longer in the source but kept: %d members and %d sub-departments remain in it", max(left, 0), children[id])})
			continue
		}
		if !c.allows(OpDeptDelete) {
			continue
		}
		before := d.Department
		children[cur[id].ParentID]--
		c.ch.DeptDeletes = append(c.ch.DeptDeletes, DeptChange{Op: OpDeptDelete, Key: d.Department.Key, ID: id, Before: &before, Reason: "no longer in the source and empty"})
	}
}

func (c *calc) sort() {
	byUser := func(l []UserChange) {
		sort.SliceStable(l, func(i, j int) bool { return model.UserIDKey(l[i].UserID) < model.UserIDKey(l[j].UserID) })
	}
	for _, l := range [][]UserChange{c.ch.UserCreates, c.ch.UserUpdates, c.ch.UserMoves, c.ch.UserEnables, c.ch.UserDisables, c.ch.UserDeletes} {
		byUser(l)
	}
	sort.Strings(c.ch.ForgetMembers)
	sort.Strings(c.ch.ForgetDepts)
	sort.SliceStable(c.ch.Notices, func(i, j int) bool { return c.ch.Notices[i].Object < c.ch.Notices[j].Object })
}
