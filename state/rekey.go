package state

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/orgsync/orgsync/model"
)

// rekey applies a department re-keying to the stored shadow inside tx.
func (s *Store) rekey(ctx context.Context, tx *txn, m map[string]string) error {
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
