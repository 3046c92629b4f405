package state

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/model"
)

func openHA(t *testing.T, dsn, name string) *Store {
	t.Helper()
	s, err := OpenPostgresHA(context.Background(), dsn, HAOptions{Name: name, URL: "http://" + name + ":8080"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// journalOne makes one fenced write: a journal entry.
func journalOne(ctx context.Context, s *Store, object string) error {
	_, err := s.Begin(ctx, 1, "user_create", object, nil, model.Person{UserID: object})
	return err
}

func mustAcquire(t *testing.T, s *Store, lease time.Duration) Leader {
	t.Helper()
	ok, l, err := s.Acquire(context.Background(), lease)
	if err != nil || !ok {
		t.Fatalf("%s: acquire = %v, %+v, %v", s.Name(), ok, l, err)
	}
	return l
}

func TestOnlyTheLeaderWrites(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	a, b := openHA(t, dsn, "a"), openHA(t, dsn, "b")
	if err := journalOne(ctx, a, "before-any-leader"); !errors.Is(err, ErrFenced) {
		t.Fatalf("a standby's write: %v, want ErrFenced", err)
	}
	l := mustAcquire(t, a, time.Minute)
	if l.Holder != "a" || !l.Live || l.URL != "http://a:8080" || l.Epoch == 0 {
		t.Fatalf("lease after a acquired: %+v", l)
	}
	ok, seen, err := b.Acquire(ctx, time.Minute)
	if err != nil || ok || seen.Holder != "a" {
		t.Fatalf("b acquired a live lease: %v %+v %v", ok, seen, err)
	}
	if err := journalOne(ctx, a, "by-a"); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}
	if err := journalOne(ctx, b, "by-b"); !errors.Is(err, ErrFenced) {
		t.Fatalf("the standby's write: %v, want ErrFenced", err)
	}
	if b.FencedWrites() != 1 {
		t.Fatalf("b counted %d fenced writes, want 1", b.FencedWrites())
	}
}

func TestAStaleLeaderCannotWriteAfterATakeover(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	a, b := openHA(t, dsn, "a"), openHA(t, dsn, "b")
	first := mustAcquire(t, a, time.Minute)
	run := a.RunContext(ctx)
	// The lease runs out in the database's clock while a is paused (its
	// own deadline, a minute away, has not passed: the database's epoch
	// alone must stop it).
	if _, err := b.db.ExecContext(ctx, `UPDATE leader SET expires_at=0 WHERE id=1`); err != nil {
		t.Fatal(err)
	}
	second := mustAcquire(t, b, time.Minute)
	if second.Epoch != first.Epoch+1 {
		t.Fatalf("epochs %d then %d", first.Epoch, second.Epoch)
	}
	err := journalOne(run, a, "stale")
	var fe *FencedError
	if !errors.As(err, &fe) || fe.Current != second.Epoch || fe.Holder != "b" {
		t.Fatalf("the stale leader's write: %v", err)
	}
	if err := a.Renew(ctx, time.Minute); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("the stale leader renewed: %v", err)
	}
	if err := journalOne(b.RunContext(ctx), b, "fresh"); err != nil {
		t.Fatal(err)
	}
	pend, err := b.Pending(ctx)
	if err != nil || len(pend) != 1 || pend[0].Object != "fresh" {
		t.Fatalf("journal after the takeover: %+v %v", pend, err)
	}
}

func TestALeaderThatSleptThroughItsLeaseRefusesWithoutAsking(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	a := openHA(t, dsn, "a")
	mustAcquire(t, a, 3*time.Second)
	a.fence.mu.Lock()
	a.fence.deadline = time.Now().Add(-time.Millisecond) // as if SIGSTOPped past it
	a.fence.mu.Unlock()
	err := journalOne(ctx, a, "late")
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "not renewed in time") {
		t.Fatalf("write after the deadline: %v", err)
	}
	// Nobody took over: renewing is safe and the leader writes again.
	if err := a.Renew(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := journalOne(ctx, a, "renewed"); err != nil {
		t.Fatal(err)
	}
}

func TestATakeoverWaitsForTheWriteInFlight(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	a, b := openHA(t, dsn, "a"), openHA(t, dsn, "b")
	mustAcquire(t, a, time.Minute)
	tx, err := a.writeTx(ctx) // holds the leader row FOR SHARE
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO runs(started_at, status) VALUES(1, 'running')`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.ExecContext(ctx, `UPDATE leader SET expires_at=0 WHERE id=1 AND false`); err != nil {
		t.Fatal(err)
	}
	// Expire the lease from a third session without touching the locked
	// row's lock order: the takeover's UPDATE is what must wait.
	expire, err := OpenPostgresHA(ctx, dsn, HAOptions{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	defer expire.Close()
	type result struct {
		ok  bool
		err error
		at  time.Time
	}
	got := make(chan result, 1)
	go func() {
		// b's takeover: its UPDATE of the row blocks on a's share lock.
		_, err := b.db.ExecContext(ctx, `UPDATE leader SET expires_at=0 WHERE id=1`)
		if err != nil {
			got <- result{err: err}
			return
		}
		ok, _, err := b.Acquire(ctx, time.Minute)
		got <- result{ok, err, time.Now()}
	}()
	select {
	case r := <-got:
		t.Fatalf("the takeover did not wait for the write in flight: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	committed := time.Now()
	if err := tx.Commit(); err != nil {
		t.Fatalf("the write in flight, begun before the takeover: %v", err)
	}
	r := <-got
	if r.err != nil || !r.ok || r.at.Before(committed) {
		t.Fatalf("takeover after the commit: %+v", r)
	}
	if err := journalOne(ctx, a, "after"); !errors.Is(err, ErrFenced) {
		t.Fatalf("a's next write: %v", err)
	}
}

func TestASingleProcessStoreAndHADaemonsExcludeEachOther(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	cli, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	a := openHA(t, dsn, "a")
	if ok, l, err := a.Acquire(ctx, time.Minute); ok || err != nil {
		t.Fatalf("a daemon led beside an open single-process store: %+v %v", l, err)
	}
	cliEpoch := cli.Epoch()
	if err := journalOne(ctx, cli, "by-cli"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	l := mustAcquire(t, a, time.Minute)
	if l.Epoch <= cliEpoch {
		t.Fatalf("the daemon's epoch %d is not past the single-process store's %d", l.Epoch, cliEpoch)
	}
	_, err = OpenPostgres(ctx, dsn)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "HA daemon a leads") {
		t.Fatalf("a single-process open while a daemon leads: %v", err)
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	cli2, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatalf("open after the daemon resigned: %v", err)
	}
	defer cli2.Close()
	if err := journalOne(ctx, a, "resigned"); !errors.Is(err, ErrFenced) {
		t.Fatalf("a resigned daemon's write: %v", err)
	}
}

func TestALostLockSessionFencesTheRunThatStraddledIt(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	old := LockCheckInterval
	LockCheckInterval = 50 * time.Millisecond
	defer func() { LockCheckInterval = old }()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := s.RunContext(ctx)
	if err := journalOne(run, s, "before"); err != nil {
		t.Fatal(err)
	}
	first := s.Epoch()
	// The server drops the session holding the lock (as a restart or a
	// network cut would); the store notices, takes the lock again on a
	// new session and a new epoch.
	killer := openHA(t, dsn, "killer")
	if _, err := killer.db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype='advisory' AND classid=? AND objid=? AND objsubid=2`, pgLockClass, pgLockStore); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Epoch() == first && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s.Epoch() == first {
		t.Fatal("the store did not notice its lock's session was gone")
	}
	if err := journalOne(run, s, "straddled"); !errors.Is(err, ErrFenced) {
		t.Fatalf("the run that straddled the loss wrote: %v", err)
	}
	if err := journalOne(s.RunContext(ctx), s, "next-run"); err != nil {
		t.Fatalf("a new run after the lock was taken again: %v", err)
	}
	if _, err := OpenPostgres(ctx, dsn); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second process got the lock taken again: %v", err)
	}
}

func TestALeaderPausedInsideAWriteDoesNotBlockTheTakeover(t *testing.T) {
	dsn := newPGDatabase(t)
	ctx := context.Background()
	const lease = 2 * time.Second
	a, err := OpenPostgresHA(ctx, dsn, HAOptions{Name: "a", Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openHA(t, dsn, "b")
	mustAcquire(t, a, lease)
	// a is stopped (SIGSTOP) between a write's fence check and its
	// commit: its transaction holds the lease row's share lock.
	tx, err := a.writeTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	deadline := time.Now().Add(4 * lease)
	for {
		actx, cancel := context.WithTimeout(ctx, lease/2)
		ok, _, err := b.Acquire(actx, lease)
		cancel()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby could not take the lease while the paused leader's transaction stayed open (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO runs(started_at, status) VALUES(1, 'running')`); err == nil {
		if err := tx.Commit(); err == nil {
			t.Fatal("the paused leader's transaction committed after the takeover")
		}
	}
}
