package emulator

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// deptForbidden are the characters a department name may not contain (60009).
const deptForbidden = `\:*?"<>|`

// checkDeptName applies the name rules: 1..DeptNameMaxChars characters
// (60001) and none of \:*?"<>| (60009).
func (s *Server) checkDeptName(name, field string) *apiErr {
	if strings.TrimSpace(name) == "" {
		return errf(60001, "department %s empty", field)
	}
	if n := utf8.RuneCountInString(name); n > s.opts.DeptNameMaxChars {
		return errf(60001, "department %s length %d over %d characters", field, n, s.opts.DeptNameMaxChars)
	}
	if strings.ContainsAny(name, deptForbidden) {
		return errf(60009, "department %s include invalid char, forbidden: %s", field, deptForbidden)
	}
	return nil
}

// readOrder reads an optional uint32 "order".
func readOrder(b body) (uint32, bool, *apiErr) {
	v, present, ok := b.int("order")
	if !present {
		return 0, false, nil
	}
	if !ok || v < 0 || v > math.MaxUint32 {
		return 0, true, errf(40058, "invalid order, want uint32")
	}
	return uint32(v), true, nil
}

// nodeCountFull reports whether a department has reached the limit of
// direct nodes (sub-departments plus members, 81001).
func nodeCountFull(x *dept) bool {
	return len(x.children)+len(x.members) >= maxDirectNodes
}

func (s *Server) departmentCreate(c *call) (obj, *apiErr) {
	d := s.dir
	name, hasName, ok := c.b.str("name")
	if !ok || !hasName {
		return nil, errf(60001, "department name missing")
	}
	if e := s.checkDeptName(name, "name"); e != nil {
		return nil, e
	}
	nameEn, hasEn, ok := c.b.str("name_en")
	if !ok {
		return nil, errf(40058, "invalid name_en")
	}
	if hasEn && nameEn != "" {
		if e := s.checkDeptName(nameEn, "name_en"); e != nil {
			return nil, e
		}
	}
	parentID, hasParent, ok := c.b.int("parentid")
	if !hasParent || !ok {
		return nil, errf(60004, "parent department missing")
	}
	parent := d.depts[parentID]
	if parent == nil {
		return nil, errf(60004, "parent department %d not found", parentID)
	}
	id, hasID, ok := c.b.int("id")
	if !ok || (hasID && (id < 0 || id > math.MaxUint32)) {
		return nil, errc(60123)
	}
	if id != 0 && d.depts[id] != nil {
		return nil, errf(60008, "department id %d existed", id)
	}
	order, _, e := readOrder(c.b)
	if e != nil {
		return nil, e
	}
	if d.siblingClash(parentID, -1, name, nameEn) {
		return nil, errf(60008, "department name existed under parent %d", parentID)
	}
	if d.depth(parentID)+1 > maxDepth {
		return nil, errf(81002, "department level exceeds limit %d", maxDepth)
	}
	if len(d.depts) >= maxDepartments || nodeCountFull(parent) {
		return nil, errc(81001)
	}
	if id == 0 {
		id = d.nextDept
		for d.depts[id] != nil {
			id++
		}
	}
	d.insertDept(&dept{id: id, parent: parentID, name: name, nameEn: nameEn, order: order})
	return obj{{"id", id}}, nil
}

func (s *Server) departmentUpdate(c *call) (obj, *apiErr) {
	d := s.dir
	id, hasID, ok := c.b.int("id")
	if !hasID || !ok {
		return nil, errf(60003, "department id missing")
	}
	x := d.depts[id]
	if x == nil {
		return nil, errf(60003, "department %d not found", id)
	}
	name, nameEn, parentID, order := x.name, x.nameEn, x.parent, x.order
	// "" keeps a field instead of clearing it with EmptyStringKeepsField.
	keep := func(v string) bool { return v == "" && s.opts.EmptyStringKeepsField }
	if v, present, ok := c.b.str("name"); present && !keep(v) {
		if !ok {
			return nil, errf(60001, "invalid name")
		}
		if e := s.checkDeptName(v, "name"); e != nil {
			return nil, e
		}
		name = v
	}
	if v, present, ok := c.b.str("name_en"); present && !keep(v) {
		if !ok {
			return nil, errf(40058, "invalid name_en")
		}
		if v != "" {
			if e := s.checkDeptName(v, "name_en"); e != nil {
				return nil, e
			}
		}
		nameEn = v
	}
	if v, present, ok := c.b.int("parentid"); present && (v != 0 || !ok || s.opts.ParentIDZeroLiteral) {
		if !ok {
			return nil, errf(60004, "invalid parentid")
		}
		if v != parentID {
			if id == rootID {
				// Every department descends from the root.
				return nil, errf(60010, "root department can not be moved")
			}
			p := d.depts[v]
			if p == nil {
				return nil, errf(60004, "parent department %d not found", v)
			}
			if d.isAncestor(id, v) {
				return nil, errf(60010, "department %d can not move under itself or its descendant %d", id, v)
			}
			if d.depth(v)+d.height(id) > maxDepth {
				return nil, errf(81002, "department level exceeds limit %d", maxDepth)
			}
			if nodeCountFull(p) {
				return nil, errc(81001)
			}
			parentID = v
		}
	}
	if v, present, e := readOrder(c.b); e != nil {
		return nil, e
	} else if present {
		order = v
	}
	if id != rootID && d.siblingClash(parentID, id, name, nameEn) {
		return nil, errf(60008, "department name existed under parent %d", parentID)
	}
	if id == rootID {
		x.name, x.nameEn = name, nameEn
	} else {
		d.moveDept(x, parentID, name, nameEn)
	}
	x.order = order
	return nil, nil
}

