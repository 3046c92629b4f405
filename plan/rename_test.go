package plan

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/orgsync/orgsync/model"
)

// TestMatchRenamesAgreesWithSets checks the numbered-list form of
// matchRenames against the plain form it replaced (a map of person keys per
// subtree, matchRenamesByMaps below), on random trees where departments
// are renamed, moved, split and merged and people move, join and leave:
// both must find the same renames and record the same evidence.
func TestMatchRenamesAgreesWithSets(t *testing.T) {
	found := 0
	for seed := uint64(1); seed <= 300; seed++ {
		in := randomRenameWorld(rand.New(rand.NewPCG(seed, 7)))
		got, want := &calc{in: in, renamed: map[string]string{}}, &calc{in: in, renamed: map[string]string{}}
		g, w := got.matchRenames(), want.matchRenamesByMaps()
		if !maps.Equal(g, w) || !maps.Equal(got.renamed, want.renamed) {
			t.Fatalf("seed %d: renames %v (evidence %v), the map form finds %v (%v)", seed, g, got.renamed, w, want.renamed)
		}
		found += len(g)
	}
	if found == 0 {
		t.Fatal("no world had a rename: the comparison proves nothing")
	}
}

// randomRenameWorld is a managed tree of up to 40 departments three levels
// deep with its people, and a desired version of it after random renames
// (some to a sibling's name), moves of people and people without a key.
func randomRenameWorld(r *rand.Rand) Input {
	in := Input{
		Shadow:  &Shadow{Members: map[string]*ShadowMember{}, Departments: map[string]*ShadowDept{}},
		Current: Current{Departments: map[int]CurrentDept{1: {ID: 1}}, Members: map[string]*CurrentMember{}},
		Policy:  Policy{RenameShare: []float64{0, 0.5, 0.8, 1}[r.IntN(4)]},
	}
	var keys []string
	parent := map[string]string{}
	for i := 0; i < 5+r.IntN(35); i++ {
		p := ""
		if len(keys) > 0 && r.IntN(4) > 0 {
			p = keys[r.IntN(len(keys))]
		}
		k := fmt.Sprintf("d%d", i)
		if p != "" {
			k = p + "/" + k
		}
		keys = append(keys, k)
		parent[k] = p
		id := 100 + i
		in.Shadow.Departments[k] = &ShadowDept{Department: model.Department{Key: k, Name: k, ParentKey: p, ID: id}}
		if r.IntN(10) > 0 { // some are gone from WeCom
			in.Current.Departments[id] = CurrentDept{ID: id}
		}
	}
	// The desired tree: each department kept, or under a new key (its
	// children follow: they are re-keyed by their parent's new key).
	newKey := map[string]string{}
	var rekey func(k string) string
	rekey = func(k string) string {
		if nk, ok := newKey[k]; ok {
			return nk
		}
		nk := k
		switch r.IntN(5) {
		case 0:
			nk = k + "-new"
		case 1:
			nk = keys[r.IntN(len(keys))] // a swap, or a merge into another
		}
		if p := parent[k]; p != "" && nk == k {
			nk = rekey(p) + k[len(p):]
		}
		newKey[k] = nk
		return nk
	}
	seen := map[string]bool{}
	for _, k := range keys {
		nk := rekey(k)
		if seen[nk] {
			continue
		}
		seen[nk] = true
		in.Desired.Departments = append(in.Desired.Departments, model.Department{Key: nk, Name: nk, ParentKey: model.ParentPath(nk)})
	}
	sort.Slice(in.Desired.Departments, func(i, j int) bool { return in.Desired.Departments[i].Key < in.Desired.Departments[j].Key })
	for i := 0; i < 20+r.IntN(200); i++ {
		key := fmt.Sprintf("E%d", i)
		if r.IntN(30) == 0 {
			key = "" // a person without a key
		}
		k := keys[r.IntN(len(keys))]
		depts := []string{k}
		if r.IntN(8) == 0 {
			depts = append(depts, keys[r.IntN(len(keys))]) // in two departments
		}
		if r.IntN(10) > 0 {
			in.Shadow.Members[fmt.Sprintf("u%d", i)] = &ShadowMember{Person: model.Person{Key: key, UserID: fmt.Sprintf("u%d", i), Departments: depts}}
		}
		if r.IntN(10) > 0 {
			var nd []string
			for _, d := range depts {
				nd = append(nd, newKey[d])
			}
			if r.IntN(10) == 0 {
				nd = []string{keys[r.IntN(len(keys))]} // moved
			}
			in.Desired.People = append(in.Desired.People, model.Person{Key: key, UserID: fmt.Sprintf("u%d", i), Departments: nd})
		}
	}
	return in
}

