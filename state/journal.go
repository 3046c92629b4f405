package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/orgsync/orgsync/model"
)

// Journal entry statuses.
const (
	StatusPending  = "pending"  // written before the WeCom call; the call may or may not have happened
	StatusDone     = "done"     // the call succeeded and the shadow was updated with it
	StatusFailed   = "failed"   // the call failed; the shadow is unchanged
	StatusResolved = "resolved" // a pending entry from a killed run, settled by a later run
	// StatusUncertain: the call was sent but its answer was lost; the next
	// run settles it from WeCom's lists like a pending entry.
	StatusUncertain = "uncertain"
)

// importJobsSchema keeps the import jobs (WeCom's batch/syncuser) whose
// outcome can outlive the run that submitted them, and which journal
// entries each one carries, so that the next run settles those entries
// from the job's own per-row result (or waits for a job still running)
// instead of guessing from WeCom's lists. A job is open until its result
// was read or WeCom no longer knows it (settled_at set).
//
// IF NOT EXISTS: the tables are new in this version, and a store someone
// took back to an older version by hand may still have them.
const importJobsSchema = `CREATE TABLE IF NOT EXISTS import_jobs (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		job          TEXT NOT NULL,      -- WeCom's jobid
		run_id       INTEGER NOT NULL,   -- the run that submitted it
		row_count    INTEGER NOT NULL,   -- journal entries it carries
		submitted_at INTEGER NOT NULL,   -- unix ms
		settled_at   INTEGER,            -- unix ms; NULL while its rows' outcome is unread
		outcome      TEXT NOT NULL DEFAULT '' -- finished, unknown (WeCom no longer knows the job), empty
	);
	CREATE INDEX IF NOT EXISTS import_jobs_settled ON import_jobs(settled_at);
	CREATE TABLE IF NOT EXISTS import_job_rows (
		entry  INTEGER PRIMARY KEY,      -- journal.id
		job_id INTEGER NOT NULL          -- import_jobs.id
	);
	CREATE INDEX IF NOT EXISTS import_job_rows_job ON import_job_rows(job_id);`

// Entry is one journaled change; the journal doubles as the audit log.
type Entry struct {
	ID         int64           `json:"id"`
	RunID      int64           `json:"run_id"`
	Op         string          `json:"op"`
	Object     string          `json:"object"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	Status     string          `json:"status"`
	ErrCode    int             `json:"errcode,omitempty"`
	ErrMsg     string          `json:"errmsg,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitempty"`
}

// Mutation is the shadow change that goes with a successful call, written in
// the same transaction as the journal's "done", so shadow and journal never
// disagree.
type Mutation struct {
	PutMember    *Member
	DeleteMember string // userid
	PutDept      *Dept
	DeleteDept   string // department key
	// RekeyDepts renames department keys (old → new, all at once) in the
	// departments and in every member, before the rest of the mutation.
	RekeyDepts map[string]string
}

// Begin journals a change before its call and returns the entry id.
func (s *Store) Begin(ctx context.Context, runID int64, op, object string, before, after any) (int64, error) {
	b, err := marshalOrNil(before)
	if err != nil {
		return 0, err
	}
	a, err := marshalOrNil(after)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.write(ctx, func(tx *txn) (err error) {
		id, err = tx.insertID(ctx,
			`INSERT INTO journal(run_id, op, object, before, after, status, started_at) VALUES(?,?,?,?,?,?,?)`,
			runID, op, object, b, a, StatusPending, s.now().UnixMilli())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("journal %s %s: %w", op, object, err)
	}
	return id, nil
}

// Finish records the outcome of a journaled call; with status done, mut is
// applied to the shadow in the same transaction.
func (s *Store) Finish(ctx context.Context, entryID int64, status string, errcode int, errmsg string, mut Mutation) error {
	return s.settle(ctx, entryID, status, errcode, errmsg, mut)
}

// BeginEntry is one change BeginMany journals.
type BeginEntry struct {
	Op, Object    string
	Before, After any
}

// BeginMany journals many changes before one call that makes them all (an
// import job), in one transaction: all are journaled or none. It returns
// their entry ids in order.
func (s *Store) BeginMany(ctx context.Context, runID int64, entries []BeginEntry) ([]int64, error) {
	ids := make([]int64, len(entries))
	now := s.now().UnixMilli()
	err := s.write(ctx, func(tx *txn) error {
		for i, e := range entries {
			b, err := marshalOrNil(e.Before)
			if err != nil {
				return err
			}
			a, err := marshalOrNil(e.After)
			if err != nil {
				return err
			}
			if ids[i], err = tx.insertID(ctx,
				`INSERT INTO journal(run_id, op, object, before, after, status, started_at) VALUES(?,?,?,?,?,?,?)`,
				runID, e.Op, e.Object, b, a, StatusPending, now); err != nil {
				return fmt.Errorf("journal %s %s: %w", e.Op, e.Object, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// FinishEntry is one outcome FinishMany records.
type FinishEntry struct {
	ID      int64
	Status  string
	Errcode int
	Errmsg  string
	Mut     Mutation // applied with status done
}

// FinishMany records many outcomes (an import job's rows) in one
// transaction, each as Finish would.
func (s *Store) FinishMany(ctx context.Context, entries []FinishEntry) error {
	return s.write(ctx, func(tx *txn) error {
		for _, e := range entries {
			if err := s.finishIn(ctx, tx, e.ID, e.Status, e.Errcode, e.Errmsg, e.Mut); err != nil {
				return err
			}
		}
		return nil
	})
}

// Resolve settles a pending or uncertain entry left by an earlier run
// (status resolved or failed), applying mut; msg says how it was settled.
func (s *Store) Resolve(ctx context.Context, entryID int64, status, msg string, mut Mutation) error {
	return s.settle(ctx, entryID, status, 0, msg, mut)
}

// CountDone counts the changes of the given ops made since a time (the
// rolling budgets), by op.
func (s *Store) CountDone(ctx context.Context, ops []string, since time.Time) (map[string]int, error) {
	out := map[string]int{}
	for _, op := range ops {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT object) FROM journal WHERE op=? AND status IN (?, ?) AND started_at>=?`,
			op, StatusDone, StatusResolved, since.UnixMilli()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count recent %s: %w", op, err)
		}
		out[op] = n
	}
	return out, nil
}

