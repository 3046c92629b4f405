package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// heldOps are the kinds of change the guard holds, the values of --kind.
var heldOps = []plan.Op{plan.OpUserUpdate, plan.OpUserMove, plan.OpUserDisable, plan.OpUserDelete, plan.OpDeptUpdate, plan.OpDeptDelete}

func newHeldCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "held",
		Short: "Review the changes the safety guard held or refused: list, show, approve, reject",
		Long: `Every change the guard holds (over a max_* threshold, or from a source it
can't trust) and every disable and delete of a refused run waits in the state
store's held queue, with its reason, its source record, before and after, and
the run that held it.

  approved   the next run (or --now) makes it, if the sources still ask for
             exactly that change; a change that differs is held again
  rejected   it is not proposed again until the source changes it
  applied    made by a run
  obsolete   no longer planned (the source or WeCom changed)

Approving is per change, not a blind --allow-destructive N: approved changes
are weighed against no threshold, but a source problem still holds them.
Every decision is logged with who made it ('held show ID'); the CLI records
the OS user. While the daemon runs it holds the state store: use its API
(/v1/held) or its review page instead.

Exit codes: 0 done, 1 a change not found or closed, or --now's run failed
(3 refused, 4 needs attention, as sync), 2 usage or config error.`,
	}
	cmd.AddCommand(newHeldListCmd(g), newHeldShowCmd(g), newHeldDecideCmd(g, state.HeldApproved), newHeldDecideCmd(g, state.HeldRejected))
	return cmd
}

// openHeldStore opens the engine for the queue, naming the daemon's API
// when the daemon holds the store.
func openHeldStore(ctx context.Context, g *globals, cmd *cobra.Command, cfgPath string) (*engine.Engine, *zap.Logger, error) {
	e, log, err := openEngine(ctx, g, cmd, cfgPath)
	if err != nil && errors.Is(err, state.ErrLocked) {
		return nil, nil, withExit(ExitFailed, fmt.Errorf("%w\n(if the daemon runs, review held changes through it: GET /v1/held, POST /v1/held/ID/approve, or its page at /ui/)", err))
	}
	return e, log, err
}

func parseKind(kind string) error {
	if kind == "" || slices.Contains(heldOps, plan.Op(kind)) {
		return nil
	}
	var names []string
	for _, op := range heldOps {
		names = append(names, string(op))
	}
	return withExit(ExitUsage, fmt.Errorf("--kind %q: want one of %s", kind, strings.Join(names, ", ")))
}

