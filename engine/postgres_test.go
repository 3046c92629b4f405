package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/orgsync/orgsync/internal/testservers"
)

// newPgEnv is an env whose state store is a PostgreSQL database of its own
// on pg, configured through state.dsn_file.
func newPgEnv(t *testing.T, pg *testservers.Postgres) *env {
	t.Helper()
	dsn, err := pg.NewDatabase()
	must(t, err)
	en := newEnv(t, true)
	must(t, os.WriteFile(filepath.Join(en.dir, "pg-dsn"), []byte(dsn+"\n"), 0o600))
	en.state = "state:\n  driver: postgres\n  dsn_file: pg-dsn"
	return en
}

func TestOnPostgresAFirstSyncThenAQuietNightMakesNoWrite(t *testing.T) {
	pg := testservers.StartPostgres(t)
	en := newPgEnv(t, pg)
	rep := en.mustSync()
	if d := en.e.Store().Driver(); d != "postgres" {
		t.Fatalf("the store is %s", d)
	}
	if rep.Changes["user_create"] != 20 || rep.Changes["department_create"] != 4 || rep.Status != StatusSucceeded {
		t.Fatalf("first sync report: %+v", rep)
	}
	if u := en.user("e005"); u == nil || u.Name != "员工5" || len(u.DirectLeader) != 1 || u.DirectLeader[0] != "e001" {
		t.Fatalf("e005 in WeCom = %+v", u)
	}
	writes := en.emu.Stats().Writes
	rep = en.mustSync()
	if got := en.emu.Stats().Writes - writes; got != 0 {
		t.Fatalf("no-change sync made %d write calls (report %+v)", got, rep.Changes)
	}
	for op, n := range rep.Changes {
		if n != 0 {
			t.Fatalf("no-change sync reports %s=%d", op, n)
		}
	}
	sh, err := en.e.Store().LoadShadow(context.Background())
	must(t, err)
	if len(sh.Members) != 20 || len(sh.Departments) != 4 {
		t.Fatalf("shadow in PostgreSQL: %d members, %d departments", len(sh.Members), len(sh.Departments))
	}
	if snaps, _ := filepath.Glob(filepath.Join(en.dir, "*.snapshots")); len(snaps) != 0 {
		t.Fatalf("a PostgreSQL store wrote snapshots: %v", snaps)
	}
}

// The first-sync half of TestAKillAtEveryJournalStepConvergesOnRerun, on
// PostgreSQL: killed after each journal write in turn, the rerun converges
// with no duplicate create, and the run after it makes no write.
func TestOnPostgresAKillAtEveryJournalStepConvergesOnRerun(t *testing.T) {
	pg := testservers.StartPostgres(t)
	small := func(en *env) {
		en.rows = en.rows[:6]
		en.maxDis = "50%"
	}
	ref := newPgEnv(t, pg)
	small(ref)
	ref.mustSync()
	want := snapshot(ref.emu)
	steps := killAtEveryStep(t, want, func() *env {
		en := newPgEnv(t, pg)
		small(en)
		return en
	})
	if steps < 10 {
		t.Fatalf("only %d journal steps exercised", steps)
	}
	t.Logf("killed at each of %d journal steps on PostgreSQL; every rerun converged", steps)
}
