package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// DefaultRenameShare is the share of a department's people that must be
// the same for a department that disappeared and one that appeared to be
// one department renamed or moved.
const DefaultRenameShare = 0.8

// minRenameEvidence is how many people a renamed department must keep to
// be recognised.
const minRenameEvidence = 2

// renameMatch is a shadow department recognised under a new desired key.
type renameMatch struct {
	from, to     string
	common, size int
}

// matchRenames recognises departments whose key changed in the source (a
// path-keyed export renamed 研发中心 → 技术中心, or moved a team), by their
// people: a desired department and a managed one whose subtrees hold
// mostly the same people (at least Policy.RenameShare of the larger of the
// two, and two people at least) and whose shapes agree (as many sub-departments) are one
// department. Only pairs where key equality gives no better answer are
// considered: a desired key that is also managed keeps its department
// unless its people are now elsewhere (a swap of two names). Ties are
// ambiguous and stay unmatched: the plan then creates and deletes, and the
// guard holds the delete.
//
// It returns old key → new key, for Shadow.Rekey.
func (c *calc) matchRenames() map[string]string {
	share := c.in.Policy.RenameShare
	if share <= 0 {
		share = DefaultRenameShare
	}
	sh := c.in.Shadow
	if len(sh.Departments) == 0 || len(c.in.Desired.Departments) == 0 {
		return nil
	}
	// People per subtree, by person key, on both sides.
	desiredParent := map[string]string{}
	desiredChildren := map[string]int{}
	for _, d := range c.in.Desired.Departments {
		desiredParent[d.Key] = d.ParentKey
		desiredChildren[d.ParentKey]++
	}
	shadowParent := map[string]string{}
	shadowChildren := map[string]int{}
	for k, d := range sh.Departments {
		if _, ok := c.in.Current.Departments[d.Department.ID]; !ok {
			continue // gone from WeCom: nothing to keep
		}
		shadowParent[k] = d.Department.ParentKey
		shadowChildren[d.Department.ParentKey]++
	}
	if c.sameSubtrees(desiredParent, shadowParent) {
		return nil
	}
	// People are numbered by key (desired first, in order) and each
	// subtree holds its people as a sorted list of numbers: at 1M people
	// in six levels that is 4 bytes for each of the 12M memberships instead
	// of a map entry of a string.
	num := make(map[string]int32, len(c.in.Desired.People))
	number := func(key string) int32 {
		n, ok := num[key]
		if !ok {
			n = int32(len(num))
			num[key] = n
		}
		return n
	}
	subtree := func(parent map[string]string, people int, person func(i int) (int32, []string)) map[string][]int32 {
		out := map[string][]int32{}
		for i := 0; i < people; i++ {
			pn, depts := person(i)
			for _, k := range depts {
				for n := 0; k != "" && n < 64; n++ {
					if _, ok := parent[k]; !ok {
						break
					}
					if l := out[k]; len(l) == 0 || l[len(l)-1] != pn { // a person in two departments of one subtree counts once
						out[k] = append(l, pn)
					}
					k = parent[k]
				}
			}
		}
		for k, l := range out {
			if !slices.IsSorted(l) { // only when desired keys repeat
				slices.Sort(l)
				out[k] = slices.Compact(l)
			}
		}
		return out
	}
	want := subtree(desiredParent, len(c.in.Desired.People), func(i int) (int32, []string) {
		p := &c.in.Desired.People[i]
		return number(p.Key), p.Departments
	})
	// The shadow's members in the order of their numbers, so that each
	// subtree's list comes out sorted.
	members := make([]*ShadowMember, 0, len(sh.Members))
	nums := make([]int32, 0, len(sh.Members))
	for _, m := range sh.Members {
		members = append(members, m)
		nums = append(nums, number(m.Person.Key))
	}
	order := make([]int, len(members))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(nums[a], nums[b]) })
	have := subtree(shadowParent, len(order), func(i int) (int32, []string) {
		m := members[order[i]]
		return nums[order[i]], m.Person.Departments
	})
	// overlap counts the people two sorted lists share.
	overlap := func(a, b []int32) int {
		if len(a) > len(b) {
			a, b = b, a
		}
		n := 0
		if len(a)*8 < len(b) {
			for _, x := range a {
				if _, ok := slices.BinarySearch(b, x); ok {
					n++
				}
			}
			return n
		}
		for i, j := 0, 0; i < len(a) && j < len(b); {
			switch {
			case a[i] < b[j]:
				i++
			case a[i] > b[j]:
				j++
			default:
				n++
				i++
				j++
			}
		}
		return n
	}
	// good reports whether a desired and a managed department are one by
	// their people.
	// One person is no evidence: someone moving into a new department
	// while an old one closes is as likely as a rename.
	good := func(n, a, b int) bool { return n >= minRenameEvidence && float64(n) >= share*float64(max(a, b)) }
	// kept reports whether key k keeps its department: the same people
	// under the same key, desired and managed (computed once per key).
	keptMemo := map[string]bool{}
	kept := func(k string) bool {
		v, ok := keptMemo[k]
		if !ok {
			d, inWant := want[k]
			s, inHave := have[k]
			v = inWant && inHave && good(overlap(d, s), len(d), len(s))
			keptMemo[k] = v
		}
		return v
	}

	var pairs []renameMatch
	for dk, dp := range want {
		if kept(dk) {
			continue // same key, same people: the same department
		}
		for sk, sp := range have {
			if sk == dk || kept(sk) { // kept: that department is still there under its key
				continue
			}
			if desiredChildren[dk] != shadowChildren[sk] {
				continue
			}
			if n := overlap(dp, sp); good(n, len(dp), len(sp)) {
				pairs = append(pairs, renameMatch{from: sk, to: dk, common: n, size: len(dp)})
			}
		}
	}
	// Best first; a department wanted by two equally good partners is
	// ambiguous and left alone.
	sort.Slice(pairs, func(i, j int) bool {
		ri, rj := float64(pairs[i].common)/float64(pairs[i].size), float64(pairs[j].common)/float64(pairs[j].size)
		if ri != rj {
			return ri > rj
		}
		if pairs[i].to != pairs[j].to {
			return pairs[i].to < pairs[j].to
		}
		return pairs[i].from < pairs[j].from
	})
	ambiguous := map[string]bool{}
	for i, p := range pairs {
		for _, q := range pairs[i+1:] {
			if q.common == p.common && q.size == p.size && (q.to == p.to || q.from == p.from) {
				ambiguous["to:"+p.to], ambiguous["from:"+p.from] = true, true
				ambiguous["to:"+q.to], ambiguous["from:"+q.from] = true, true
			}
		}
	}
	out := map[string]string{}
	used := map[string]bool{}
	for _, p := range pairs {
		if used["to:"+p.to] || used["from:"+p.from] || ambiguous["to:"+p.to] || ambiguous["from:"+p.from] {
			continue
		}
		used["to:"+p.to], used["from:"+p.from] = true, true
		out[p.from] = p.to
		c.renamed[p.to] = fmt.Sprintf("matched by members (%d of %d)", p.common, p.size)
	}
	// A key that keeps its department but whose old department moved away
	// under another key must not stay behind: a chain (a→b while b→c)
	// resolves because Rekey applies the whole map at once.
	return out
}

