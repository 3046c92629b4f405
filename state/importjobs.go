package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/orgsync/orgsync/model"
)

// Import job outcomes (import_jobs.outcome), set when a job is settled.
const (
	// JobFinished: the job's result was read; each of its rows was
	// settled from its own line of that result (a row the result did not
	// name is left for the list-based settle).
	JobFinished = "finished"
	// JobUnknown: WeCom no longer knows the job (its result was purged,
	// or the id is unknown): its rows are left for the list-based settle.
	JobUnknown = "unknown"
)

// ImportJob is one import job a run submitted, and how it was settled.
type ImportJob struct {
	ID          int64     `json:"id"`
	Job         string    `json:"job"` // WeCom's jobid
	RunID       int64     `json:"run_id"`
	Rows        int       `json:"rows"`
	SubmittedAt time.Time `json:"submitted_at"`
	SettledAt   time.Time `json:"settled_at,omitzero"` // zero while open
	Outcome     string    `json:"outcome,omitempty"`
}

// jobRowsPerInsert is how many rows one INSERT of import_job_rows carries
// (two placeholders a row: far below both drivers' limits).
const jobRowsPerInsert = 500

// RecordImportJob records, in one transaction, that job (WeCom's jobid),
// submitted by run runID, carries the journal entries entries (BeginMany's
// ids), and returns the job's id in the store. The submitter calls it as
// soon as WeCom answers with the jobid, before waiting for the job: a run
// that dies or gives up waiting leaves the job open, and the next run
// settles its entries from the job's result (OpenImportJobs).
func (s *Store) RecordImportJob(ctx context.Context, runID int64, job string, entries []int64) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *txn) (err error) {
		id, err = tx.insertID(ctx, `INSERT INTO import_jobs(job, run_id, row_count, submitted_at) VALUES(?,?,?,?)`,
			job, runID, len(entries), s.now().UnixMilli())
		if err != nil {
			return err
		}
		for rest := entries; len(rest) > 0; {
			n := min(len(rest), jobRowsPerInsert)
			args := make([]any, 0, 2*n)
			for _, e := range rest[:n] {
				args = append(args, e, id)
			}
			q := `INSERT INTO import_job_rows(entry, job_id) VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?),", n), ",")
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record import job %s: %w", job, err)
	}
	return id, nil
}

// OpenImportJobs lists the jobs not yet settled, oldest first (the order
// WeCom ran them in: one at a time).
func (s *Store) OpenImportJobs(ctx context.Context) ([]ImportJob, error) {
	return s.importJobs(ctx, `WHERE settled_at IS NULL ORDER BY id`)
}

// ImportJobs lists the newest jobs first.
func (s *Store) ImportJobs(ctx context.Context, limit int) ([]ImportJob, error) {
	if limit <= 0 {
		limit = 20
	}
	return s.importJobs(ctx, `ORDER BY id DESC LIMIT ?`, limit)
}

func (s *Store) importJobs(ctx context.Context, tail string, args ...any) ([]ImportJob, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, job, run_id, row_count, submitted_at, settled_at, outcome FROM import_jobs `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("read import jobs: %w", err)
	}
	defer rows.Close()
	var out []ImportJob
	for rows.Next() {
		var j ImportJob
		var submitted int64
		var settled sql.NullInt64
		if err := rows.Scan(&j.ID, &j.Job, &j.RunID, &j.Rows, &submitted, &settled, &j.Outcome); err != nil {
			return nil, err
		}
		j.SubmittedAt = time.UnixMilli(submitted)
		if settled.Valid {
			j.SettledAt = time.UnixMilli(settled.Int64)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ImportJobEntries returns the journal entries of job (the store's id)
// still pending or uncertain, in journal order.
func (s *Store) ImportJobEntries(ctx context.Context, jobID int64) ([]Entry, error) {
	return s.query(ctx, `WHERE id IN (SELECT entry FROM import_job_rows WHERE job_id=?) AND status IN (?, ?) ORDER BY id`,
		jobID, StatusPending, StatusUncertain)
}

// SettleImportJob records, in one transaction, the outcomes of a job's
// entries (as FinishMany does: with status done or resolved, the entry's
// mutation goes into the shadow) and the job as settled with outcome
// (JobFinished, JobUnknown). Entries not in entries keep their status.
func (s *Store) SettleImportJob(ctx context.Context, jobID int64, outcome string, entries []FinishEntry) error {
	err := s.write(ctx, func(tx *txn) error {
		for _, e := range entries {
			if err := s.finishIn(ctx, tx, e.ID, e.Status, e.Errcode, e.Errmsg, e.Mut); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE import_jobs SET settled_at=?, outcome=? WHERE id=?`, s.now().UnixMilli(), outcome, jobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("settle import job %d: %w", jobID, err)
	}
	return nil
}

// ShadowMembers reads the shadow rows of the given userids (case as WeCom
// compares them), by model.UserIDKey; userids with no row are absent.
// A job's rows are settled with it: it reads only their members, not the
// whole shadow.
func (s *Store) ShadowMembers(ctx context.Context, userids []string) (map[string]*Member, error) {
	out := make(map[string]*Member, len(userids))
	var in model.Interner
	for rest := userids; len(rest) > 0; {
		n := min(len(rest), jobRowsPerInsert)
		args := make([]any, n)
		for i, u := range rest[:n] {
			args[i] = model.UserIDKey(u)
		}
		rest = rest[n:]
		rows, err := s.db.QueryContext(ctx, `SELECT data, adopted, disabled_at FROM members WHERE userid_key IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read members: %w", err)
		}
		for rows.Next() {
			var data sql.RawBytes
			var adopted int
			var disabled sql.NullInt64
			if err := rows.Scan(&data, &adopted, &disabled); err != nil {
				rows.Close()
				return nil, err
			}
			m := &Member{Adopted: adopted != 0}
			if err := model.UnmarshalPerson(data, &m.Person, &in); err != nil {
				rows.Close()
				return nil, fmt.Errorf("decode member shadow: %w", err)
			}
			if disabled.Valid {
				m.DisabledAt = time.Unix(disabled.Int64, 0)
			}
			out[model.UserIDKey(m.Person.UserID)] = m
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