// matchRenamesByMaps is matchRenames as it was before its subtrees became
// sorted lists of numbers: the reference for TestMatchRenamesAgreesWithSets.
func (c *calc) matchRenamesByMaps() map[string]string {
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
	subtree := func(parent map[string]string, people func(func(key string, depts []string))) map[string]map[string]bool {
		out := map[string]map[string]bool{}
		people(func(pk string, depts []string) {
			for _, k := range depts {
				for n := 0; k != "" && n < 64; n++ {
					if _, ok := parent[k]; !ok {
						break
					}
					if out[k] == nil {
						out[k] = map[string]bool{}
					}
					out[k][pk] = true
					k = parent[k]
				}
			}
		})
		return out
	}
	want := subtree(desiredParent, func(f func(string, []string)) {
		for _, p := range c.in.Desired.People {
			f(p.Key, p.Departments)
		}
	})
	have := subtree(shadowParent, func(f func(string, []string)) {
		for _, m := range sh.Members {
			f(m.Person.Key, m.Person.Departments)
		}
	})
	overlap := func(a, b map[string]bool) int {
		if len(a) > len(b) {
			a, b = b, a
		}
		n := 0
		for k := range a {
			if b[k] {
				n++
			}
		}
		return n
	}
	// good reports whether a desired and a managed department are one by
	// their people.
	// One person is no evidence: someone moving into a new department
	// while an old one closes is as likely as a rename.
	good := func(n, a, b int) bool { return n >= minRenameEvidence && float64(n) >= share*float64(max(a, b)) }

	var pairs []renameMatch
	for dk, dp := range want {
		if s, ok := have[dk]; ok && good(overlap(dp, s), len(dp), len(s)) {
			continue // same key, same people: the same department
		}
		for sk, sp := range have {
			if sk == dk {
				continue
			}
			if d, ok := want[sk]; ok && good(overlap(d, sp), len(d), len(sp)) {
				continue // that department is still there under its key
			}
			n := overlap(dp, sp)
			if !good(n, len(dp), len(sp)) || desiredChildren[dk] != shadowChildren[sk] {
				continue
			}
			pairs = append(pairs, renameMatch{from: sk, to: dk, common: n, size: len(dp)})
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

// TestSameSubtreesShortcut checks matchRenames' quiet-night shortcut: on
// worlds where the desired tree and people are the shadow's (quiet), and on
// the same worlds with one thing changed (a person moved, two departments'
// people swapped, a department gone from WeCom, a person left), the answer
// with the shortcut is the answer without it, and the shortcut is taken on
// every quiet world and on no changed one.
func TestSameSubtreesShortcut(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		in := randomRenameWorld(r)
		in.Desired = model.Org{}
		for _, k := range slices.Sorted(maps.Keys(in.Shadow.Departments)) {
			d := in.Shadow.Departments[k].Department
			if _, ok := in.Current.Departments[d.ID]; ok {
				in.Desired.Departments = append(in.Desired.Departments, model.Department{Key: d.Key, Name: d.Name, ParentKey: d.ParentKey})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(in.Shadow.Members)) {
			in.Desired.People = append(in.Desired.People, in.Shadow.Members[k].Person)
		}
		change := []string{"none", "moved", "swapped", "gone from WeCom", "left"}[seed%5]
		people := in.Desired.People
		switch change {
		case "moved":
			p := &people[r.IntN(len(people))]
			p.Departments = []string{in.Desired.Departments[r.IntN(len(in.Desired.Departments))].Key + "-other"}
		case "swapped":
			// Everyone in one department and everyone in another trade places.
			a, b := people[0].Departments[0], people[len(people)-1].Departments[0]
			if a == b {
				change = "none"
				break
			}
			for i := range people {
				ds := slices.Clone(people[i].Departments)
				for j, d := range ds {
					switch d {
					case a:
						ds[j] = b
					case b:
						ds[j] = a
					}
				}
				people[i].Departments = ds
			}
		case "gone from WeCom":
			delete(in.Current.Departments, in.Shadow.Departments[in.Desired.Departments[0].Key].Department.ID)
		case "left":
			in.Desired.People = people[1:]
		}
		fast := &calc{in: in, renamed: map[string]string{}}
		full := &calc{in: in, renamed: map[string]string{}, noShortcut: true}
		g, w := fast.matchRenames(), full.matchRenames()
		if !maps.Equal(g, w) || !maps.Equal(fast.renamed, full.renamed) {
			t.Fatalf("seed %d (%s): with the shortcut %v (%v), without %v (%v)", seed, change, g, fast.renamed, w, full.renamed)
		}
		dp, sp := map[string]string{}, map[string]string{}
		for _, d := range in.Desired.Departments {
			dp[d.Key] = d.ParentKey
		}
		for k, d := range in.Shadow.Departments {
			if _, ok := in.Current.Departments[d.Department.ID]; ok {
				sp[k] = d.Department.ParentKey
			}
		}
		taken := (&calc{in: in}).sameSubtrees(dp, sp)
		if quiet := change == "none"; taken != quiet {
			t.Fatalf("seed %d (%s): shortcut taken %v", seed, change, taken)
		}
	}
}
