// Package state is orgsync's memory: the shadow (the last applied version of
// every member and department orgsync manages, and which ones it owns), the
// leaver clocks, the runs, and the journal of every change, in one SQLite
// file (modernc.org/sqlite, pure Go; the embedded default, Open) or in a
// PostgreSQL database (jackc/pgx, OpenPostgres), with the same schema and
// the same behaviour: one Store type, a small dialect for what is spelled
// differently (placeholders, ids of new rows, the schema version, DDL).
//
// Contracts:
//   - One process at a time: Open takes an exclusive flock on PATH.lock and a
//     second process gets ErrLocked with the holder's pid; OpenPostgres takes
//     a session advisory lock in the database instead, with the same error.
//   - The schema is versioned (SQLite: PRAGMA user_version; PostgreSQL: the
//     schema_version table); Open migrates older stores forward and refuses
//     stores from a newer orgsync.
//   - Every change is journaled before the WeCom call (Begin) and after it
//     (Finish, in the same transaction as the shadow update), so a process
//     killed at any point leaves a pending entry that the next run resolves.
//   - Losing the file never causes deletions: with no ownership rows nothing
//     is orgsync's to disable or delete.
package state

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
)

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("state store is in use by another orgsync process")

// SchemaVersion is the schema this build writes.
const SchemaVersion = 5

// migrations[i] moves a store from version i to i+1. They are written for
// SQLite; postgresDDL turns each into the same tables and indexes for
// PostgreSQL, so both stores always have one schema.
var migrations = []string{
	`CREATE TABLE members (
		userid_key  TEXT PRIMARY KEY,   -- lower-cased userid (WeCom compares case-insensitively)
		userid      TEXT NOT NULL,
		person_key  TEXT NOT NULL,      -- the source key
		data        TEXT NOT NULL,      -- JSON model.Person as last applied
		adopted     INTEGER NOT NULL DEFAULT 0,
		disabled_at INTEGER,            -- unix seconds when orgsync disabled it as a leaver
		updated_at  INTEGER NOT NULL
	);
	CREATE INDEX members_person_key ON members(person_key);
	CREATE TABLE departments (
		key        TEXT PRIMARY KEY,
		id         INTEGER NOT NULL UNIQUE,
		data       TEXT NOT NULL,       -- JSON model.Department as last applied
		adopted    INTEGER NOT NULL DEFAULT 0,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE runs (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		started_at  INTEGER NOT NULL,
		finished_at INTEGER,
		status      TEXT NOT NULL,      -- running, succeeded, failed, refused, dry-run
		report      TEXT
	);
	CREATE TABLE journal (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		run_id      INTEGER NOT NULL,
		op          TEXT NOT NULL,      -- user_create, department_delete, ...
		object      TEXT NOT NULL,      -- userid or department key
		before      TEXT,
		after       TEXT,
		status      TEXT NOT NULL,      -- pending, done, failed, resolved
		errcode     INTEGER NOT NULL DEFAULT 0,
		errmsg      TEXT NOT NULL DEFAULT '',
		started_at  INTEGER NOT NULL,
		finished_at INTEGER
	);
	CREATE INDEX journal_status ON journal(status);
	CREATE INDEX journal_run ON journal(run_id);
	CREATE INDEX journal_object ON journal(object);`,
	// The rolling disable/delete budgets count recent entries by op.
	`CREATE INDEX journal_op_started ON journal(op, started_at);`,
	heldSchema,
	leaderSchema,
	importJobsSchema,
}

// Store is an open state store.
type Store struct {
	db     db
	lock   *os.File  // SQLite: the flock on PATH.lock
	pgLock *sql.Conn // PostgreSQL: the session holding the advisory lock
	lockMu sync.Mutex
	// fence (PostgreSQL): the epoch every write checks (lease.go).
	fence     *fence
	closing   chan struct{} // ends watchLock
	watchDone chan struct{}
	path      string // SQLite: the file
	dsn       string // PostgreSQL: the connection string (holds the password: never shown)
	where     string // what messages call the store: the file, or host:port/database
	now       func() time.Time
}

