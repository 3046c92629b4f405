package state

import (
	"context"
	"strings"
	"testing"
)

func TestRebindNumbersPlaceholdersForPostgres(t *testing.T) {
	q := `UPDATE held SET status=?, decided_by='' WHERE id IN (?,?)`
	if got := postgresDialect.rebind(q); got != `UPDATE held SET status=$1, decided_by='' WHERE id IN ($2,$3)` {
		t.Fatalf("postgres: %s", got)
	}
	if got := sqliteDialect.rebind(q); got != q {
		t.Fatalf("sqlite: %s", got)
	}
}

func TestPostgresDDLKeepsTheSchemaAndWidensIntegers(t *testing.T) {
	got := postgresDDL("id INTEGER PRIMARY KEY AUTOINCREMENT,\n\trun_id INTEGER NOT NULL, -- INTEGERS\n\tdata TEXT")
	want := "id BIGSERIAL PRIMARY KEY,\n\trun_id BIGINT NOT NULL, -- INTEGERS\n\tdata TEXT"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPostgresErrorsNameTheDatabaseNotThePassword(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenPostgres(ctx, "postgres://u:hunter2@%zz/db"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a malformed dsn: %v", err)
	}
	pg := needPostgres(t)
	dsn := newPGDatabase(t)
	wrong := strings.Replace(dsn, pg.Password, "hunter2", 1)
	_, err := OpenPostgres(ctx, wrong)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), pg.Addr) {
		t.Fatalf("a wrong password: %v", err)
	}
	if got := RedactDSN(dsn); strings.Contains(got, pg.Password) || !strings.HasPrefix(got, pg.Addr+"/") {
		t.Fatalf("RedactDSN = %q", got)
	}
}

func TestAPostgresStoreTakesNoSnapshots(t *testing.T) {
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		if s.Driver() != "postgres" {
			return // SQLite's: TestSnapshotsAreWrittenWholeAndTheNewestAreKept
		}
		if p, err := s.Snapshot(context.Background(), 1, 3); err != nil || p != "" || s.SnapshotDir() != "" || LatestSnapshot(s.Path()) != "" {
			t.Fatalf("Snapshot = %q, %v; dir %q", p, err, s.SnapshotDir())
		}
	})
}

func TestAnOlderStoreIsMigratedForward(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		// Take it back to version 1: only the first migration's tables.
		for _, q := range []string{`DROP TABLE leader`, `DROP TABLE held_events`, `DROP TABLE held`, `DROP INDEX journal_op_started`} {
			if _, err := s.db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		setSchemaVersion(t, s, 1)
		s.Close()
		s2, err := reopen(s)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if v, err := s2.schemaVersion(ctx); err != nil || v != SchemaVersion {
			t.Fatalf("schema version %d, %v; want %d", v, err, SchemaVersion)
		}
		if err := s2.Hold(ctx, 1, []HeldChange{heldMove}); err != nil {
			t.Fatalf("the held queue after migrating: %v", err)
		}
	})
}
