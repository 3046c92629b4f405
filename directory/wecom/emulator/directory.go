package emulator

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// rootID is the root department, which always exists.
const rootID = 1

// Tree limits from wecom-api.md §3.
const (
	maxDepth       = 15
	maxDepartments = 30000
	maxDirectNodes = 30000
)

type dept struct {
	id, parent int64
	name       string
	nameEn     string
	order      uint32
	seq        uint64 // creation order: ties on order keep it
	children   map[int64]struct{}
	members    map[string]struct{} // lower-cased userids
}

type userRec struct {
	u         User
	key       string // lower-cased userid: the identity
	activated bool
	seq       uint64
}

// directory is the corp's contacts. Every index is kept up to date on each
// write so no call but the list endpoints scans all users or departments.
type directory struct {
	depts      map[int64]*dept
	siblings   map[int64]map[string]int64 // parent -> name -> id
	siblingsEn map[int64]map[string]int64 // parent -> name_en -> id
	users      map[string]*userRec        // lower-cased userid -> user
	mobiles    map[string]string          // normalised mobile -> user key
	emails     map[string]string          // lower-cased email -> user key
	bizMails   map[string]string          // lower-cased biz_mail -> user key
	seq        uint64
	nextDept   int64
	sorted     []string // user keys in order, for list_id; nil when stale
}

func newDirectory(corpName string) *directory {
	d := &directory{
		depts:      map[int64]*dept{},
		siblings:   map[int64]map[string]int64{},
		siblingsEn: map[int64]map[string]int64{},
		users:      map[string]*userRec{},
		mobiles:    map[string]string{},
		emails:     map[string]string{},
		bizMails:   map[string]string{},
		nextDept:   2,
	}
	d.insertDept(&dept{id: rootID, parent: 0, name: corpName})
	return d
}

func (d *directory) nextSeq() uint64 {
	d.seq++
	return d.seq
}

// insertDept adds a department whose parent already exists (or the root).
func (d *directory) insertDept(x *dept) {
	if x.seq == 0 {
		x.seq = d.nextSeq()
	}
	x.children = map[int64]struct{}{}
	x.members = map[string]struct{}{}
	d.depts[x.id] = x
	if x.id >= d.nextDept {
		d.nextDept = x.id + 1
	}
	if p := d.depts[x.parent]; p != nil && x.id != rootID {
		p.children[x.id] = struct{}{}
	}
	d.indexName(x)
}

func (d *directory) indexName(x *dept) {
	if x.id == rootID {
		return
	}
	m := d.siblings[x.parent]
	if m == nil {
		m = map[string]int64{}
		d.siblings[x.parent] = m
	}
	m[x.name] = x.id
	if x.nameEn != "" {
		m := d.siblingsEn[x.parent]
		if m == nil {
			m = map[string]int64{}
			d.siblingsEn[x.parent] = m
		}
		m[x.nameEn] = x.id
	}
}

func (d *directory) unindexName(x *dept) {
	if m := d.siblings[x.parent]; m != nil && m[x.name] == x.id {
		delete(m, x.name)
	}
	if m := d.siblingsEn[x.parent]; m != nil && x.nameEn != "" && m[x.nameEn] == x.id {
		delete(m, x.nameEn)
	}
}

// siblingClash reports whether another child of parent already uses name
// (or nameEn).
func (d *directory) siblingClash(parent, self int64, name, nameEn string) bool {
	if id, ok := d.siblings[parent][name]; ok && id != self {
		return true
	}
	if nameEn != "" {
		if id, ok := d.siblingsEn[parent][nameEn]; ok && id != self {
			return true
		}
	}
	return false
}

func (d *directory) removeDept(x *dept) {
	d.unindexName(x)
	if p := d.depts[x.parent]; p != nil {
		delete(p.children, x.id)
	}
	delete(d.depts, x.id)
}

func (d *directory) moveDept(x *dept, parent int64, name, nameEn string) {
	d.unindexName(x)
	if p := d.depts[x.parent]; p != nil {
		delete(p.children, x.id)
	}
	x.parent, x.name, x.nameEn = parent, name, nameEn
	d.depts[parent].children[x.id] = struct{}{}
	d.indexName(x)
}

// depth is the level of a department: the root is 1.
func (d *directory) depth(id int64) int {
	n := 0
	for x := d.depts[id]; x != nil; x = d.depts[x.parent] {
		n++
		if x.id == rootID || n > 64 {
			break
		}
	}
	return n
}

// height is the number of levels in id's subtree, id included.
func (d *directory) height(id int64) int {
	h := 0
	for c := range d.depts[id].children {
		h = max(h, d.height(c))
	}
	return h + 1
}

// isAncestor reports whether a is b or one of b's ancestors.
func (d *directory) isAncestor(a, b int64) bool {
	for x := d.depts[b]; x != nil; x = d.depts[x.parent] {
		if x.id == a {
			return true
		}
		if x.id == rootID {
			break
		}
	}
	return false
}

// sortedChildren orders siblings as WeCom does: larger order first, then
// creation order.
func (d *directory) sortedChildren(x *dept) []*dept {
	out := make([]*dept, 0, len(x.children))
	for c := range x.children {
		out = append(out, d.depts[c])
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].order != out[j].order {
			return out[i].order > out[j].order
		}
		return out[i].seq < out[j].seq
	})
	return out
}

