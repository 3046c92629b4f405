package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/testservers"
	"github.com/orgsync/orgsync/state"
)

// pgEnv is env with its state store in a PostgreSQL database (a database
// of its own on pg), configured through state.dsn_file.
type pgEnv struct {
	*env
	dsn string
}

func newPgEnv(t *testing.T, pg *testservers.Postgres) *pgEnv {
	t.Helper()
	dsn, err := pg.NewDatabase()
	must(t, err)
	return &pgEnv{env: newEnv(t, true), dsn: dsn}
}

func (en *pgEnv) config() string {
	must(en.t, os.WriteFile(filepath.Join(en.dir, "pg-dsn"), []byte(en.dsn+"\n"), 0o600))
	sqlite := "state: {path: " + en.dir + "/state.db}\n"
	c := en.env.config()
	if !strings.Contains(c, sqlite) {
		en.t.Fatal("env's config has no state block to replace")
	}
	return strings.Replace(c, sqlite, "state:\n  driver: postgres\n  dsn_file: pg-dsn\n", 1)
}

// open is env.open with the PostgreSQL config.
func (en *pgEnv) open() *Engine {
	en.t.Helper()
	if en.e != nil {
		en.e.Close()
	}
	en.writeFiles()
	path := filepath.Join(en.dir, "orgsync.yaml")
	must(en.t, os.WriteFile(path, []byte(en.config()), 0o644))
	cfg, err := config.Load(path)
	must(en.t, err)
	e, err := Build(cfg, zap.NewNop())
	must(en.t, err)
	must(en.t, e.Open(context.Background()))
	if d := e.Store().Driver(); d != "postgres" {
		en.t.Fatalf("the store is %s", d)
	}
	en.e = e
	en.t.Cleanup(func() { e.Close() })
	return e
}

func (en *pgEnv) mustSync() *Report {
	en.t.Helper()
	rep, err := en.open().RunOnce(context.Background(), Options{})
	if err != nil {
		en.t.Fatalf("sync: %v (report %+v)", err, rep)
	}
	return rep
}

func TestOnPostgresAFirstSyncThenAQuietNightMakesNoWrite(t *testing.T) {
	pg := testservers.StartPostgres(t)
	en := newPgEnv(t, pg)
	rep := en.mustSync()
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
	small := func(en *pgEnv) {
		en.rows = en.rows[:6]
		en.maxDis = "50%"
	}
	ref := newPgEnv(t, pg)
	small(ref)
	ref.mustSync()
	want := snapshot(ref.emu)
	steps := 0
	for kill := 0; ; kill++ {
		en := newPgEnv(t, pg)
		small(en)
		e := en.open()
		cj := &crashingJournal{after: kill}
		e.wrapJournal = func(s *state.Store) directory.Journal { cj.Store = s; return cj }
		_, err := e.RunOnce(context.Background(), Options{})
		if err == nil {
			steps = kill
			if got := snapshot(en.emu); got != want {
				t.Fatalf("uninterrupted run differs from reference:\n got %s\nwant %s", got, want)
			}
			break
		}
		if !errors.Is(err, errKilled) {
			t.Fatalf("kill after %d: unexpected error %v", kill, err)
		}
		rep2, err := en.open().RunOnce(context.Background(), Options{})
		if err != nil {
			t.Fatalf("kill after %d: rerun failed: %v (%+v)", kill, err, rep2.Failures)
		}
		if got := snapshot(en.emu); got != want {
			t.Fatalf("kill after %d: rerun did not converge:\n got %s\nwant %s", kill, got, want)
		}
		for _, f := range rep2.Failures {
			t.Fatalf("kill after %d: rerun had failures: %+v", kill, f)
		}
		if errs := en.emu.Stats().Errors["user/create"][60102]; errs != 0 {
			t.Fatalf("kill after %d: %d duplicate creates reached WeCom", kill, errs)
		}
		if rep2.Unowned != 0 {
			t.Fatalf("kill after %d: %d members in WeCom lost their ownership", kill, rep2.Unowned)
		}
		writes := en.emu.Stats().Writes
		rep3 := en.mustSync()
		if w := en.emu.Stats().Writes - writes; w != 0 {
			t.Fatalf("kill after %d: the run after convergence made %d writes: %v", kill, w, rep3.Changes)
		}
		if kill > 200 {
			t.Fatal("too many journal steps")
		}
	}
	if steps < 10 {
		t.Fatalf("only %d journal steps exercised", steps)
	}
	t.Logf("killed at each of %d journal steps on PostgreSQL; every rerun converged", steps)
}
