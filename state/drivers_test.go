package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/orgsync/orgsync/internal/testservers"
)

// The conformance run: every store test runs against both drivers, SQLite
// and a real PostgreSQL this package starts once (testservers), each test
// in a database of its own.
var (
	pgOnce sync.Once
	pg     *testservers.Postgres
	pgErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pg != nil {
		pg.Stop()
	}
	os.Exit(code)
}

// sharedPostgres starts the package's server at its first use.
func sharedPostgres() (*testservers.Postgres, error) {
	pgOnce.Do(func() { pg, pgErr = testservers.NewPostgres() })
	return pg, pgErr
}

// forEachDriver runs test once per driver; open makes a new, empty store
// each time it is called (closed when the test ends).
func forEachDriver(t *testing.T, test func(t *testing.T, open func(t *testing.T) *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		test(t, func(t *testing.T) *Store {
			t.Helper()
			s, _ := openTemp(t)
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		needPostgres(t)
		test(t, openPostgresTemp)
	})
}

// needPostgres returns the package's PostgreSQL, started at its first
// use; it skips t under -short, or without PostgreSQL (fails it under
// ORGSYNC_REQUIRE_SERVERS=1).
func needPostgres(t *testing.T) *testservers.Postgres {
	t.Helper()
	if testing.Short() {
		t.Skip("PostgreSQL skipped in -short mode")
	}
	if _, err := testservers.PostgresBinDir(); err != nil {
		testservers.SkipOrFail(t, err)
	}
	pg, err := sharedPostgres()
	if err != nil {
		t.Fatal(err)
	}
	return pg
}

// newPGDatabase makes an empty database on the package's PostgreSQL and
// returns its DSN.
func newPGDatabase(t *testing.T) string {
	t.Helper()
	dsn, err := needPostgres(t).NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// openPostgresTemp opens a store in a new database (closed when t ends).
func openPostgresTemp(t *testing.T) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), newPGDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reopen opens the store s lives in again, as another process would.
func reopen(s *Store) (*Store, error) {
	if s.Driver() == "postgres" {
		return OpenPostgres(context.Background(), s.dsn)
	}
	return Open(context.Background(), s.path)
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// setSchemaVersion writes the store's schema version behind its back.
func setSchemaVersion(t *testing.T, s *Store, v int) {
	t.Helper()
	q := fmt.Sprintf(`PRAGMA user_version = %d`, v)
	if s.Driver() == "postgres" {
		q = fmt.Sprintf(`UPDATE schema_version SET version = %d`, v)
	}
	if _, err := s.db.Exec(q); err != nil {
		t.Fatal(err)
	}
}
