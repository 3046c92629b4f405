package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orgsync/orgsync/internal/logging"
)

// checkFlags runs before every command (the root's PersistentPreRunE): a
// flag value no command can use is a usage error (exit 2) before anything
// is read, contacted or written. `sync --output yaml` must not run a sync
// and then fail to print it.
func checkFlags(cmd *cobra.Command, _ []string) error {
	var probs []string
	if f := cmd.Flag("log-format"); f != nil && !slices.Contains(logging.Formats, f.Value.String()) {
		probs = append(probs, fmt.Sprintf("--log-format %q: want %s", f.Value.String(), strings.Join(logging.Formats, ", ")))
	}
	if f := cmd.Flag("log-level"); f != nil {
		if _, err := logging.ParseLevel(f.Value.String()); err != nil {
			probs = append(probs, fmt.Sprintf("--log-level %q: want debug, info, warn or error", f.Value.String()))
		}
	}
	if f := cmd.Flags().Lookup("output"); f != nil {
		if v := f.Value.String(); v != "text" && v != "json" {
			probs = append(probs, fmt.Sprintf("--output %q: want text or json", v))
		}
	}
	if f := cmd.Flags().Lookup("allow-destructive"); f != nil {
		if n, err := strconv.Atoi(f.Value.String()); err != nil || n < 0 {
			probs = append(probs, fmt.Sprintf("--allow-destructive %s: want a number of changes, 0 or more", f.Value.String()))
		}
	}
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() == "" {
		probs = append(probs, fmt.Sprintf("no config: pass -c FILE, e.g. 'orgsync %s -c /etc/orgsync/orgsync.yaml'", cmd.Name()))
	}
	if len(probs) > 0 {
		return withExit(ExitUsage, errors.New(strings.Join(probs, "; ")))
	}
	return nil
}