func newHeldListCmd(g *globals) *cobra.Command {
	var cfgPath, kind, output string
	var all bool
	cmd := &cobra.Command{
		Use:   "list -c FILE [--kind OP] [--all] [--output text|json]",
		Short: "List the held queue (held, approved and rejected changes; --all for closed ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseKind(kind); err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return withExit(ExitUsage, fmt.Errorf("--output %q: want text or json", output))
			}
			ctx := context.Background()
			e, _, err := openHeldStore(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			f := state.HeldFilter{Op: kind, Status: state.HeldOpen}
			if all {
				f.Status = nil
			}
			hs, err := e.Store().ListHeld(ctx, f)
			if err != nil {
				return withExit(ExitFailed, err)
			}
			if output == "json" {
				if hs == nil {
					hs = []state.HeldChange{}
				}
				writeJSON(g.stdout, hs)
				return nil
			}
			printHeldList(g.stdout, hs)
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind of change (user_disable, user_move, ...)")
	cmd.Flags().BoolVar(&all, "all", false, "include applied and obsolete changes")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func printHeldList(w io.Writer, hs []state.HeldChange) {
	if len(hs) == 0 {
		fmt.Fprintln(w, "no held changes")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tKIND\tOBJECT\tRUN\tREASON")
	for _, h := range hs {
		status := h.Status
		if h.DecidedBy != "" && (h.Status == state.HeldApproved || h.Status == state.HeldRejected) {
			status += " by " + h.DecidedBy
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", h.ID, status, h.Op, h.Object, h.RunID, oneLine(h.Reason, 100))
	}
	_ = tw.Flush()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func newHeldShowCmd(g *globals) *cobra.Command {
	var cfgPath, output string
	cmd := &cobra.Command{
		Use:   "show -c FILE ID [--output text|json]",
		Short: "Show one held change: reason, source record, before and after, and every decision on it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return withExit(ExitUsage, fmt.Errorf("--output %q: want text or json", output))
			}
			ctx := context.Background()
			e, _, err := openHeldStore(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			h, err := e.Store().GetHeld(ctx, ids[0])
			if err != nil {
				return withExit(ExitFailed, err)
			}
			events, err := e.Store().HeldEvents(ctx, h.ID)
			if err != nil {
				return withExit(ExitFailed, err)
			}
			if output == "json" {
				writeJSON(g.stdout, struct {
					state.HeldChange
					Events []state.HeldEvent `json:"events"`
				}{h, events})
				return nil
			}
			fmt.Fprintf(g.stdout, "held change %d: %s %s (%s)\n", h.ID, h.Op, h.Object, h.Status)
			fmt.Fprintf(g.stdout, "  reason:  %s\n", h.Reason)
			fmt.Fprintf(g.stdout, "  held by: run %d, since %s\n", h.RunID, h.HeldAt.Format("2006-01-02 15:04:05"))
			if h.Origin != "" {
				fmt.Fprintf(g.stdout, "  source:  %s\n", h.Origin)
			}
			if len(h.Before) > 0 {
				fmt.Fprintf(g.stdout, "  before:  %s\n", h.Before)
			}
			if len(h.After) > 0 {
				fmt.Fprintf(g.stdout, "  after:   %s\n", h.After)
			}
			fmt.Fprintln(g.stdout, "  log:")
			for _, ev := range events {
				line := fmt.Sprintf("    %s  %-9s %s", ev.At.Format("2006-01-02 15:04:05"), ev.Action, ev.Actor)
				if ev.Note != "" {
					line += ": " + oneLine(ev.Note, 120)
				}
				fmt.Fprintln(g.stdout, line)
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func parseIDs(args []string) ([]int64, error) {
	var ids []int64
	for _, a := range args {
		for _, f := range strings.Split(a, ",") {
			if f == "" {
				continue
			}
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil || id <= 0 {
				return nil, withExit(ExitUsage, fmt.Errorf("held change id %q: want a positive number (see 'orgsync held list')", f))
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// osActor is who decides from the CLI: the OS user (and who ran sudo).
func osActor() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		name = "uid " + strconv.Itoa(os.Getuid())
	}
	if su := os.Getenv("SUDO_USER"); su != "" && su != name {
		name = su + " (sudo as " + name + ")"
	}
	return name
}

func newHeldDecideCmd(g *globals, status string) *cobra.Command {
	var cfgPath, kind, note string
	var all, now bool
	verb := strings.TrimSuffix(status, "d") // approve, reject
	if status == state.HeldRejected {
		verb = "reject"
	}
	cmd := &cobra.Command{
		Use:   verb + " -c FILE (ID... | --all | --kind OP) [--note TEXT]",
		Args:  cobra.ArbitraryArgs,
		Short: map[string]string{state.HeldApproved: "Approve held changes: the next run makes them if the sources still ask for them", state.HeldRejected: "Reject held changes: not proposed again until the source changes them"}[status],
		Example: fmt.Sprintf(`  orgsync held %[1]s -c orgsync.yaml 12 13
  orgsync held %[1]s -c orgsync.yaml --kind user_disable
  orgsync held %[1]s -c orgsync.yaml --all --note "reorg approved by HR, ticket 4711"`, verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			if err := parseKind(kind); err != nil {
				return err
			}
			bulk := all || kind != ""
			if len(ids) > 0 == bulk {
				return withExit(ExitUsage, fmt.Errorf("give the ids of the changes to %s, or --all or --kind OP (not both)", verb))
			}
			ctx, cancel := signalContext()
			defer cancel()
			e, log, err := openHeldStore(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			st := e.Store()
			if bulk {
				from := []string{state.HeldHeld}
				if status == state.HeldRejected {
					from = append(from, state.HeldApproved)
				}
				hs, err := st.ListHeld(ctx, state.HeldFilter{Status: from, Op: kind})
				if err != nil {
					return withExit(ExitFailed, err)
				}
				for _, h := range hs {
					ids = append(ids, h.ID)
				}
			}
			if len(ids) == 0 {
				fmt.Fprintf(g.stdout, "no held changes to %s\n", verb)
			} else {
				decided, err := st.DecideHeld(ctx, ids, status, osActor(), note)
				if err != nil {
					return withExit(ExitFailed, err)
				}
				fmt.Fprintf(g.stdout, "%s %d changes:\n", status, len(decided))
				printHeldList(g.stdout, decided)
			}
			if !now {
				if status == state.HeldApproved && len(ids) > 0 {
					fmt.Fprintln(g.stdout, "the next run makes them if the sources still ask for them (or pass --now)")
				}
				return nil
			}
			bar := newProgress(g.stderr, log)
			rep, err := e.RunOnce(ctx, engine.Options{Progress: bar.update})
			bar.done()
			if rep != nil {
				printReport(g.stdout, rep)
			}
			var refused *plan.RefusedError
			switch {
			case errors.As(err, &refused):
				return withExit(ExitRefused, err)
			case err != nil:
				return withExit(runExit(err), err)
			case rep != nil && rep.Status == engine.StatusAttention:
				return withExit(ExitAttention, fmt.Errorf("the run finished but needs attention: %s", strings.Join(rep.Attention, "; ")))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&all, "all", false, "every change waiting for a decision ("+map[string]string{state.HeldApproved: "held", state.HeldRejected: "held or approved"}[status]+")")
	cmd.Flags().StringVar(&kind, "kind", "", "every change of this kind waiting for a decision (user_disable, user_move, ...)")
	cmd.Flags().StringVar(&note, "note", "", "why, for the log")
	if status == state.HeldApproved {
		cmd.Flags().BoolVar(&now, "now", false, "run a sync right away to make the approved changes")
	}
	return cmd
}