// Open opens (creating if needed) the store at path, takes the process lock
// and migrates the schema.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path + ".lock")
		lf.Close()
		pid := strings.TrimSpace(string(holder))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w (pid %s holds %s.lock); wait for it to finish or stop it", ErrLocked, pid, path)
	}
	_ = lf.Truncate(0)
	_, _ = lf.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)

	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("open state: %w", err)
	}
	sdb.SetMaxOpenConns(1) // one writer; keeps transactions simple and ordered
	s := &Store{db: db{conn: conn{x: sdb, d: sqliteDialect}, sql: sdb}, lock: lf, path: path, where: "state file " + path, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the database and the lock.
func (s *Store) Close() error {
	if s.closing != nil {
		close(s.closing)
		<-s.watchDone
		s.closing = nil
	}
	if s.pgLock != nil {
		_, _ = s.pgLock.ExecContext(context.Background(), pgUnlock)
		_ = s.pgLock.Close()
	}
	err := s.db.Close()
	if s.lock != nil {
		_ = syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
		s.lock.Close()
	}
	return err
}

// SetClock replaces the clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Path returns the file the store lives in ("" for a PostgreSQL store,
// which has no file and so no snapshots beside it).
func (s *Store) Path() string { return s.path }

// Driver names the store's database: "sqlite" or "postgres".
func (s *Store) Driver() string { return s.db.d.name }

func (s *Store) migrate(ctx context.Context) error {
	pg := s.db.d == postgresDialect
	v, err := s.schemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("read state schema version: %w", err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("%s has schema version %d, newer than this orgsync (%d): upgrade orgsync", s.where, v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ddl, setVersion := migrations[v], fmt.Sprintf(`PRAGMA user_version = %d`, v+1)
		if pg {
			ddl, setVersion = postgresDDL(ddl), fmt.Sprintf(`UPDATE schema_version SET version = %d`, v+1)
		}
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate state to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, setVersion); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Member, Dept and Shadow are plan's: the shadow is plan's input, and
// plan imports no store.
type (
	Member = plan.ShadowMember
	Dept   = plan.ShadowDept
	Shadow = plan.Shadow
)

// LoadShadow reads every managed member and department.
func (s *Store) LoadShadow(ctx context.Context) (*Shadow, error) {
	return loadShadow(ctx, s.db)
}

// memberBatch is a run of member rows as the driver gave them: data holds
// their JSON one after the other, each row's ending at its end.
type memberBatch struct {
	data []byte
	rows []memberRow
}

type memberRow struct {
	end         int
	adopted     bool
	hasDisabled bool
	disabled    int64
}

// decodeMembers reads the rows of SELECT data, adopted, disabled_at FROM
// members into into. Every run reads every member, and the driver's
// reading and the decoding take about as long as each other, so the rows
// are read on this goroutine and decoded on another, in batches of 1,024
// (the driver's bytes are valid only until the next row: they are copied
// into the batch). model.UnmarshalPerson decodes each as json.Unmarshal
// would, several times faster, and its Interner holds the department keys,
// positions and leaders that many members share once. Members are
// allocated in blocks rather than one by one.
func decodeMembers(rows *sql.Rows, into map[string]*Member) error {
	const batchRows = 1024
	full := make(chan *memberBatch, 2)
	free := make(chan *memberBatch, 4)
	done := make(chan error, 1)
	go func() {
		var in model.Interner
		var block []Member
		var err error
		for b := range full {
			start := 0
			for _, r := range b.rows {
				if err != nil {
					break
				}
				if len(block) == 0 {
					block = make([]Member, batchRows)
				}
				m := &block[0]
				block = block[1:]
				m.Adopted = r.adopted
				if derr := model.UnmarshalPerson(b.data[start:r.end], &m.Person, &in); derr != nil {
					err = fmt.Errorf("decode member shadow: %w", derr)
					break
				}
				if r.hasDisabled {
					m.DisabledAt = time.Unix(r.disabled, 0)
				}
				into[model.UserIDKey(m.Person.UserID)] = m
				start = r.end
			}
			b.data, b.rows = b.data[:0], b.rows[:0]
			select {
			case free <- b:
			default:
			}
		}
		done <- err
	}()
	var b *memberBatch
	send := func() {
		if b != nil && len(b.rows) > 0 {
			full <- b
		}
		b = nil
	}
	var rerr error
	for rows.Next() {
		if b == nil {
			select {
			case b = <-free:
			default:
				b = &memberBatch{rows: make([]memberRow, 0, batchRows)}
			}
		}
		var data sql.RawBytes // valid until the next Next: copied before it
		var adopted int
		var disabled sql.NullInt64
		if rerr = rows.Scan(&data, &adopted, &disabled); rerr != nil {
			break
		}
		b.data = append(b.data, data...)
		b.rows = append(b.rows, memberRow{end: len(b.data), adopted: adopted != 0, hasDisabled: disabled.Valid, disabled: disabled.Int64})
		if len(b.rows) == batchRows {
			send()
		}
	}
	send()
	close(full)
	derr := <-done
	if rerr == nil {
		rerr = rows.Err()
	}
	return cmp.Or(rerr, derr)
}

// querier is what LoadShadow reads through: the database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func loadShadow(ctx context.Context, db querier) (*Shadow, error) {
	// The map is sized from a count first: grown from empty, a map of 1M
	// members rehashes all it holds at every doubling (a quarter of the
	// load's time at 1M). The count is a hint; the rows decide.
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM members`).Scan(&n); err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
	sh := &Shadow{Members: make(map[string]*Member, n), Departments: map[string]*Dept{}}
	rows, err := db.QueryContext(ctx, `SELECT data, adopted, disabled_at FROM members`)
	if err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
	defer rows.Close()
	if err := decodeMembers(rows, sh.Members); err != nil {
		return nil, err
	}
	drows, err := db.QueryContext(ctx, `SELECT data, adopted FROM departments`)
	if err != nil {
		return nil, fmt.Errorf("load departments: %w", err)
	}
	defer drows.Close()
	for drows.Next() {
		var data string
		var adopted int
		if err := drows.Scan(&data, &adopted); err != nil {
			return nil, err
		}
		d := &Dept{Adopted: adopted != 0}
		if err := json.Unmarshal([]byte(data), &d.Department); err != nil {
			return nil, fmt.Errorf("decode department shadow: %w", err)
		}
		sh.Departments[d.Department.Key] = d
	}
	return sh, drows.Err()
}
