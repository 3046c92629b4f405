package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/internal/testservers"
	"github.com/orgsync/orgsync/state"
)

// migrateEnv is a CLI company synced into a SQLite store, and an empty
// PostgreSQL database with a config (pgCfg) that points state: at it.
type migrateEnv struct {
	*cliEnv
	pg      *testservers.Postgres
	dsnFile string // holds the database's DSN, password included
	pgCfg   string
	sqlite  string // the synced SQLite store
}

func newMigrateEnv(t *testing.T, people int) *migrateEnv {
	t.Helper()
	en := &migrateEnv{cliEnv: newCLIEnv(t, people)}
	if out, code := run(t, "sync", "-c", en.cfg); code != ExitOK {
		t.Fatalf("first sync: exit %d: %s", code, out)
	}
	en.sqlite = filepath.Join(en.dir, "state.db")
	en.pg = testservers.StartPostgres(t)
	dsn, err := newDatabase(en.pg)
	must(t, err)
	en.dsnFile = filepath.Join(en.dir, "state.dsn")
	must(t, os.WriteFile(en.dsnFile, []byte(dsn+"\n"), 0o600))
	b, err := os.ReadFile(en.cfg)
	must(t, err)
	sqliteState := "state: {path: " + en.dir + "/state.db}"
	if !strings.Contains(string(b), sqliteState) {
		t.Fatalf("the CLI config has no %q", sqliteState)
	}
	en.pgCfg = filepath.Join(en.dir, "orgsync-pg.yaml")
	must(t, os.WriteFile(en.pgCfg, []byte(strings.Replace(string(b), sqliteState, "state: {driver: postgres, dsn_file: "+en.dsnFile+"}", 1)), 0o644))
	return en
}

// newDatabase is pg.NewDatabase once the server accepts sessions: its
// port opens while it is still starting up, and createdb is refused then.
func newDatabase(pg *testservers.Postgres) (string, error) {
	for i := 0; ; i++ {
		dsn, err := pg.NewDatabase()
		if err == nil || i == 50 || !strings.Contains(err.Error(), "starting up") {
			return dsn, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// noPassword fails t if out shows the test server's password.
func (en *migrateEnv) noPassword(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, en.pg.Password) {
		t.Errorf("the output shows the DSN's password:\n%s", out)
	}
}

var (
	migratedLine = regexp.MustCompile(`(?m)^\s+members\s+(\d+) → (\d+)$`)
	checksumLine = regexp.MustCompile(`(?m)^shadow sha256 ([0-9a-f]{64}) = ([0-9a-f]{64})$`)
)

func TestStateMigrateMovesASyncedStoreToPostgresAndBack(t *testing.T) {
	en := newMigrateEnv(t, 12)

	out, code := run(t, "state", "migrate", "-c", en.pgCfg, "--from", "sqlite:"+en.sqlite, "--to", "postgres")
	en.noPassword(t, out)
	if code != ExitOK {
		t.Fatalf("migrate to postgres: exit %d: %s", code, out)
	}
	m, sum := migratedLine.FindStringSubmatch(out), checksumLine.FindStringSubmatch(out)
	if m == nil || m[1] != "12" || m[2] != "12" || sum == nil || sum[1] != sum[2] {
		t.Fatalf("migrate output lacks 12 → 12 members or equal checksums:\n%s", out)
	}
	for _, table := range []string{"departments", "runs", "journal", "held", "held_events"} {
		if !regexp.MustCompile(`(?m)^\s+` + table + `\s+\d+ → \d+$`).MatchString(out) {
			t.Errorf("no count line for %s:\n%s", table, out)
		}
	}
	if !strings.Contains(out, en.pg.Addr) {
		t.Errorf("the output does not name the database by host:port:\n%s", out)
	}

	// The migrated store is the one orgsync owns by: a run on it is quiet.
	out, code = run(t, "sync", "-c", en.pgCfg, "--output", "json")
	if code != ExitOK {
		t.Fatalf("sync on the migrated store: exit %d: %s", code, out)
	}
	var rep struct {
		Status  string         `json:"status"`
		Changes map[string]int `json:"changes"`
	}
	must(t, json.Unmarshal([]byte(out), &rep))
	for op, n := range rep.Changes {
		if n != 0 {
			t.Errorf("sync after migrating: %d %s, want a quiet run", n, op)
		}
	}

	// A second migration onto the now live database is refused.
	out, code = run(t, "state", "migrate", "-c", en.pgCfg, "--from", "sqlite:"+en.sqlite, "--to", "postgres")
	en.noPassword(t, out)
	if code != ExitFailed || !strings.Contains(out, "merge two histories") || !strings.Contains(out, "members 12") {
		t.Fatalf("migrate onto a live store: exit %d: %s", code, out)
	}

	// And back: the PostgreSQL store (one run more) into a new SQLite file.
	back := filepath.Join(en.dir, "back.db")
	out, code = run(t, "state", "migrate", "-c", en.pgCfg, "--from", "postgres", "--to", "sqlite:"+back)
	en.noPassword(t, out)
	if code != ExitOK {
		t.Fatalf("migrate back: exit %d: %s", code, out)
	}
	if sum2 := checksumLine.FindStringSubmatch(out); sum2 == nil || sum2[1] != sum[1] {
		t.Fatalf("back in SQLite the shadow checksum is not the first one's (%s):\n%s", sum[1], out)
	}
}

func TestStateMigrateDryRunWritesNothing(t *testing.T) {
	en := newMigrateEnv(t, 5)
	newFile := filepath.Join(en.dir, "new.db")
	for _, tc := range []struct {
		name string
		to   string
	}{
		{name: "into the config's database", to: "postgres"},
		{name: "into a SQLite file not made yet", to: "sqlite:" + newFile},
		{name: "into a database named by a DSN file", to: "postgres:" + en.dsnFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, "state", "migrate", "-c", en.pgCfg, "--from", "sqlite:"+en.sqlite, "--to", tc.to, "--dry-run")
			en.noPassword(t, out)
			if code != ExitOK || !strings.Contains(out, "dry run: nothing written") ||
				!regexp.MustCompile(`(?m)^\s+members\s+5 → \(the target has 0\)$`).MatchString(out) {
				t.Fatalf("exit %d: %s", code, out)
			}
		})
	}
	if _, err := os.Stat(newFile); !os.IsNotExist(err) {
		t.Errorf("a dry run made %s (%v)", newFile, err)
	}
	// The database is still empty: a real migration into it goes through.
	out, code := run(t, "state", "migrate", "-c", en.cfg, "--from", "sqlite", "--to", "postgres:"+en.dsnFile)
	if code != ExitOK {
		t.Fatalf("migrate after the dry runs: exit %d: %s", code, out)
	}
}