// queryDept reads the department id query parameter; present reports
// whether it was given at all.
func (s *Server) queryDept(c *call, key string) (x *dept, present bool, e *apiErr) {
	v := c.q.Get(key)
	if v == "" {
		return nil, false, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, true, errf(60003, "invalid department id %q", v)
	}
	x = s.dir.depts[id]
	if x == nil {
		return nil, true, errf(60003, "department %d not found", id)
	}
	return x, true, nil
}

func (s *Server) departmentDelete(c *call) (obj, *apiErr) {
	x, present, e := s.queryDept(c, "id")
	if e != nil {
		return nil, e
	}
	if !present {
		return nil, errf(60003, "department id missing")
	}
	if x.id == rootID {
		return nil, errc(60007)
	}
	if len(x.members) > 0 {
		return nil, errf(60005, "department contains %d user(s)", len(x.members))
	}
	if len(x.children) > 0 {
		return nil, errf(60006, "department contains %d sub-department(s)", len(x.children))
	}
	s.dir.removeDept(x)
	return nil, nil
}

// visibleDept reports whether the caller may see department id: always,
// unless it holds an app secret with a scope.
func (s *Server) visibleDept(c *call, id int64) bool {
	if len(c.scope) == 0 {
		return true
	}
	for _, top := range c.scope {
		if s.dir.isAncestor(top, id) {
			return true
		}
	}
	return false
}

// listDepts is what department/list and simplelist return: the given id
// (itself included) and its descendants, or the whole tree, as far as the
// caller may see.
//
// id=0, a whole-struct SDK's zero value, is the root; with
// DeptListIDZeroWholeTree it is the whole visible tree, as if id were
// omitted.
func (s *Server) listDepts(c *call) ([]*dept, *apiErr) {
	if v := c.q.Get("id"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n == 0 {
			if s.opts.DeptListIDZeroWholeTree {
				c.q.Del("id")
			} else {
				c.q.Set("id", strconv.Itoa(rootID))
			}
		}
	}
	x, present, e := s.queryDept(c, "id")
	if e != nil {
		return nil, e
	}
	from := int64(rootID)
	if present {
		if !s.visibleDept(c, x.id) {
			return nil, errf(60011, "no privilege to access department %d", x.id)
		}
		from = x.id
	}
	all := s.dir.subtree(from)
	if len(c.scope) == 0 {
		return all, nil
	}
	out := all[:0:0]
	for _, d := range all {
		if s.visibleDept(c, d.id) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *Server) departmentList(c *call) (obj, *apiErr) {
	depts, e := s.listDepts(c)
	if e != nil {
		return nil, e
	}
	out := []Department{}
	for _, x := range depts {
		out = append(out, s.dir.wireDept(x))
	}
	return obj{{"department", out}}, nil
}

type simpleDept struct {
	ID       int64  `json:"id"`
	ParentID int64  `json:"parentid"`
	Order    uint32 `json:"order"`
}

func (s *Server) departmentSimplelist(c *call) (obj, *apiErr) {
	depts, e := s.listDepts(c)
	if e != nil {
		return nil, e
	}
	out := []simpleDept{}
	for _, x := range depts {
		out = append(out, simpleDept{ID: x.id, ParentID: x.parent, Order: x.order})
	}
	return obj{{"department_id", out}}, nil
}

func (s *Server) departmentGet(c *call) (obj, *apiErr) {
	x, present, e := s.queryDept(c, "id")
	if e != nil {
		return nil, e
	}
	if !present {
		return nil, errf(60003, "department id missing")
	}
	if !s.visibleDept(c, x.id) {
		return nil, errf(60011, "no privilege to access department %d", x.id)
	}
	return obj{{"department", s.dir.wireDept(x)}}, nil
}
