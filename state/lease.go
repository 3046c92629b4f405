package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Leadership and fencing (PostgreSQL).
//
// The database holds one `leader` row: who leads, their advertised URL,
// the lease's expiry (in the database's clock, so hosts' clocks never
// matter) and an epoch that grows by one at every change of hands. Every
// write the store makes for a run (journal, shadow, ownership, runs, held
// changes) reads that row FOR SHARE in its own transaction and refuses to
// commit unless the epoch is still the writer's (ErrFenced). A takeover
// updates the row, so it waits for any write in flight to commit, and
// every write after it sees the new epoch: a paused or partitioned leader
// that wakes up cannot write, whatever its connection still holds.
//
// Why a lease row and not a session advisory lock alone: a session lock
// lasts as long as its TCP connection, and a paused process's kernel keeps
// answering keepalives, so a SIGSTOPped leader would hold it for ever. The
// lease expires by the database's clock whatever the holder's kernel
// does. The advisory lock stays for the single-process store (OpenPostgres:
// orgsync sync, a daemon without ha), which also takes a new epoch, so a
// CLI run and a daemon never write at once either: the HA election takes
// the same lock for the length of its transaction and fails while a
// single-process store holds it, and OpenPostgres refuses while an HA
// leader's lease is live.

// ErrFenced is returned by a write the store refused because its epoch is
// no longer the database's: another process took over the store.
var ErrFenced = errors.New("fenced: another orgsync took over the state store")

// FencedError says why a write was fenced.
type FencedError struct {
	Epoch   int64  // the writer's epoch (0: none held)
	Current int64  // the database's (0 when not read)
	Holder  string // who holds the database's epoch
	Why     string
}

func (e *FencedError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("%v: %s", ErrFenced, e.Why)
	}
	return fmt.Sprintf("%v (this process holds epoch %d; %s holds epoch %d)", ErrFenced, e.Epoch, orUnknown(e.Holder), e.Current)
}

func (e *FencedError) Is(target error) bool { return target == ErrFenced }

