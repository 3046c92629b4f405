package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/state"
)

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Back up, restore and inspect the state store (what orgsync owns)",
		Long: `The state store holds the shadow: every member and department orgsync
created or adopted, as last applied. Losing it never deletes anything (with
no ownership record nothing is orgsync's to disable or delete), but until it
is back orgsync would treat its own members as strangers. Ways back:

  - automatic snapshots: after every run that changed something, the shadow
    is written to STATE.snapshots/shadow-RUN.json (the newest 7 are kept);
  - 'orgsync state export' to keep copies elsewhere (a backup job);
  - 'orgsync state import FILE' restores one into an empty store;
  - 'orgsync sync --recover' rebuilds ownership from WeCom itself when no
    copy is left.

'orgsync state migrate' moves the whole store (shadow and history) between
SQLite and PostgreSQL.

A run on an empty store refuses (exit 3) while a snapshot of a fuller one
lies beside it, so a lost file is noticed rather than worked around.`,
	}
	cmd.AddCommand(newStateExportCmd(g), newStateImportCmd(g), newStateSnapshotsCmd(g), newStateMigrateCmd(g))
	return cmd
}

func newStateExportCmd(g *globals) *cobra.Command {
	var cfgPath, out string
	cmd := &cobra.Command{
		Use:   "export -c FILE [--out shadow.json]",
		Short: "Write the shadow (what orgsync owns) as JSON, to stdout or a file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := context.Background()
			e, _, err := openEngine(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			ex, err := e.Store().Export(ctx)
			if err != nil {
				return withExit(ExitFailed, err)
			}
			w := g.stdout
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return withExit(ExitFailed, err)
				}
				defer f.Close()
				w = f
			}
			if err := state.WriteExport(w, ex); err != nil {
				return withExit(ExitFailed, err)
			}
			if out != "" {
				fmt.Fprintf(g.stderr, "exported %d members and %d departments to %s\n", len(ex.Members), len(ex.Departments), out)
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	return cmd
}

func newStateImportCmd(g *globals) *cobra.Command {
	var cfgPath string
	var replace, latest bool
	cmd := &cobra.Command{
		Use:   "import -c FILE (SHADOW.json | --latest) [--replace]",
		Short: "Restore a shadow export or snapshot into the state store",
		Example: `  orgsync state import -c /etc/orgsync/orgsync.yaml --latest
  orgsync state import -c orgsync.yaml backup/shadow-2026-12-01.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if latest == (len(args) == 1) {
				return withExit(ExitUsage, errors.New("name a shadow file or pass --latest (the newest snapshot beside the store)"))
			}
			ctx := context.Background()
			file := ""
			if len(args) == 1 {
				file = args[0]
			} else {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return withExit(ExitUsage, err)
				}
				if cfg.State.Driver == config.DriverPostgres {
					return withExit(ExitUsage, errors.New(noPostgresSnapshots))
				}
				if file = state.LatestSnapshot(cfg.State.Path); file == "" {
					return withExit(ExitFailed, fmt.Errorf("no snapshot in %s", filepath.Clean(cfg.State.Path+".snapshots")))
				}
			}
			f, err := os.Open(file)
			if err != nil {
				return withExit(ExitFailed, err)
			}
			defer f.Close()
			ex, err := state.ReadExport(f)
			if err != nil {
				return withExit(ExitFailed, fmt.Errorf("%s: %w", file, err))
			}
			e, _, err := openEngine(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.Store().Import(ctx, ex, replace); err != nil {
				return withExit(ExitFailed, err)
			}
			fmt.Fprintf(g.stdout, "imported %d members and %d departments from %s (exported %s)\n", len(ex.Members), len(ex.Departments), file, ex.ExportedAt.Format("2006-01-02 15:04:05Z"))
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&replace, "replace", false, "overwrite a store that already owns something")
	cmd.Flags().BoolVar(&latest, "latest", false, "import the newest automatic snapshot beside the store")
	return cmd
}

// noPostgresSnapshots: snapshots are files beside a SQLite store.
const noPostgresSnapshots = "no snapshots: automatic shadow snapshots are kept beside a SQLite state file; a PostgreSQL state store is backed up with its database (or export it with 'orgsync state export')"

func newStateSnapshotsCmd(g *globals) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "snapshots -c FILE",
		Short: "List the automatic shadow snapshots beside the state store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return withExit(ExitUsage, err)
			}
			if cfg.State.Driver == config.DriverPostgres {
				fmt.Fprintln(g.stdout, noPostgresSnapshots)
				return nil
			}
			all, _ := filepath.Glob(filepath.Join(cfg.State.Path+".snapshots", "shadow-*.json"))
			if len(all) == 0 {
				fmt.Fprintf(g.stdout, "no snapshots in %s.snapshots\n", cfg.State.Path)
				return nil
			}
			for _, p := range all {
				if fi, err := os.Stat(p); err == nil {
					fmt.Fprintf(g.stdout, "%s  %s  %d bytes\n", fi.ModTime().Format("2006-01-02 15:04:05"), p, fi.Size())
				}
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	return cmd
}

func newStateMigrateCmd(g *globals) *cobra.Command {
	var cfgPath, from, to string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate -c FILE --from STORE --to STORE [--dry-run]",
		Short: "Copy the whole state store between SQLite and PostgreSQL, verified",
		Long: `Copy everything the state store holds (the shadow, the runs, the journal,
the held changes and their decisions) from one store into another, empty one,
in one transaction, and check the copy before committing it: every table's
row count and a SHA-256 of the shadow must be equal on both sides, or nothing
is written. Ids are kept, so the journal still points at its runs; new runs
on the target take ids after the copied ones. The source is only read.

STORE is one of:
  sqlite:PATH     a SQLite state file (as the source it must exist; as the
                  target it is created)
  sqlite          the state.path of the config, with state.driver sqlite
  postgres        the PostgreSQL database of the config, with state.driver
                  postgres (its dsn_file or dsn: ${ENV})
  postgres:FILE   the PostgreSQL database whose connection string is in FILE,
                  as dsn_file takes it (for the database that is not in the
                  config yet). A DSN itself is not taken on the command line:
                  its password would show in ps and in the shell's history.

-c FILE is required, as for every command: the deployment's config, whose
state: block 'sqlite' and 'postgres' alone stand for.

The target must be empty: migrating onto a store in use would merge two
histories, and is refused (exit 1) without writing. A new PostgreSQL
database, made with createdb, is empty until orgsync first opens it.

Stop every orgsync daemon using either store first, standbys included. Both
stores are opened as any orgsync command opens them, which the store locks
enforce: a SQLite file's flock, PostgreSQL's advisory lock and a live HA
leader's lease each make this command fail (exit 1) naming who holds it.
After the migration, point the config's state: block at the new store and
start the daemons again; the old store is left as it was. A migration that
fails leaves the target as it found it (a new file or database keeps only
the empty schema), so it can simply be run again.

With --dry-run nothing is written: it prints the source's counts and
checksum and checks that the target is empty (a SQLite target that does not
exist yet is not created; a PostgreSQL one gets the empty schema any first
open makes).

The output lists each table's rows on both sides and both checksums; a
password never appears in it, stores are named by file or host:port/database.`,
		Example: `  # move a SQLite store into the PostgreSQL database of the new config
  orgsync state migrate -c /etc/orgsync/orgsync.yaml --from sqlite:/var/lib/orgsync/state.db --to postgres

  # the same while the config still says sqlite: the DSN in a file
  orgsync state migrate -c /etc/orgsync/orgsync.yaml --from sqlite --to postgres:/etc/orgsync/state.dsn --dry-run

  # and back, into a new SQLite file
  orgsync state migrate -c orgsync.yaml --from postgres --to sqlite:/var/lib/orgsync/state-back.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := context.Background()
			if from == "" || to == "" {
				return withExit(ExitUsage, errors.New("name both stores: --from STORE and --to STORE (sqlite:PATH, sqlite, postgres or postgres:FILE)"))
			}
			src, err := resolveStore(cfgPath, "--from", from)
			if err != nil {
				return withExit(ExitUsage, err)
			}
			dst, err := resolveStore(cfgPath, "--to", to)
			if err != nil {
				return withExit(ExitUsage, err)
			}
			redact := func(err error) error { return dst.redact(src.redact(err)) }
			if src.same(dst) {
				return withExit(ExitUsage, fmt.Errorf("--from and --to are the same store (%s)", src.name()))
			}
			if src.path != "" {
				if _, err := os.Stat(src.path); err != nil {
					return withExit(ExitUsage, fmt.Errorf("--from %s: no state file there (%w)", src.path, errors.Unwrap(err)))
				}
			}
			fromStore, err := src.open(ctx)
			if err != nil {
				return withExit(openExit(err), redact(err))
			}
			defer fromStore.Close()
			// A dry run does not create a SQLite target that is not there
			// yet: Migrate takes a nil target as the empty store it would be.
			var toStore *state.Store
			if !dryRun || !dst.notYetMade() {
				if toStore, err = dst.open(ctx); err != nil {
					return withExit(openExit(err), redact(err))
				}
				defer toStore.Close()
			}
			rep, err := state.Migrate(ctx, fromStore, toStore, dryRun)
			if rep != nil && rep.To == "" {
				rep.To = "new state file " + dst.path
			}
			var mismatch *state.MigrateMismatchError
			if err == nil || errors.As(err, &mismatch) {
				printMigrate(g, rep, err == nil)
			}
			if err != nil {
				return withExit(ExitFailed, redact(err))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&from, "from", "", "the store to copy: sqlite:PATH, sqlite, postgres or postgres:FILE (see above)")
	cmd.Flags().StringVar(&to, "to", "", "the empty store to copy into: sqlite:PATH, sqlite, postgres or postgres:FILE")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count and check, write nothing")
	return cmd
}

// storeRef is a store named on the command line, resolved: a SQLite path
// or a PostgreSQL DSN (which holds the password: shown only redacted).
type storeRef struct {
	path string
	dsn  string
}

// resolveStore reads a --from or --to value (see the command's help).
func resolveStore(cfgPath, flag, v string) (storeRef, error) {
	kind, arg, hasArg := strings.Cut(v, ":")
	switch {
	case kind == config.DriverSQLite && hasArg:
		if arg == "" {
			return storeRef{}, fmt.Errorf("%s sqlite:PATH: the path is empty", flag)
		}
		return storeRef{path: filepath.Clean(arg)}, nil
	case kind == config.DriverPostgres && hasArg:
		if arg == "" {
			return storeRef{}, fmt.Errorf("%s postgres:FILE: the file is empty", flag)
		}
		if looksLikeDSN(v) {
			return storeRef{}, fmt.Errorf("%s %s", flag, noDSNArg)
		}
		dsn, err := config.ReadSecretFile(arg)
		if err != nil {
			return storeRef{}, fmt.Errorf("%s: %w", flag, err)
		}
		return storeRef{dsn: dsn.Reveal()}, nil
	case kind == config.DriverSQLite || kind == config.DriverPostgres:
		if cfgPath == "" {
			return storeRef{}, fmt.Errorf("%s %s means the store of the config: pass -c FILE, or name the store (%s)", flag, kind, storeForms)
		}
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return storeRef{}, err
		}
		if cfg.State.Driver != kind {
			return storeRef{}, fmt.Errorf("%s %s: %s has state.driver %s", flag, kind, cfgPath, cfg.State.Driver)
		}
		if kind == config.DriverSQLite {
			return storeRef{path: filepath.Clean(cfg.State.Path)}, nil
		}
		dsn, err := cfg.State.ReadDSN()
		if err != nil {
			return storeRef{}, fmt.Errorf("%s postgres: %w", flag, err)
		}
		return storeRef{dsn: dsn.Reveal()}, nil
	}
	if looksLikeDSN(v) {
		return storeRef{}, fmt.Errorf("%s %s", flag, noDSNArg)
	}
	return storeRef{}, fmt.Errorf("%s %q: want %s", flag, v, storeForms)
}

const (
	storeForms = "sqlite:PATH, sqlite, postgres or postgres:FILE"
	noDSNArg   = "takes no connection string (it would show its password in ps and in the shell's history): put it in a file and pass postgres:FILE"
)

// looksLikeDSN tells a PostgreSQL connection string pasted as a store
// (postgres://…, postgresql://…, host=… password=…) from a file name, so
// that it is refused without being echoed.
func looksLikeDSN(v string) bool {
	return strings.Contains(v, "://") || strings.Contains(v, "@") || strings.Contains(v, "=")
}

func (r storeRef) name() string {
	if r.path != "" {
		return "state file " + r.path
	}
	return "state database " + state.RedactDSN(r.dsn)
}

// same reports whether two refs name one store: one file, or one
// host:port/database.
func (r storeRef) same(o storeRef) bool {
	if r.path != "" || o.path != "" {
		a, errA := filepath.Abs(r.path)
		b, errB := filepath.Abs(o.path)
		return r.path != "" && o.path != "" && errA == nil && errB == nil && a == b
	}
	return state.RedactDSN(r.dsn) == state.RedactDSN(o.dsn)
}

// notYetMade: a SQLite file that does not exist (opening it creates it).
func (r storeRef) notYetMade() bool {
	if r.path == "" {
		return false
	}
	_, err := os.Stat(r.path)
	return errors.Is(err, fs.ErrNotExist)
}

func (r storeRef) open(ctx context.Context) (*state.Store, error) {
	if r.path != "" {
		return state.Open(ctx, r.path)
	}
	return state.OpenPostgres(ctx, r.dsn)
}

// redact removes the DSN's password from err, whatever put it there (the
// state package already keeps it out of its own errors).
func (r storeRef) redact(err error) error {
	if err == nil || r.dsn == "" {
		return err
	}
	cfg, perr := pgx.ParseConfig(r.dsn)
	if perr != nil || cfg.Password == "" || !strings.Contains(err.Error(), cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "xxxxx"))
}

