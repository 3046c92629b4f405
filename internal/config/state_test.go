package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func stateConfig(block string) []byte {
	return []byte(strings.Replace(validConfig, "state: {path: state.db}\n", block, 1))
}

func TestPostgresStateFromTheEnvironmentOrAFile(t *testing.T) {
	const dsn = "postgres://orgsync:pg-pass@db.example:5432/orgsync"
	t.Setenv("ORGSYNC_TEST_PG_DSN", dsn)
	f, err := Parse(stateConfig("state:\n  driver: postgres\n  dsn: ${ORGSYNC_TEST_PG_DSN}\n"), "/etc/orgsync/orgsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.State.ReadDSN(); err != nil || got.Reveal() != dsn || f.State.Path != "" {
		t.Fatalf("dsn %q, %v; path %q", got.Reveal(), err, f.State.Path)
	}
	if s := fmt.Sprintf("%v %+v", f.State, f.State); strings.Contains(s, "pg-pass") {
		t.Fatalf("the DSN printed: %s", s)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pg-dsn"), []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = Parse(stateConfig("state:\n  driver: postgres\n  dsn_file: pg-dsn\n"), filepath.Join(dir, "orgsync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.State.ReadDSN(); err != nil || got.Reveal() != dsn {
		t.Fatalf("dsn_file: %q, %v", got.Reveal(), err)
	}
}

func TestSQLiteStaysTheDefault(t *testing.T) {
	f, err := Parse(stateConfig(""), "/etc/orgsync/orgsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.State.Driver != DriverSQLite || f.State.Path != DefaultStatePath {
		t.Fatalf("state = %+v", f.State)
	}
}

func TestBadStateBlocksReportTheirLine(t *testing.T) {
	t.Setenv("ORGSYNC_TEST_PG_DSN", "host=db")
	for name, tt := range map[string]struct{ block, want string }{
		"postgres without a dsn": {"state: {driver: postgres}\n",
			"orgsync.yaml:16: state: driver postgres needs dsn_file (or dsn: ${ENV_VAR}) with the database's connection string"},
		"both dsn and dsn_file": {"state:\n  driver: postgres\n  dsn: ${ORGSYNC_TEST_PG_DSN}\n  dsn_file: /x\n",
			"orgsync.yaml:18: state.dsn: set dsn or dsn_file, not both"},
		"an unknown driver": {"state: {driver: mysql}\n",
			`orgsync.yaml:16: state.driver: "mysql" is not one of sqlite, postgres`},
		"a path with postgres": {"state:\n  driver: postgres\n  dsn: ${ORGSYNC_TEST_PG_DSN}\n  path: state.db\n",
			"orgsync.yaml:19: state.path: is the SQLite file; with driver postgres the store is the database in dsn"},
		"a dsn with sqlite": {"state:\n  path: state.db\n  dsn_file: /x\n",
			"orgsync.yaml:17: state: dsn and dsn_file are for driver: postgres"},
		"an unknown key": {"state:\n  driver: postgres\n  dns: ${ORGSYNC_TEST_PG_DSN}\n",
			"orgsync.yaml:18: state.dns: unknown key; did you mean dsn?"},
		"an unset variable": {"state:\n  driver: postgres\n  dsn: ${ORGSYNC_TEST_PG_UNSET}\n",
			"orgsync.yaml:18: state.dsn: ${ORGSYNC_TEST_PG_UNSET} is not set in the environment"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(stateConfig(tt.block), "/etc/orgsync/orgsync.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}