func orUnknown(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// ErrNotLeader is returned by Renew when the lease is no longer this
// daemon's.
var ErrNotLeader = errors.New("the leader lease is no longer this daemon's")

// fence is a store's fencing state. SQLite stores have none (the flock is
// per host and the file is one host's).
type fence struct {
	ha     bool
	name   string // this process, in the lease and in messages
	url    string
	epoch  atomic.Int64 // the epoch this process holds; 0 = none
	lost   atomic.Bool  // single-process store: the advisory lock's session is gone
	fenced atomic.Int64 // writes refused
	// deadline (HA): the monotonic time by which the lease, as last
	// renewed, may have expired; a write after it is refused without
	// asking the database (a leader that slept through its lease).
	mu       sync.Mutex
	deadline time.Time
}

type epochKey struct{}

// RunContext returns ctx carrying the epoch the store holds now: every
// write made with it (or a context derived from it) checks that epoch,
// so a run keeps the epoch it started with even if its process later
// leads again under a new one.
func (s *Store) RunContext(ctx context.Context) context.Context {
	if s.fence == nil {
		return ctx
	}
	return context.WithValue(ctx, epochKey{}, s.fence.epoch.Load())
}

// Epoch is the epoch the store holds now (0: none, or SQLite).
func (s *Store) Epoch() int64 {
	if s.fence == nil {
		return 0
	}
	return s.fence.epoch.Load()
}

// FencedWrites counts the writes the store refused (a metric).
func (s *Store) FencedWrites() int64 {
	if s.fence == nil {
		return 0
	}
	return s.fence.fenced.Load()
}

// writeTx begins a transaction for a write and checks the fence in it.
func (s *Store) writeTx(ctx context.Context) (*txn, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if err := s.checkFence(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

func (s *Store) checkFence(ctx context.Context, tx *txn) error {
	f := s.fence
	if f == nil {
		return nil
	}
	epoch := f.epoch.Load()
	if e, ok := ctx.Value(epochKey{}).(int64); ok {
		epoch = e
	}
	refuse := func(e *FencedError) error {
		f.fenced.Add(1)
		return e
	}
	switch {
	case f.lost.Load():
		return refuse(&FencedError{Epoch: epoch, Why: "the session holding the store's lock was lost (a database restart or a dropped connection)"})
	case epoch == 0:
		return refuse(&FencedError{Why: "this daemon is a standby: only the leader writes"})
	}
	if f.ha {
		f.mu.Lock()
		late := !f.deadline.IsZero() && time.Now().After(f.deadline)
		f.mu.Unlock()
		if late && epoch == f.epoch.Load() {
			return refuse(&FencedError{Epoch: epoch, Why: "the leader lease was not renewed in time (was this process paused?)"})
		}
	}
	var cur int64
	var holder string
	if err := tx.QueryRowContext(ctx, `SELECT epoch, holder FROM leader WHERE id=1 FOR SHARE`).Scan(&cur, &holder); err != nil {
		return fmt.Errorf("check the leader epoch: %w", err)
	}
	if cur != epoch {
		return refuse(&FencedError{Epoch: epoch, Current: cur, Holder: holder})
	}
	return nil
}

// pgNow is the database's clock in unix milliseconds.
const pgNow = `(extract(epoch from clock_timestamp())*1000)::bigint`

var pgTryXactLock = fmt.Sprintf(`SELECT pg_try_advisory_xact_lock(%d, %d)`, pgLockClass, pgLockStore)

// Leader is the lease row.
type Leader struct {
	Holder    string    `json:"holder,omitempty"`
	URL       string    `json:"url,omitempty"`
	Epoch     int64     `json:"epoch"`
	Acquired  time.Time `json:"acquired_at,omitempty"`
	Renewed   time.Time `json:"renewed_at,omitempty"`
	Expires   time.Time `json:"expires_at,omitempty"`
	Live      bool      `json:"live"` // the lease has not expired (by the database's clock)
	Exclusive bool      `json:"exclusive,omitempty"`
}

// Leader reads the lease row (PostgreSQL; a SQLite store has none).
func (s *Store) Leader(ctx context.Context) (Leader, error) {
	if s.db.d != postgresDialect {
		return Leader{}, errors.New("a SQLite state store has no leader lease")
	}
	var l Leader
	var acq, ren, exp int64
	err := s.db.QueryRowContext(ctx, `SELECT holder, url, epoch, acquired_at, renewed_at, expires_at, expires_at > `+pgNow+` FROM leader WHERE id=1`).
		Scan(&l.Holder, &l.URL, &l.Epoch, &acq, &ren, &exp, &l.Live)
	if err != nil {
		return l, fmt.Errorf("read the leader lease: %w", err)
	}
	l.Acquired, l.Renewed = msTime(acq), msTime(ren)
	l.Expires = msTime(exp)
	l.Exclusive = exp == 0 && l.Holder != ""
	return l, nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// HAOptions name a daemon in the election.
type HAOptions struct {
	Name string // in the lease, status and logs (default host pid N)
	URL  string // where standbys send callers of POST /v1/sync
	// Lease is the lease the daemon holds (default 15 s). The server ends
	// a session of this store left idle inside a transaction for half of
	// it: a leader paused in the middle of a write (SIGSTOP, a frozen VM)
	// would otherwise hold the lease row's share lock, and with it every
	// takeover, for as long as it is paused.
	Lease time.Duration
}

// OpenPostgresHA opens the store for a daemon that shares it with others
// and writes only while it leads (Acquire, Renew, Resign). It takes no
// lock: until Acquire succeeds every write is fenced.
func OpenPostgresHA(ctx context.Context, dsn string, o HAOptions) (*Store, error) {
	if o.Name == "" {
		host, _ := os.Hostname()
		o.Name = fmt.Sprintf("%s pid %d", host, os.Getpid())
	}
	lease := o.Lease
	if lease <= 0 {
		lease = 15 * time.Second
	}
	idle := max(lease/2, time.Second)
	s, cfg, err := openPostgresDB(ctx, dsn, 4, map[string]string{"idle_in_transaction_session_timeout": strconv.FormatInt(idle.Milliseconds(), 10)})
	if err != nil {
		return nil, err
	}
	s.fence = &fence{ha: true, name: o.Name, url: o.URL}
	if err := s.migrateLocked(ctx, nil); err != nil {
		s.Close()
		return nil, redactErr(err, cfg)
	}
	return s, nil
}

// migrateLocked migrates under the schema lock, so daemons starting at
// once don't race each other's DDL. The lock is taken on on (the session
// a single-process store already holds, whose pool has no spare
// connection), or on a session of its own.
func (s *Store) migrateLocked(ctx context.Context, on *sql.Conn) error {
	if on == nil {
		c, err := s.db.sql.Conn(ctx)
		if err != nil {
			return fmt.Errorf("open %s: %w", s.where, err)
		}
		defer c.Close()
		on = c
	}
	if _, err := on.ExecContext(ctx, pgSchemaLock); err != nil {
		return fmt.Errorf("lock the schema of %s: %w", s.where, err)
	}
	defer on.ExecContext(context.WithoutCancel(ctx), pgSchemaUnlock) //nolint:errcheck // the session ends with Close
	return s.migrate(ctx)
}

var (
	pgSchemaLock   = fmt.Sprintf(`SELECT pg_advisory_lock(%d, 2)`, pgLockClass)
	pgSchemaUnlock = fmt.Sprintf(`SELECT pg_advisory_unlock(%d, 2)`, pgLockClass)
)

// Acquire takes the lease if it is free (expired, or released) and no
// single-process store holds the database, with a new epoch; it reports
// whether this daemon now leads, and the lease as it stands.
func (s *Store) Acquire(ctx context.Context, lease time.Duration) (bool, Leader, error) {
	f := s.fence
	if f == nil || !f.ha {
		return false, Leader{}, errors.New("Acquire needs a store opened with OpenPostgresHA")
	}
	start := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, Leader{}, err
	}
	defer tx.Rollback()
	var free bool
	if err := tx.QueryRowContext(ctx, pgTryXactLock).Scan(&free); err != nil {
		return false, Leader{}, fmt.Errorf("acquire the leader lease: %w", err)
	}
	var epoch int64
	if free {
		err = tx.QueryRowContext(ctx, `UPDATE leader SET holder=?, url=?, epoch=epoch+1, acquired_at=`+pgNow+`, renewed_at=`+pgNow+`, expires_at=`+pgNow+`+?
			WHERE id=1 AND expires_at <= `+pgNow+` RETURNING epoch`, f.name, f.url, lease.Milliseconds()).Scan(&epoch)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, Leader{}, fmt.Errorf("acquire the leader lease: %w", err)
		}
	}
	if epoch == 0 {
		tx.Rollback()
		l, err := s.Leader(ctx)
		return false, l, err
	}
	if err := tx.Commit(); err != nil {
		return false, Leader{}, fmt.Errorf("acquire the leader lease: %w", err)
	}
	f.mu.Lock()
	f.deadline = start.Add(lease)
	f.mu.Unlock()
	f.epoch.Store(epoch)
	l, err := s.Leader(ctx)
	return true, l, err
}

// Renew extends this daemon's lease. ErrNotLeader: another took over (or
// an operator's single-process run did); the caller stops leading at once.
// Any other error leaves the lease as it was: the caller keeps leading
// until the lease may have run out, then stops.
func (s *Store) Renew(ctx context.Context, lease time.Duration) error {
	f := s.fence
	epoch := f.epoch.Load()
	if epoch == 0 {
		return ErrNotLeader
	}
	start := time.Now()
	// The epoch unchanged means nobody took over, even if the lease ran
	// out meanwhile: extending it is safe.
	res, err := s.db.ExecContext(ctx, `UPDATE leader SET renewed_at=`+pgNow+`, expires_at=`+pgNow+`+? WHERE id=1 AND holder=? AND epoch=?`,
		lease.Milliseconds(), f.name, epoch)
	if err != nil {
		return fmt.Errorf("renew the leader lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		f.epoch.Store(0)
		return ErrNotLeader
	}
	f.mu.Lock()
	f.deadline = start.Add(lease)
	f.mu.Unlock()
	return nil
}

// Resign gives the lease up (a clean stop), so a standby takes over at
// its next try instead of after the lease.
func (s *Store) Resign(ctx context.Context) error {
	f := s.fence
	if f == nil {
		return nil
	}
	epoch := f.epoch.Swap(0)
	if epoch == 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `UPDATE leader SET expires_at=0, holder='' WHERE id=1 AND holder=? AND epoch=?`, f.name, epoch)
	return err
}

// StepDown forgets the epoch locally (the lease was lost or may have run
// out): every write after it is fenced.
func (s *Store) StepDown() {
	if s.fence != nil {
		s.fence.epoch.Store(0)
	}
}

// Name is this process's name in the lease.
func (s *Store) Name() string {
	if s.fence == nil {
		return ""
	}
	return s.fence.name
}

// takeExclusive gives a single-process store (OpenPostgres) the epoch,
// after refusing if an HA daemon's lease is live. The caller holds the
// advisory lock.
func (s *Store) takeExclusive(ctx context.Context, name string) error {
	var epoch int64
	var holder string
	var live bool
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT holder, expires_at > `+pgNow+` FROM leader WHERE id=1 FOR UPDATE`).Scan(&holder, &live); err != nil {
		return fmt.Errorf("read the leader lease: %w", err)
	}
	if live {
		return fmt.Errorf("%w (the HA daemon %s leads %s); use its POST /v1/sync (orgsync trigger) instead, or stop the daemons", ErrLocked, holder, s.where)
	}
	if err := tx.QueryRowContext(ctx, `UPDATE leader SET holder=?, url='', epoch=epoch+1, acquired_at=`+pgNow+`, renewed_at=`+pgNow+`, expires_at=0 WHERE id=1 RETURNING epoch`, name).Scan(&epoch); err != nil {
		return fmt.Errorf("take the store's epoch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.fence.epoch.Store(epoch)
	return nil
}

// watchLock pings the advisory lock's session: when it is gone (the
// server restarted, the connection dropped) the lock may be another
// process's already, so every write is fenced until the lock is taken
// again, with a new epoch: the run that straddled the loss keeps its old
// one and stops.
func (s *Store) watchLock(cfg *pgx.ConnConfig, every time.Duration) {
	defer close(s.watchDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		s.lockMu.Lock()
		lock := s.pgLock
		s.lockMu.Unlock()
		err := lock.PingContext(ctx)
		if err == nil {
			// A ping answers on a new session too: the lock must be this one's.
			var held bool
			err = lock.QueryRowContext(ctx, pgHeld).Scan(&held)
			if err == nil && !held {
				err = errors.New("lock not held")
			}
		}
		if err != nil {
			s.fence.lost.Store(true)
			if s.relock(ctx, cfg) == nil {
				s.fence.lost.Store(false)
			}
		}
		cancel()
	}
}

var pgHeld = fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype='advisory' AND granted AND pid=pg_backend_pid() AND classid=%d AND objid=%d AND objsubid=2)`, pgLockClass, pgLockStore)

// relock takes the advisory lock again on a new session and a new epoch.
func (s *Store) relock(ctx context.Context, cfg *pgx.ConnConfig) error {
	s.lockMu.Lock()
	old := s.pgLock
	s.lockMu.Unlock()
	_ = old.Close()
	lock, err := s.db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	var got bool
	if err := lock.QueryRowContext(ctx, pgTryLock).Scan(&got); err != nil || !got {
		lock.Close()
		if err == nil {
			err = ErrLocked
		}
		return err
	}
	if err := s.takeExclusive(ctx, cfg.RuntimeParams["application_name"]); err != nil {
		lock.Close()
		return err
	}
	s.lockMu.Lock()
	s.pgLock = lock
	s.lockMu.Unlock()
	return nil
}

// openPostgresDB connects (no lock, no migration).
func openPostgresDB(ctx context.Context, dsn string, conns int, params map[string]string) (*Store, *pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the DSN: say only what is wrong.
		return nil, nil, errors.New("postgres state: the dsn is not a valid PostgreSQL connection string (a postgres://user:password@host:port/database URL or key=value pairs)")
	}
	where := fmt.Sprintf("state database %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	host, _ := os.Hostname()
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("orgsync pid %d on %s", os.Getpid(), host)
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	sdb := stdlib.OpenDB(*cfg)
	sdb.SetMaxOpenConns(conns)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, nil, fmt.Errorf("open %s: %w", where, redactErr(err, cfg))
	}
	s := &Store{db: db{conn: conn{x: sdb, d: postgresDialect}, sql: sdb}, dsn: dsn, where: where, now: time.Now}
	return s, cfg, nil
}

// leaderSchema is the lease row (schema v4). SQLite stores have the table
// too, unused, so both drivers keep one schema.
const leaderSchema = `CREATE TABLE leader (
		id          INTEGER PRIMARY KEY,
		holder      TEXT NOT NULL DEFAULT '',
		url         TEXT NOT NULL DEFAULT '',
		epoch       INTEGER NOT NULL DEFAULT 0,
		acquired_at INTEGER NOT NULL DEFAULT 0,   -- unix ms, the database's clock
		renewed_at  INTEGER NOT NULL DEFAULT 0,
		expires_at  INTEGER NOT NULL DEFAULT 0    -- 0: released, or held by a single-process store
	);
	INSERT INTO leader(id) VALUES (1);`

// write runs fn in a fenced transaction and commits it.
func (s *Store) write(ctx context.Context, fn func(tx *txn) error) error {
	tx, err := s.writeTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
