package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

A run on an empty store refuses (exit 3) while a snapshot of a fuller one
lies beside it, so a lost file is noticed rather than worked around.`,
	}
	cmd.AddCommand(newStateExportCmd(g), newStateImportCmd(g), newStateSnapshotsCmd(g))
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
