package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newCompletionDocsCmd writes the man pages and shell completions the
// package installs, generated from the commands themselves so that they
// can never disagree with --help. Hidden: it is for packagers.
func newCompletionDocsCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:    "gen-docs --out DIR",
		Short:  "Write man pages (DIR/man/man1) and bash, zsh and fish completions (DIR/completions)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			manDir := filepath.Join(out, "man", "man1")
			compDir := filepath.Join(out, "completions")
			for _, d := range []string{manDir, compDir} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return withExit(ExitFailed, err)
				}
			}
			hdr := &doc.GenManHeader{Title: "ORGSYNC", Section: "1", Source: "orgsync " + version, Manual: "orgsync manual"}
			root.DisableAutoGenTag = true // reproducible: no generation date
			if err := doc.GenManTree(root, hdr, manDir); err != nil {
				return withExit(ExitFailed, fmt.Errorf("man pages: %w", err))
			}
			for name, gen := range map[string]func(string) error{
				"orgsync.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
				"_orgsync":     root.GenZshCompletionFile,
				"orgsync.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
			} {
				if err := gen(filepath.Join(compDir, name)); err != nil {
					return withExit(ExitFailed, fmt.Errorf("completion %s: %w", name, err))
				}
			}
			fmt.Fprintf(g.stdout, "man pages in %s, completions in %s\n", manDir, compDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write into (required)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
