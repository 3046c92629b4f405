package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// heldSchema is the review queue: the changes the guard held or refused,
// one row per op and object, and every decision on them (the audit log of
// approvals).
const heldSchema = `CREATE TABLE held (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		op          TEXT NOT NULL,      -- user_disable, user_move, department_delete, ...
		object      TEXT NOT NULL,      -- userid or department key
		reason      TEXT NOT NULL,      -- why the guard held it, last time
		origin      TEXT NOT NULL DEFAULT '', -- the person's source record (file:line, DN, URL)
		before      TEXT,               -- JSON: the shadow, as the plan had it
		after       TEXT,               -- JSON: the desired value
		fingerprint TEXT NOT NULL,      -- what the change is, to tell the same change from a new one
		run_id      INTEGER NOT NULL,   -- the run that last held it
		status      TEXT NOT NULL,      -- held, approved, rejected, applied, obsolete
		decided_by  TEXT NOT NULL DEFAULT '',
		decided_at  INTEGER,
		held_at     INTEGER NOT NULL,   -- first held (this time round)
		updated_at  INTEGER NOT NULL,
		UNIQUE(op, object)
	);
	CREATE INDEX held_status ON held(status);
	CREATE TABLE held_events (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		held_id  INTEGER NOT NULL,
		at       INTEGER NOT NULL,
		actor    TEXT NOT NULL,        -- the OS user, the API token's name, or "run N"
		action   TEXT NOT NULL,        -- held, reopened, approved, rejected, applied, obsolete
		note     TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX held_events_held ON held_events(held_id);`

// Held change statuses. A change is held by a run; an admin approves or
// rejects it; a later run applies an approved one if it still plans
// exactly that change, and makes a row obsolete whose change it no longer
// plans at all. A rejected change is not proposed again while the plan's
// change keeps its fingerprint.
const (
	HeldHeld     = "held"
	HeldApproved = "approved"
	HeldRejected = "rejected"
	HeldApplied  = "applied"
	HeldObsolete = "obsolete"
)

// HeldOpen are the statuses of the live queue: what a run still weighs.
var HeldOpen = []string{HeldHeld, HeldApproved, HeldRejected}

// ErrHeldNotFound is returned for an id the queue does not have.
var ErrHeldNotFound = errors.New("no such held change")

// ErrHeldClosed is returned when deciding on a change that was already
// applied or became obsolete.
var ErrHeldClosed = errors.New("held change is closed")

// HeldChange is one row of the review queue.
type HeldChange struct {
	ID          int64           `json:"id"`
	Op          string          `json:"op"`
	Object      string          `json:"object"`
	Reason      string          `json:"reason"`
	Origin      string          `json:"origin,omitempty"`
	Before      json.RawMessage `json:"before,omitempty"`
	After       json.RawMessage `json:"after,omitempty"`
	Fingerprint string          `json:"fingerprint"`
	RunID       int64           `json:"run_id"`
	Status      string          `json:"status"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   time.Time       `json:"decided_at,omitzero"`
	HeldAt      time.Time       `json:"held_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// HeldEvent is one entry of a held change's audit trail.
type HeldEvent struct {
	HeldID int64     `json:"held_id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Note   string    `json:"note,omitempty"`
}

// HeldFilter selects rows of the queue. Zero fields select everything.
type HeldFilter struct {
	IDs    []int64
	Status []string
	Op     string
}

// Hold records the changes a run held (or refused): a new op+object gets a
// row; a row still held or approved keeps its status if its fingerprint is
// unchanged (an approved change a suspect source held again stays
// approved); any other row (a changed change, or one rejected, applied or
// obsolete before) is reopened as held, its decision cleared.
func (s *Store) Hold(ctx context.Context, runID int64, changes []HeldChange) error {
	if len(changes) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *txn) error {
		now := s.now().UnixMilli()
		actor := fmt.Sprintf("run %d", runID)
		for _, c := range changes {
			var id int64
			var status, fp string
			err := tx.QueryRowContext(ctx, `SELECT id, status, fingerprint FROM held WHERE op=? AND object=?`, c.Op, c.Object).Scan(&id, &status, &fp)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				id, err = tx.insertID(ctx, `INSERT INTO held(op, object, reason, origin, before, after, fingerprint, run_id, status, held_at, updated_at)
					VALUES(?,?,?,?,?,?,?,?,?,?,?)`, c.Op, c.Object, c.Reason, c.Origin, rawOrNil(c.Before), rawOrNil(c.After), c.Fingerprint, runID, HeldHeld, now, now)
				if err != nil {
					return fmt.Errorf("hold %s %s: %w", c.Op, c.Object, err)
				}
				if err := addEvent(ctx, tx, id, now, actor, HeldHeld, c.Reason); err != nil {
					return err
				}
				continue
			case err != nil:
				return fmt.Errorf("hold %s %s: %w", c.Op, c.Object, err)
			}
			keep := fp == c.Fingerprint && (status == HeldHeld || status == HeldApproved)
			if keep {
				_, err = tx.ExecContext(ctx, `UPDATE held SET reason=?, origin=?, before=?, after=?, run_id=?, updated_at=? WHERE id=?`,
					c.Reason, c.Origin, rawOrNil(c.Before), rawOrNil(c.After), runID, now, id)
			} else {
				_, err = tx.ExecContext(ctx, `UPDATE held SET reason=?, origin=?, before=?, after=?, fingerprint=?, run_id=?, status=?, decided_by='', decided_at=NULL, held_at=?, updated_at=? WHERE id=?`,
					c.Reason, c.Origin, rawOrNil(c.Before), rawOrNil(c.After), c.Fingerprint, runID, HeldHeld, now, now, id)
				if err == nil {
					note := "was " + status
					if fp != c.Fingerprint {
						note += "; the planned change differs from it now"
					}
					err = addEvent(ctx, tx, id, now, actor, "reopened", note)
				}
			}
			if err != nil {
				return fmt.Errorf("hold %s %s: %w", c.Op, c.Object, err)
			}
		}
		return nil
	})
}

// DecideHeld approves or rejects rows (status HeldApproved or
// HeldRejected) on behalf of actor, and logs each decision. A row already
// in that status is left as it is; an applied or obsolete row is
// ErrHeldClosed and an unknown id ErrHeldNotFound, and then nothing is
// changed. It returns the rows as decided.
func (s *Store) DecideHeld(ctx context.Context, ids []int64, status, actor, note string) ([]HeldChange, error) {
	if status != HeldApproved && status != HeldRejected {
		return nil, fmt.Errorf("decide held: status %q: want %s or %s", status, HeldApproved, HeldRejected)
	}
	if strings.TrimSpace(actor) == "" {
		return nil, errors.New("decide held: who decides is required")
	}
	now := s.now().UnixMilli()
	err := s.write(ctx, func(tx *txn) error {
		for _, id := range ids {
			var cur string
			err := tx.QueryRowContext(ctx, `SELECT status FROM held WHERE id=?`, id).Scan(&cur)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("%w: %d", ErrHeldNotFound, id)
			case err != nil:
				return err
			case cur == HeldApplied || cur == HeldObsolete:
				return fmt.Errorf("%w: %d is %s", ErrHeldClosed, id, cur)
			case cur == status:
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE held SET status=?, decided_by=?, decided_at=?, updated_at=? WHERE id=?`, status, actor, now, now, id); err != nil {
				return fmt.Errorf("decide held %d: %w", id, err)
			}
			if err := addEvent(ctx, tx, id, now, actor, status, note); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.ListHeld(ctx, HeldFilter{IDs: ids})
}