// RunningRuns lists runs still marked running. A process holding the
// store's lock calls it: any such run belongs to a process that died.
func (s *Store) RunningRuns(ctx context.Context) ([]Run, error) {
	return s.runs(ctx, `WHERE status='running' ORDER BY id`)
}

// JournalCounts counts a run's journal entries by op and status.
func (s *Store) JournalCounts(ctx context.Context, runID int64) (map[string]map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT op, status, COUNT(*) FROM journal WHERE run_id=? GROUP BY op, status`, runID)
	if err != nil {
		return nil, fmt.Errorf("count journal of run %d: %w", runID, err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var op, status string
		var n int
		if err := rows.Scan(&op, &status, &n); err != nil {
			return nil, err
		}
		if out[op] == nil {
			out[op] = map[string]int{}
		}
		out[op][status] = n
	}
	return out, rows.Err()
}

func (s *Store) settle(ctx context.Context, entryID int64, status string, errcode int, errmsg string, mut Mutation) error {
	return s.write(ctx, func(tx *txn) error {
		return s.finishIn(ctx, tx, entryID, status, errcode, errmsg, mut)
	})
}

// finishIn records an entry's outcome in tx, with its shadow mutation when
// the change was made.
func (s *Store) finishIn(ctx context.Context, tx *txn, entryID int64, status string, errcode int, errmsg string, mut Mutation) error {
	if _, err := tx.ExecContext(ctx, `UPDATE journal SET status=?, errcode=?, errmsg=?, finished_at=? WHERE id=?`,
		status, errcode, errmsg, s.now().UnixMilli(), entryID); err != nil {
		return fmt.Errorf("journal finish: %w", err)
	}
	if status == StatusDone || status == StatusResolved {
		return s.apply(ctx, tx, mut)
	}
	return nil
}

// Apply writes a shadow mutation outside any journaled call (adoption
// bookkeeping, forgetting members deleted by hand).
func (s *Store) Apply(ctx context.Context, mut Mutation) error {
	return s.ApplyAll(ctx, []Mutation{mut})
}

// ApplyAll writes many shadow mutations in one transaction (forgetting the
// members deleted by hand, importing a shadow).
func (s *Store) ApplyAll(ctx context.Context, muts []Mutation) error {
	return s.write(ctx, func(tx *txn) error {
		for _, m := range muts {
			if err := s.apply(ctx, tx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) apply(ctx context.Context, tx *txn, mut Mutation) error {
	if err := s.rekey(ctx, tx, mut.RekeyDepts); err != nil {
		return err
	}
	now := s.now().Unix()
	if m := mut.PutMember; m != nil {
		data, err := json.Marshal(m.Person)
		if err != nil {
			return err
		}
		var disabled any
		if !m.DisabledAt.IsZero() {
			disabled = m.DisabledAt.Unix()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO members(userid_key, userid, person_key, data, adopted, disabled_at, updated_at)
			VALUES(?,?,?,?,?,?,?)
			ON CONFLICT(userid_key) DO UPDATE SET userid=excluded.userid, person_key=excluded.person_key, data=excluded.data,
				adopted=excluded.adopted, disabled_at=excluded.disabled_at, updated_at=excluded.updated_at`,
			model.UserIDKey(m.Person.UserID), m.Person.UserID, m.Person.Key, string(data), boolInt(m.Adopted), disabled, now); err != nil {
			return fmt.Errorf("save member %s: %w", m.Person.UserID, err)
		}
	}
	if mut.DeleteMember != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE userid_key=?`, model.UserIDKey(mut.DeleteMember)); err != nil {
			return fmt.Errorf("forget member %s: %w", mut.DeleteMember, err)
		}
	}
	if d := mut.PutDept; d != nil {
		data, err := json.Marshal(d.Department)
		if err != nil {
			return err
		}
		// A department id belongs to one key: drop any stale row holding it.
		if _, err := tx.ExecContext(ctx, `DELETE FROM departments WHERE id=? AND key<>?`, d.Department.ID, d.Department.Key); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO departments(key, id, data, adopted, updated_at) VALUES(?,?,?,?,?)
			ON CONFLICT(key) DO UPDATE SET id=excluded.id, data=excluded.data, adopted=excluded.adopted, updated_at=excluded.updated_at`,
			d.Department.Key, d.Department.ID, string(data), boolInt(d.Adopted), now); err != nil {
			return fmt.Errorf("save department %s: %w", d.Department.Key, err)
		}
	}
	if mut.DeleteDept != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM departments WHERE key=?`, mut.DeleteDept); err != nil {
			return fmt.Errorf("forget department %s: %w", mut.DeleteDept, err)
		}
	}
	return nil
}

// Pending returns entries whose call may or may not have happened (the
// process died between Begin and Finish, or the answer was lost), oldest
// first.
func (s *Store) Pending(ctx context.Context) ([]Entry, error) {
	return s.query(ctx, `WHERE status IN (?, ?) ORDER BY id`, StatusPending, StatusUncertain)
}

// JournalFilter selects audit entries.
type JournalFilter struct {
	RunID  int64  // 0 = any
	Object string // "" = any (userid or department key)
	Limit  int    // 0 = 100
}

// Journal lists journal entries, newest first.
func (s *Store) Journal(ctx context.Context, f JournalFilter) ([]Entry, error) {
	where, args := "WHERE 1=1", []any{}
	if f.RunID != 0 {
		where += " AND run_id=?"
		args = append(args, f.RunID)
	}
	if f.Object != "" {
		where += " AND " + s.db.d.equalFold("object")
		args = append(args, f.Object)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	return s.query(ctx, where+" ORDER BY id DESC LIMIT ?", args...)
}

func (s *Store) query(ctx context.Context, tail string, args ...any) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, run_id, op, object, before, after, status, errcode, errmsg, started_at, finished_at FROM journal `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var before, after sql.NullString
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&e.ID, &e.RunID, &e.Op, &e.Object, &before, &after, &e.Status, &e.ErrCode, &e.ErrMsg, &started, &finished); err != nil {
			return nil, err
		}
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		e.StartedAt = time.UnixMilli(started)
		if finished.Valid {
			e.FinishedAt = time.UnixMilli(finished.Int64)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Run is one sync run.
type Run struct {
	ID         int64           `json:"id"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitempty"`
	Status     string          `json:"status"`
	Report     json.RawMessage `json:"report,omitempty"`
}

// StartRun records a new run and returns its id.
func (s *Store) StartRun(ctx context.Context) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *txn) (err error) {
		id, err = tx.insertID(ctx, `INSERT INTO runs(started_at, status) VALUES(?, 'running')`, s.now().UnixMilli())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("start run: %w", err)
	}
	return id, nil
}