func TestStateMigrateRefusesWhatItCannotDoWithoutShowingThePassword(t *testing.T) {
	en := newMigrateEnv(t, 3)
	wrong := filepath.Join(en.dir, "wrong.dsn")
	dsn, err := os.ReadFile(en.dsnFile)
	must(t, err)
	must(t, os.WriteFile(wrong, []byte(strings.Replace(string(dsn), en.pg.Password, "hunter2-wrong", 1)), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no target", args: []string{"-c", en.cfg, "--from", "sqlite:" + en.sqlite}, code: ExitUsage, want: "--to"},
		{name: "no config", args: []string{"--from", "sqlite:" + en.sqlite, "--to", "postgres"}, code: ExitUsage, want: "pass -c FILE"},
		{name: "sqlite from a postgres config", args: []string{"-c", en.pgCfg, "--from", "sqlite", "--to", "postgres"}, code: ExitUsage, want: "state.driver postgres"},
		{name: "an unknown kind of store", args: []string{"-c", en.cfg, "--from", "mysql:x", "--to", "postgres:" + en.dsnFile}, code: ExitUsage, want: "sqlite:PATH"},
		{name: "a DSN pasted on the command line", args: []string{"-c", en.cfg, "--from", "sqlite:" + en.sqlite, "--to", "postgres://orgsync:" + en.pg.Password + "@" + en.pg.Addr + "/x"}, code: ExitUsage, want: "postgres:FILE"},
		{name: "a source file that does not exist", args: []string{"-c", en.cfg, "--from", "sqlite:" + filepath.Join(en.dir, "nope.db"), "--to", "postgres:" + en.dsnFile}, code: ExitUsage, want: "no state file"},
		{name: "the same store twice", args: []string{"-c", en.pgCfg, "--from", "postgres", "--to", "postgres:" + en.dsnFile}, code: ExitUsage, want: "same store"},
		{name: "a wrong password", args: []string{"-c", en.cfg, "--from", "sqlite:" + en.sqlite, "--to", "postgres:" + wrong}, code: ExitUsage, want: en.pg.Addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, append([]string{"state", "migrate"}, tc.args...)...)
			en.noPassword(t, out)
			if strings.Contains(out, "hunter2-wrong") {
				t.Errorf("the output shows the wrong password:\n%s", out)
			}
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d with %q: %s", code, tc.code, tc.want, out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(en.dir, "nope.db")); !os.IsNotExist(err) {
		t.Errorf("a missing source was created (%v)", err)
	}
	t.Run("a store a daemon holds", func(t *testing.T) {
		held, err := state.Open(context.Background(), en.sqlite)
		must(t, err)
		defer held.Close()
		out, code := run(t, "state", "migrate", "-c", en.cfg, "--from", "sqlite", "--to", "postgres:"+en.dsnFile)
		en.noPassword(t, out)
		if code != ExitFailed || !strings.Contains(out, "in use by another orgsync process") {
			t.Fatalf("exit %d, want %d naming the lock: %s", code, ExitFailed, out)
		}
	})
}

func TestStateMigrateHelpSaysHowAndWhen(t *testing.T) {
	out, code := run(t, "state", "migrate", "--help")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{"sqlite:PATH", "postgres:FILE", "--dry-run", "Stop every orgsync daemon", "merge two", "ps and in the shell's history"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