// subtree lists a department and all its descendants, parents before
// children.
func (d *directory) subtree(id int64) []*dept {
	var out []*dept
	var walk func(x *dept)
	walk = func(x *dept) {
		out = append(out, x)
		for _, c := range d.sortedChildren(x) {
			walk(c)
		}
	}
	if x := d.depts[id]; x != nil {
		walk(x)
	}
	return out
}

// leaders are the members of x with is_leader_in_dept=1 for x.
func (d *directory) leaders(x *dept) []string {
	out := []string{}
	for key := range x.members {
		u := d.users[key]
		for i, id := range u.u.Department {
			if id == x.id && i < len(u.u.IsLeaderInDept) && u.u.IsLeaderInDept[i] == 1 {
				out = append(out, u.u.UserID)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (d *directory) wireDept(x *dept) Department {
	return Department{ID: x.id, Name: x.name, NameEn: x.nameEn, DepartmentLeader: d.leaders(x), ParentID: x.parent, Order: x.order}
}

// wireUser copies a user for output. direct_leader lists only leaders that
// still exist, spelt as stored.
func (d *directory) wireUser(r *userRec) User {
	u := r.u
	u.Department = append([]int64{}, u.Department...)
	u.Order = append([]uint32{}, u.Order...)
	u.IsLeaderInDept = append([]int{}, u.IsLeaderInDept...)
	u.DirectLeader = []string{}
	for _, l := range r.u.DirectLeader {
		if lr := d.users[strings.ToLower(l)]; lr != nil {
			u.DirectLeader = append(u.DirectLeader, lr.u.UserID)
		}
	}
	return u
}

// sortedUsers returns user keys in order, cached until the next create or
// delete (list_id pages through it).
func (d *directory) sortedUsers() []string {
	if d.sorted == nil {
		d.sorted = sortedKeys(d.users)
	}
	return d.sorted
}

func (d *directory) snapshot() Snapshot {
	snap := Snapshot{Departments: []Department{}, Users: []User{}}
	ids := make([]int64, 0, len(d.depts))
	for id := range d.depts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		snap.Departments = append(snap.Departments, d.wireDept(d.depts[id]))
	}
	for _, k := range d.sortedUsers() {
		snap.Users = append(snap.Users, d.wireUser(d.users[k]))
	}
	return snap
}

// Persistence: the data file is the snapshot plus what reads don't show
// (activation, creation order).

type persistedDept struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	NameEn   string `json:"name_en,omitempty"`
	ParentID int64  `json:"parentid"`
	Order    uint32 `json:"order"`
	Seq      uint64 `json:"seq"`
}

type persistedUser struct {
	User
	Activated bool   `json:"activated"`
	Seq       uint64 `json:"seq"`
}

type persisted struct {
	Version     int             `json:"version"`
	Departments []persistedDept `json:"departments"`
	Users       []persistedUser `json:"users"`
}

func (d *directory) marshalPersisted() ([]byte, error) {
	p := persisted{Version: 1}
	snap := d.snapshot()
	for _, x := range snap.Departments {
		p.Departments = append(p.Departments, persistedDept{ID: x.ID, Name: x.Name, NameEn: x.NameEn,
			ParentID: x.ParentID, Order: x.Order, Seq: d.depts[x.ID].seq})
	}
	for _, u := range snap.Users {
		r := d.users[strings.ToLower(u.UserID)]
		p.Users = append(p.Users, persistedUser{User: u, Activated: r.activated, Seq: r.seq})
	}
	return json.MarshalIndent(p, "", "  ")
}

func unmarshalPersisted(data []byte, corpName string) (*directory, error) {
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	d := newDirectory(corpName)
	byID := map[int64]persistedDept{}
	for _, x := range p.Departments {
		byID[x.ID] = x
	}
	if root, ok := byID[rootID]; ok {
		r := d.depts[rootID]
		r.name, r.nameEn, r.order, r.seq = root.Name, root.NameEn, root.Order, root.Seq
	}
	// Insert parents before children, whatever the file's order.
	var add func(x persistedDept, guard int) error
	add = func(x persistedDept, guard int) error {
		if _, ok := d.depts[x.ID]; ok {
			return nil
		}
		if guard > maxDepth+1 {
			return fmt.Errorf("department %d: cycle or depth over %d", x.ID, maxDepth)
		}
		if _, ok := d.depts[x.ParentID]; !ok {
			p, ok := byID[x.ParentID]
			if !ok {
				return fmt.Errorf("department %d: parent %d missing", x.ID, x.ParentID)
			}
			if err := add(p, guard+1); err != nil {
				return err
			}
		}
		d.insertDept(&dept{id: x.ID, parent: x.ParentID, name: x.Name, nameEn: x.NameEn, order: x.Order, seq: x.Seq})
		return nil
	}
	for _, x := range p.Departments {
		if err := add(x, 0); err != nil {
			return nil, err
		}
	}
	for _, pu := range p.Users {
		r := &userRec{u: pu.User, key: strings.ToLower(pu.UserID), activated: pu.Activated, seq: pu.Seq}
		if _, dup := d.users[r.key]; dup {
			return nil, fmt.Errorf("user %q: duplicate userid", pu.UserID)
		}
		for _, id := range r.u.Department {
			if d.depts[id] == nil {
				return nil, fmt.Errorf("user %q: department %d missing", pu.UserID, id)
			}
		}
		d.addUser(r)
	}
	for _, x := range d.depts {
		d.seq = max(d.seq, x.seq)
	}
	for _, u := range d.users {
		d.seq = max(d.seq, u.seq)
	}
	return d, nil
}
