package plan

import (
	"slices"
	"time"

	"github.com/orgsync/orgsync/model"
)

// The shadow is what orgsync owns, as it last applied it: the state store
// keeps it, plan weighs the sources against it.

// ShadowMember is the shadow of one managed member.
type ShadowMember struct {
	Person     model.Person // as last applied (UserID, Key, fields, Enabled)
	Adopted    bool         // pre-existed in WeCom and was adopted, rather than created
	DisabledAt time.Time    // zero unless orgsync disabled it as a leaver
}

// ShadowDept is the shadow of one managed department.
type ShadowDept struct {
	Department model.Department // Key, ID, Name, ParentKey, Order as last applied
	Adopted    bool
}

// Shadow is everything orgsync owns, loaded once per run.
type Shadow struct {
	Members     map[string]*ShadowMember // by model.UserIDKey(userid)
	Departments map[string]*ShadowDept   // by department key
}

// DeptKeyByID maps WeCom department ids to managed keys.
func (sh *Shadow) DeptKeyByID() map[int]string {
	m := make(map[int]string, len(sh.Departments))
	for k, d := range sh.Departments {
		m[d.Department.ID] = k
	}
	return m
}

// Rekey returns a copy of the shadow in which department keys are renamed
// by m (old key → new key, applied all at once, so a swap of two keys is a
// swap): the departments' own keys and parent keys, and the department,
// main department and leader-of keys of every member. Rows m does not
// touch are shared with sh, not copied.
//
// A department renamed in a path-keyed source keeps its WeCom id: plan
// matches it by its members and re-keys the shadow, so that members in it
// are not seen as moved.
func (sh *Shadow) Rekey(m map[string]string) *Shadow {
	if len(m) == 0 {
		return sh
	}
	key := func(k string) string {
		if to, ok := m[k]; ok {
			return to
		}
		return k
	}
	out := &Shadow{Members: make(map[string]*ShadowMember, len(sh.Members)), Departments: make(map[string]*ShadowDept, len(sh.Departments))}
	for _, d := range sh.Departments {
		nd := d
		if _, renamed := m[d.Department.Key]; renamed || m[d.Department.ParentKey] != "" {
			cp := *d
			cp.Department.Key, cp.Department.ParentKey = key(d.Department.Key), key(d.Department.ParentKey)
			nd = &cp
		}
		out.Departments[nd.Department.Key] = nd
	}
	for k, mem := range sh.Members {
		out.Members[k] = rekeyMember(mem, m, key)
	}
	return out
}

func rekeyMember(mem *ShadowMember, m map[string]string, key func(string) string) *ShadowMember {
	p := &mem.Person
	touched := m[p.MainDepartment()] != "" || slices.ContainsFunc(p.Departments, func(k string) bool { return m[k] != "" }) ||
		slices.ContainsFunc(p.LeaderOf(), func(k string) bool { return m[k] != "" })
	if !touched {
		return mem
	}
	cp := *mem
	cp.Person.Departments = remap(p.Departments, key)
	more := p.More()
	more.LeaderOf = remap(more.LeaderOf, key)
	if more.MainDepartment != "" {
		more.MainDepartment = key(more.MainDepartment)
	}
	cp.Person.SetMore(more)
	return &cp
}

func remap(keys []string, key func(string) string) []string {
	if keys == nil {
		return nil
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = key(k)
	}
	return out
}