// sameSubtrees reports, in one pass over the people, whether every subtree
// holds the same people on both sides: the same departments under the same
// parents, and every person in the same departments under the same key in
// the desired people and the shadow, one for one (the desired userids are
// unique). Then every department is kept under its key (or holds fewer than
// minRenameEvidence people), every candidate pair needs two departments that
// are not, and matchRenames finds nothing: the quiet night's answer,
// without building the subtrees (12M memberships at 1M people).
func (c *calc) sameSubtrees(desiredParent, shadowParent map[string]string) bool {
	if c.noShortcut || len(c.in.Desired.People) != len(c.in.Shadow.Members) || !maps.Equal(desiredParent, shadowParent) {
		return false
	}
	for i := range c.in.Desired.People {
		p := &c.in.Desired.People[i]
		m := c.shadowOf(i)
		if m == nil || m.Person.Key != p.Key || !slices.Equal(m.Person.Departments, p.Departments) {
			return false
		}
	}
	return true
}

// rekeyShadow re-keys the shadow for the renames found and records them.
func (c *calc) rekeyShadow() {
	c.renamed = map[string]string{}
	m := c.matchRenames()
	if len(m) == 0 {
		return
	}
	c.in.Shadow = c.in.Shadow.Rekey(m)
	c.byRule = nil // Rekey copied the members it re-keyed
	c.ch.RekeyDepts = m
}

// orderRenames orders department renames among siblings so that no rename
// takes a name a sibling still holds (WeCom answers 60008): a department
// whose new name is a renamed sibling's old name goes after that sibling,
// and a cycle (two departments swapping names) is broken with a temporary
// name, as a planned step of its own.
func (c *calc) orderRenames() {
	type sib struct {
		parent int
		name   string
	}
	ups := c.ch.DeptUpdates
	var renames []int
	holder := map[sib]int{} // old name under its parent → the rename freeing it
	for i, d := range ups {
		if !slices.Contains(d.What, "name") || d.Before == nil || d.After == nil || slices.Contains(d.What, "parent") {
			continue
		}
		renames = append(renames, i)
		holder[sib{d.After.ParentID, d.Before.Name}] = i
	}
	if len(renames) < 2 {
		return
	}
	after := map[int]int{} // rename → the rename it must follow
	for _, i := range renames {
		d := ups[i]
		if j, ok := holder[sib{d.After.ParentID, d.After.Name}]; ok && j != i {
			after[i] = j
		}
	}
	if len(after) == 0 {
		return
	}
	var out []DeptChange
	var last []DeptChange // the second halves of broken cycles
	placed := map[int]bool{}
	isRename := map[int]bool{}
	for _, i := range renames {
		isRename[i] = true
	}
	var place func(i int, path map[int]bool)
	place = func(i int, path map[int]bool) {
		if placed[i] {
			return
		}
		if path[i] {
			// A cycle reaches i again: give i a temporary name now, and
			// its real name once the others are done.
			d := ups[i]
			tmp := *d.After
			tmp.Name = fmt.Sprintf("%s (orgsync %d)", d.Before.Name, d.ID)
			out = append(out, DeptChange{Op: OpDeptUpdate, Key: d.Key, ID: d.ID, Before: d.Before, After: &tmp, What: []string{"name"},
				Reason: "temporary name: it swaps names with a sibling", Origin: d.Origin})
			placed[i] = true
			last = append(last, d)
			return
		}
		path[i] = true
		if j, ok := after[i]; ok {
			place(j, path)
		}
		delete(path, i)
		if !placed[i] {
			placed[i] = true
			out = append(out, ups[i])
		}
	}
	for i := range ups {
		if !isRename[i] {
			out = append(out, ups[i])
		}
	}
	for _, i := range renames {
		place(i, map[int]bool{})
	}
	c.ch.DeptUpdates = append(out, last...)
}
