package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/orgsync/orgsync/model"
)

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
	out := &Shadow{Members: make(map[string]*Member, len(sh.Members)), Departments: make(map[string]*Dept, len(sh.Departments))}
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

func rekeyMember(mem *Member, m map[string]string, key func(string) string) *Member {
	p := &mem.Person
	touched := m[p.MainDepartment] != "" || slices.ContainsFunc(p.Departments, func(k string) bool { return m[k] != "" }) ||
		slices.ContainsFunc(p.LeaderOf, func(k string) bool { return m[k] != "" })
	if !touched {
		return mem
	}
	cp := *mem
	cp.Person.Departments = remap(p.Departments, key)
	cp.Person.LeaderOf = remap(p.LeaderOf, key)
	if p.MainDepartment != "" {
		cp.Person.MainDepartment = key(p.MainDepartment)
	}
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

// rekey applies a department re-keying to the stored shadow inside tx.
func (s *Store) rekey(ctx context.Context, tx *sql.Tx, m map[string]string) error {
	if len(m) == 0 {
		return nil
	}
	sh, err := loadShadow(ctx, tx)
	if err != nil {
		return err
	}
	next := sh.Rekey(m)
	now := s.now().Unix()
	if _, err := tx.ExecContext(ctx, `DELETE FROM departments`); err != nil {
		return fmt.Errorf("re-key departments: %w", err)
	}
	for _, d := range next.Departments {
		data, err := json.Marshal(d.Department)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO departments(key, id, data, adopted, updated_at) VALUES(?,?,?,?,?)`,
			d.Department.Key, d.Department.ID, string(data), boolInt(d.Adopted), now); err != nil {
			return fmt.Errorf("re-key department %s: %w", d.Department.Key, err)
		}
	}
	for k, mem := range next.Members {
		if mem == sh.Members[k] {
			continue // untouched
		}
		data, err := json.Marshal(mem.Person)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE members SET data=?, updated_at=? WHERE userid_key=?`, string(data), now, model.UserIDKey(mem.Person.UserID)); err != nil {
			return fmt.Errorf("re-key member %s: %w", mem.Person.UserID, err)
		}
	}
	return nil
}
