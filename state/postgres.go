package state

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The store's advisory lock: a session lock on the two-int key
// (pgLockClass, pgLockStore), "orgs" and 1. It is per database, so two
// orgsync installations can share a server with a database each.
const (
	pgLockClass = 0x6f726773
	pgLockStore = 1
)

var (
	pgTryLock = fmt.Sprintf(`SELECT pg_try_advisory_lock(%d, %d)`, pgLockClass, pgLockStore)
	pgUnlock  = fmt.Sprintf(`SELECT pg_advisory_unlock(%d, %d)`, pgLockClass, pgLockStore)
	// pgLockHolder names the session holding the lock by the
	// application_name OpenPostgres gives its sessions.
	pgLockHolder = fmt.Sprintf(`SELECT coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %d AND l.objid = %d AND l.objsubid = 2
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`, pgLockClass, pgLockStore)
)

// OpenPostgres opens the store in the PostgreSQL database dsn names (a
// postgres:// URL or key=value DSN, as libpq takes), takes the store's
// advisory lock and migrates the schema.
//
// One process at a time, as with SQLite: the lock is a session advisory
// lock held on one connection for as long as the store is open, and a
// second process gets ErrLocked naming the holder (its pid and host). The
// lock goes with the session: a process that dies, or whose connection
// the server drops, loses it.
//
// The dsn holds the password: no error or message shows it; they name the
// store by host:port/database.
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	s, cfg, err := openPostgresDB(ctx, dsn, 2, nil)
	if err != nil {
		return nil, err
	}
	// One connection holds the lock and one runs the queries, so that
	// transactions stay as simple and ordered as on SQLite's one writer.
	lock, err := s.db.sql.Conn(ctx)
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open %s: %w", s.where, redactErr(err, cfg))
	}
	var got bool
	if err := lock.QueryRowContext(ctx, pgTryLock).Scan(&got); err != nil {
		lock.Close()
		s.db.Close()
		return nil, fmt.Errorf("lock %s: %w", s.where, redactErr(err, cfg))
	}
	if !got {
		var app, addr string
		holder := "unknown"
		if err := lock.QueryRowContext(ctx, pgLockHolder).Scan(&app, &addr); err == nil {
			holder = strings.TrimPrefix(app, "orgsync ")
			if holder == "" {
				holder = "a session from " + addr
			}
		}
		lock.Close()
		s.db.Close()
		return nil, fmt.Errorf("%w (%s holds the lock on %s); wait for it to finish or stop it", ErrLocked, holder, s.where)
	}
	s.pgLock = lock
	s.fence = &fence{name: cfg.RuntimeParams["application_name"]}
	if err := s.migrateLocked(ctx, lock); err != nil {
		s.Close()
		return nil, redactErr(err, cfg)
	}
	if err := s.takeExclusive(ctx, s.fence.name); err != nil {
		s.Close()
		return nil, redactErr(err, cfg)
	}
	s.closing, s.watchDone = make(chan struct{}), make(chan struct{})
	go s.watchLock(cfg, LockCheckInterval)
	return s, nil
}

// LockCheckInterval is how often a single-process PostgreSQL store checks
// that its advisory lock's session is still there.
var LockCheckInterval = 2 * time.Second

// RedactDSN names a PostgreSQL DSN by host:port/database, without its
// user or password, for messages.
func RedactDSN(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "(an invalid PostgreSQL dsn)"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

// redactErr makes sure an error from the driver does not carry the
// password, whatever the driver put in it.
func redactErr(err error, cfg *pgx.ConnConfig) error {
	if err == nil || cfg.Password == "" || !strings.Contains(err.Error(), cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "xxxxx"))
}

func (s *Store) schemaVersion(ctx context.Context) (int, error) {
	var v int
	if s.db.d != postgresDialect {
		err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
		return v, err
	}
	// The one-row table; made (at version 0) by the first orgsync to open
	// the database, under the advisory lock.
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return 0, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_version(version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)`); err != nil {
		return 0, err
	}
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

var (
	pgAutoID  = regexp.MustCompile(`\bINTEGER PRIMARY KEY AUTOINCREMENT\b`)
	pgInteger = regexp.MustCompile(`\bINTEGER\b`)
)

// postgresDDL turns a SQLite migration into PostgreSQL's: an
// autoincrement id becomes BIGSERIAL and every INTEGER a BIGINT (SQLite's
// integers are 64-bit; the store keeps unix milliseconds in them). The
// rest of the store's DDL (TEXT, NOT NULL, DEFAULT, UNIQUE, PRIMARY KEY,
// CREATE INDEX, -- comments) is spelled the same in both.
func postgresDDL(sqlite string) string {
	s := pgAutoID.ReplaceAllString(sqlite, "BIGSERIAL PRIMARY KEY")
	return pgInteger.ReplaceAllString(s, "BIGINT")
}