// CloseHeld marks rows applied or obsolete, as run runID found them.
func (s *Store) CloseHeld(ctx context.Context, runID int64, ids []int64, status, note string) error {
	if status != HeldApplied && status != HeldObsolete {
		return fmt.Errorf("close held: status %q: want %s or %s", status, HeldApplied, HeldObsolete)
	}
	if len(ids) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *txn) error {
		now := s.now().UnixMilli()
		actor := fmt.Sprintf("run %d", runID)
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE held SET status=?, run_id=?, updated_at=? WHERE id=?`, status, runID, now, id); err != nil {
				return fmt.Errorf("close held %d: %w", id, err)
			}
			if err := addEvent(ctx, tx, id, now, actor, status, note); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListHeld lists rows of the queue, oldest first.
func (s *Store) ListHeld(ctx context.Context, f HeldFilter) ([]HeldChange, error) {
	where, args := []string{"1=1"}, []any{}
	if len(f.IDs) > 0 {
		where = append(where, "id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if len(f.Status) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Status))+")")
		for _, st := range f.Status {
			args = append(args, st)
		}
	}
	if f.Op != "" {
		where = append(where, "op=?")
		args = append(args, f.Op)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, op, object, reason, origin, before, after, fingerprint, run_id, status, decided_by, decided_at, held_at, updated_at
		FROM held WHERE `+strings.Join(where, " AND ")+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read held changes: %w", err)
	}
	defer rows.Close()
	var out []HeldChange
	for rows.Next() {
		var h HeldChange
		var before, after sql.NullString
		var decided sql.NullInt64
		var heldAt, updated int64
		if err := rows.Scan(&h.ID, &h.Op, &h.Object, &h.Reason, &h.Origin, &before, &after, &h.Fingerprint, &h.RunID, &h.Status,
			&h.DecidedBy, &decided, &heldAt, &updated); err != nil {
			return nil, err
		}
		if before.Valid {
			h.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			h.After = json.RawMessage(after.String)
		}
		if decided.Valid {
			h.DecidedAt = time.UnixMilli(decided.Int64)
		}
		h.HeldAt, h.UpdatedAt = time.UnixMilli(heldAt), time.UnixMilli(updated)
		out = append(out, h)
	}
	return out, rows.Err()
}

// GetHeld returns one row; ErrHeldNotFound if there is none.
func (s *Store) GetHeld(ctx context.Context, id int64) (HeldChange, error) {
	hs, err := s.ListHeld(ctx, HeldFilter{IDs: []int64{id}})
	if err != nil {
		return HeldChange{}, err
	}
	if len(hs) == 0 {
		return HeldChange{}, fmt.Errorf("%w: %d", ErrHeldNotFound, id)
	}
	return hs[0], nil
}

// HeldEvents returns a held change's audit trail, oldest first.
func (s *Store) HeldEvents(ctx context.Context, id int64) ([]HeldEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT held_id, at, actor, action, note FROM held_events WHERE held_id=? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read held events: %w", err)
	}
	defer rows.Close()
	var out []HeldEvent
	for rows.Next() {
		var e HeldEvent
		var at int64
		if err := rows.Scan(&e.HeldID, &at, &e.Actor, &e.Action, &e.Note); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func addEvent(ctx context.Context, tx *txn, id, at int64, actor, action, note string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO held_events(held_id, at, actor, action, note) VALUES(?,?,?,?,?)`, id, at, actor, action, note); err != nil {
		return fmt.Errorf("log held %d %s: %w", id, action, err)
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func rawOrNil(r json.RawMessage) any {
	if len(r) == 0 || string(r) == "null" {
		return nil
	}
	return string(r)
}