// openExit: a store another orgsync holds is a failure to retry later (1),
// anything else in opening one a usage or config error (2), as for the
// other commands.
func openExit(err error) int {
	if errors.Is(err, state.ErrLocked) {
		return ExitFailed
	}
	return ExitUsage
}

// printMigrate writes the report: a line per table, source → target, and
// both checksums; to stderr for a copy that did not match (not ok).
func printMigrate(g *globals, rep *state.MigrateReport, ok bool) {
	if rep == nil || len(rep.Tables) == 0 {
		return
	}
	w := g.stdout
	if !ok {
		w = g.stderr
	}
	fmt.Fprintf(w, "from %s\nto   %s\n", rep.From, rep.To)
	for _, t := range rep.Tables {
		if rep.DryRun {
			fmt.Fprintf(w, "  %-12s %10d → (the target has %d)\n", t.Table, t.Source, t.Target)
		} else {
			fmt.Fprintf(w, "  %-12s %10d → %d\n", t.Table, t.Source, t.Target)
		}
	}
	switch {
	case rep.DryRun:
		fmt.Fprintf(w, "shadow sha256 %s\n", rep.SourceChecksum)
		if ok {
			fmt.Fprintln(w, "dry run: nothing written; the target is empty and would take the copy")
		}
	case rep.TargetChecksum != "":
		eq := "="
		if rep.TargetChecksum != rep.SourceChecksum {
			eq = "≠"
		}
		fmt.Fprintf(w, "shadow sha256 %s %s %s\n", rep.SourceChecksum, eq, rep.TargetChecksum)
	}
	if ok && !rep.DryRun {
		fmt.Fprintln(w, "migrated: every count and the shadow checksum are equal; point the config's state: block at the new store before starting the daemons")
	}
}
