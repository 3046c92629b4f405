package main

import (
	"cmp"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/orgsync/orgsync/internal/logging"
)

// version and revision are set at build time with
// -ldflags "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = ""
)

// buildRevision is the commit the binary was built from: -X main.revision,
// else what the Go toolchain recorded (vcs.revision), else "".
func buildRevision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// globals holds what every subcommand shares: the flags on the root command
// and the writers, so tests can run commands in-process.
type globals struct {
	stdout, stderr io.Writer
	logFormat      string
	logLevel       string
}

// logger builds the zap logger from the global flags alone (commands
// without a config file).
func (g *globals) logger() (*zap.Logger, error) {
	return logging.New(logging.Options{Format: g.logFormat, Level: g.logLevel})
}

// logOptions merges a config's `log:` block with the flags: a flag given on
// the command line wins over the file.
func (g *globals) logOptions(cmd *cobra.Command, lc logging.Config) logging.Options {
	o := logging.Options{Format: cmp.Or(lc.Format, "auto"), Level: cmp.Or(lc.Level, "info"), PII: lc.PII}
	if f := cmd.Flag("log-format"); f != nil && f.Changed {
		o.Format = g.logFormat
	}
	if f := cmd.Flag("log-level"); f != nil && f.Changed {
		o.Level = g.logLevel
	}
	return o
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "orgsync",
		Short: "Keep a WeCom (企业微信) contact directory in step with HR sources",
		Long: `orgsync reads people from HR exports (CSV, XLSX), LDAP / Active Directory or
HR HTTP APIs, maps them onto WeCom members and departments, and applies the
difference through WeCom's contacts API, safely: a failed, empty or truncated
source never turns into disables or deletes, and only members orgsync created
or adopted are ever changed.

Start with 'orgsync validate -c FILE', review with 'orgsync plan -c FILE',
then 'orgsync sync -c FILE' or run 'orgsync daemon -c FILE' under systemd.

Exit codes: 0 success, 1 run or some changes failed, 2 usage or config error,
3 refused by the safety guard, 4 finished but needs attention (held changes,
rejected records, a source missing or incomplete).`,
		Version:           version,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: checkFlags,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "log format: auto (console on a terminal, json otherwise), console, json or logfmt; under journald every line carries its priority")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, add := range commands {
		root.AddCommand(add(g))
	}
	return root
}

// commands lists every subcommand explicitly (no init-time registration).
var commands = []func(*globals) *cobra.Command{
	newValidateCmd, newPlanCmd, newSyncCmd, newDaemonCmd, newTriggerCmd, newHistoryCmd, newExplainCmd, newHeldCmd, newStateCmd, newVersionCmd,
	newWecomEmulatorCmd, newHRAPIEmulatorCmd, newHealthcheckCmd, newCompletionDocsCmd,
}