// FinishRun records a run's outcome and report.
func (s *Store) FinishRun(ctx context.Context, id int64, status string, report any) error {
	b, err := marshalOrNil(report)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE runs SET finished_at=?, status=?, report=? WHERE id=?`, s.now().UnixMilli(), status, b, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish run: %w", err)
	}
	return nil
}

// Runs lists the newest runs first.
func (s *Store) Runs(ctx context.Context, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = 20
	}
	return s.runs(ctx, `ORDER BY id DESC LIMIT ?`, limit)
}

// GetRun returns one run; sql.ErrNoRows if there is none.
func (s *Store) GetRun(ctx context.Context, id int64) (Run, error) {
	rs, err := s.runs(ctx, `WHERE id=?`, id)
	if err != nil {
		return Run{}, err
	}
	if len(rs) == 0 {
		return Run{}, sql.ErrNoRows
	}
	return rs[0], nil
}

func (s *Store) runs(ctx context.Context, tail string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, started_at, finished_at, status, report FROM runs `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started int64
		var finished sql.NullInt64
		var report sql.NullString
		if err := rows.Scan(&r.ID, &started, &finished, &r.Status, &report); err != nil {
			return nil, err
		}
		r.StartedAt = time.UnixMilli(started)
		if finished.Valid {
			r.FinishedAt = time.UnixMilli(finished.Int64)
		}
		if report.Valid {
			r.Report = json.RawMessage(report.String)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func marshalOrNil(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		if raw == nil {
			return nil, nil
		}
		return string(raw), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
