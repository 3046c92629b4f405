package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/orgsync/orgsync/daemon"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/logging"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// openEngine loads the config, builds the logger (its `log:` block, with
// command-line flags winning) and builds and opens the engine. Config
// problems exit 2; a locked state store exits 1.
func openEngine(ctx context.Context, g *globals, cmd *cobra.Command, path string) (*engine.Engine, *zap.Logger, error) {
	if path == "" {
		return nil, nil, withExit(ExitUsage, errors.New("no config: pass -c FILE (see 'orgsync validate --help')"))
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, withExit(ExitUsage, err)
	}
	var lc logging.Config
	if err := config.DecodeBlock(&cfg.Log, "log", &lc); err != nil {
		return nil, nil, withExit(ExitUsage, err)
	}
	log, err := logging.New(g.logOptions(cmd, lc))
	if err != nil {
		return nil, nil, withExit(ExitUsage, err)
	}
	e, err := engine.Build(cfg, log)
	if err != nil {
		return nil, nil, withExit(ExitUsage, cfg.LocateAll(err))
	}
	if err := e.Open(ctx); err != nil {
		if errors.Is(err, state.ErrLocked) {
			return nil, nil, withExit(ExitFailed, err)
		}
		return nil, nil, withExit(ExitUsage, err)
	}
	return e, log, nil
}

// signalContext is cancelled on SIGINT/SIGTERM so a run stops at a change
// boundary, journaled.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func addConfigFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "config", "c", "", "configuration file (YAML); required")
}

func newValidateCmd(g *globals) *cobra.Command {
	var cfgPath string
	var offline bool
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "Check a configuration: syntax, rules, then connectivity (sources readable, WeCom token obtainable)",
		Long: `validate checks, in order, and reports every problem it finds:

  1. the YAML (unknown keys are errors) and every value, with file:line;
  2. each source's config and every mapping rule (expressions are compiled);
  3. unless --offline: that each source can be read, and that the WeCom secret
     gets a token and can read the managed department tree.

Nothing is written to WeCom or to the state store.`,
		Example: `  orgsync validate -c /etc/orgsync/orgsync.yaml
  orgsync validate -c orgsync.yaml --offline    # syntax and rules only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// daemon.Load checks the schedule, server, log and notify blocks
			// too, so one validate covers what `daemon` will read.
			settings, err := daemon.Load(cfgPath)
			if err != nil {
				return withExit(ExitUsage, withBuildProblems(cfgPath, err))
			}
			log, err := logging.New(g.logOptions(cmd, settings.Log))
			if err != nil {
				return withExit(ExitUsage, err)
			}
			cfg := settings.File
			e, err := engine.Build(cfg, log)
			if err != nil {
				return withExit(ExitUsage, cfg.LocateAll(err))
			}
			fmt.Fprintf(g.stdout, "config %s: ok (%d sources, mapping compiled)\n", cfgPath, len(cfg.Sources))
			for _, w := range append(cfg.Warnings(), settings.Schedule.Warnings()...) {
				fmt.Fprintf(g.stdout, "warning: %s\n", w)
			}
			if offline {
				lines, err := e.CheckLocal(cmd.Context())
				for _, l := range lines {
					fmt.Fprintln(g.stdout, l)
				}
				if err != nil {
					return withExit(ExitUsage, err)
				}
				return nil
			}
			ctx, cancel := signalContext()
			defer cancel()
			checks, err := e.Check(ctx)
			for _, c := range checks {
				fmt.Fprintln(g.stdout, c)
			}
			if errors.Is(err, engine.ErrRulesDontFit) {
				return withExit(ExitUsage, err) // the config's rules: a config error
			}
			if err != nil {
				return withExit(ExitFailed, err)
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&offline, "offline", false, "check syntax and rules only; contact no source and not WeCom")
	return cmd
}

// withBuildProblems adds, to the config problems daemon.Load found, those
// the engine finds in the sources and the mapping of what could be decoded,
// so that validate reports every problem in one go rather than one layer
// per attempt.
func withBuildProblems(path string, loadErr error) (err error) {
	var probs config.Problems
	if !errors.As(loadErr, &probs) {
		return loadErr
	}
	f, _ := config.Load(path)
	if f == nil {
		return loadErr
	}
	defer func() {
		if recover() != nil { // a config too broken to build: what Load said is enough
			err = loadErr
		}
	}()
	_, berr := engine.Build(f, zap.NewNop())
	berr = f.LocateAll(berr)
	var more config.Problems
	if !errors.As(berr, &more) {
		return loadErr
	}
	seen := map[string]bool{}
	for _, p := range probs {
		seen[p] = true
	}
	for _, p := range more {
		if !seen[p] && !strings.Contains(p, "target.config") && !strings.Contains(p, "policy.") {
			probs = append(probs, p)
			seen[p] = true
		}
	}
	config.SortByLine(probs)
	return probs
}

func newPlanCmd(g *globals) *cobra.Command {
	var cfgPath, out, output string
	var allow int
	var indent bool
	cmd := &cobra.Command{
		Use:   "plan -c FILE [--out plan.json] [--output text|json] [--indent]",
		Short: "Show what a sync would change, writing nothing",
		Long: `plan reads the sources and WeCom, computes the changes a sync would make and
runs the safety guard, then prints them: counts first, then each change with
before → after and the reason. Nothing is written to WeCom or the state store.

Save it with --out and apply exactly that reviewed plan later with
'orgsync sync --plan FILE' (which refuses if anything changed meanwhile).
--out and --output json write compact JSON, one change after another, so a
plan of 100,000 changes is never built in memory; --indent lays it out for
reading.

Exit codes: 0 plan computed, 3 the guard would refuse this run, 1/2 errors.`,
		Example: `  orgsync plan -c orgsync.yaml
  orgsync plan -c orgsync.yaml --out tonight.json && orgsync sync -c orgsync.yaml --plan tonight.json
  orgsync plan -c orgsync.yaml --output json --indent | less`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			e, _, err := openEngine(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			p, err := e.Prepare(ctx, allow)
			if err != nil {
				return withExit(runExit(err), err)
			}
			if out != "" {
				if err := savePlan(out, p.Changes, indent); err != nil {
					return withExit(ExitFailed, err)
				}
			}
			switch output {
			case "json":
				if err := writePlanJSON(g.stdout, p, indent); err != nil {
					return withExit(ExitFailed, err)
				}
			default:
				printPlan(g.stdout, p)
				if out != "" {
					fmt.Fprintf(g.stdout, "\nplan saved to %s; apply it with: orgsync sync -c %s --plan %s\n", out, cfgPath, out)
				}
			}
			if p.Refusal != nil {
				return withExit(ExitRefused, p.Refusal)
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&out, "out", "", "also save the plan as JSON to this file, for 'sync --plan'")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&indent, "indent", false, "indent the JSON (--output json and --out) for reading; compact by default")
	cmd.Flags().IntVar(&allow, "allow-destructive", 0, "plan as if up to N disables+deletes over the thresholds were approved")
	return cmd
}

// savePlan writes the plan for 'sync --plan' to path as a stream.
func savePlan(path string, c *plan.Changes, indent bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	in := ""
	if indent {
		in = "  "
	}
	err = c.WriteJSON(f, "", in)
	if err == nil {
		_, err = f.WriteString("\n")
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save the plan: %w", err)
	}
	return nil
}

// loadPlan reads a plan saved by 'plan --out' and returns its digest
// (plan.Digest), all that sync --plan needs to refuse a world that changed
// since the review. The file is read as a stream holding one change at a
// time (plan.DigestJSON). A file whose members are out of the order
// 'plan --out' writes them (edited by hand) has a digest only the whole
// plan gives: such a file alone is read again, decoded whole (readPlan),
// digested and let go before the run.
func loadPlan(path string) ([]byte, error) {
	s, err := readPlanFile(path, plan.DigestJSON)
	if errors.Is(err, plan.ErrMemberOrder) {
		var c *plan.Changes
		if c, err = readPlanFile(path, readPlan); err == nil {
			if s.Sum, err = plan.Digest(c); err != nil {
				err = fmt.Errorf("plan file %s: %w", path, err)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return s.Sum, nil
}

// readPlanFile opens the plan file path and reads it with read; read's
// errors name the file.
func readPlanFile[T any](path string, read func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := read(f)
	if err != nil {
		return v, fmt.Errorf("plan file %s: %w", path, err)
	}
	return v, nil
}

// writeJSON prints v as indented JSON with CJK and <>& left as they are.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func refusalText(r *plan.RefusedError) string {
	if r == nil {
		return ""
	}
	return r.Reason
}

func newSyncCmd(g *globals) *cobra.Command {
	var cfgPath, planFile, output string
	var dry bool
	var allow int
	var recoverOwnership bool
	cmd := &cobra.Command{
		Use:   "sync -c FILE [--plan plan.json] [--dry-run] [--output text|json]",
		Short: "Run one full sync: read, map, plan, guard, apply, record",
		Long: `sync runs one full sync and records it in the state store (see 'orgsync history').

Safety: a source that fails, reads incompletely, shrinks past
policy.max_shrink, changes encoding or loses columns, or misses a
policy.sentinels entry holds every disable, delete and department delete,
rename and move (creates and updates still go ahead). Disables/deletes over
policy.max_disables / max_deletes (or the rolling max_*_per_day budgets)
refuse the whole run (exit 3); any other kind of change over its threshold
(max_moves, max_updates, max_clears, max_department_renames/moves/deletes)
is held while the rest goes on. --allow-destructive N approves up to N such
changes for one run. Only members orgsync created or adopted are ever
changed; every call is journaled, so an interrupted run (even kill -9)
converges on the next run without duplicates.

Lost the state store? 'orgsync state import' restores a snapshot (kept
beside the store after every run that changed something), and
'sync --recover' rebuilds ownership from WeCom.

Exit codes: 0 success, 4 finished but needs attention (held changes,
rejected records, a source missing or incomplete), 1 the run or some changes
failed, 2 usage or config error, 3 refused by the guard (or --plan no longer
matches).`,
		Example: `  orgsync sync -c /etc/orgsync/orgsync.yaml
  orgsync sync -c orgsync.yaml --dry-run
  orgsync sync -c orgsync.yaml --allow-destructive 40     # approve a big leaver night
  orgsync sync -c orgsync.yaml --plan reviewed.json --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			e, log, err := openEngine(ctx, g, cmd, cfgPath)
			if err != nil {
				return err
			}
			defer e.Close()
			opts := engine.Options{DryRun: dry, AllowDestructive: allow, Recover: recoverOwnership}
			if planFile != "" {
				sum, err := loadPlan(planFile)
				if err != nil {
					return withExit(ExitUsage, err)
				}
				opts.PlanSum = sum
			}
			bar := newProgress(g.stderr, log)
			opts.Progress = bar.update
			rep, err := e.RunOnce(ctx, opts)
			bar.done()
			if rep != nil {
				switch output {
				case "json":
					writeJSON(g.stdout, rep)
				default:
					if rep.Plan != nil && (dry || output == "text") {
						printChanges(g.stdout, rep.Plan, 50)
					}
					printReport(g.stdout, rep)
				}
			}
			if err != nil {
				log.Debug("sync ended with an error", zap.Error(err))
				var refused *plan.RefusedError
				if errors.As(err, &refused) || errors.Is(err, engine.ErrDrift) {
					return withExit(ExitRefused, err)
				}
				return withExit(runExit(err), err)
			}
			if rep != nil && rep.Status == engine.StatusAttention {
				return withExit(ExitAttention, fmt.Errorf("the run finished but needs attention: %s", strings.Join(rep.Attention, "; ")))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&planFile, "plan", "", "apply exactly this reviewed plan (from 'plan --out'); refuse if the world changed since")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "compute and guard the plan, print it, write nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json (the run report)")
	cmd.Flags().IntVar(&allow, "allow-destructive", 0, "approve up to N guarded changes (disables, deletes, and any kind over its max_* threshold) for this run")
	cmd.Flags().BoolVar(&recoverOwnership, "recover", false, "after a lost state store: adopt the members (by userid) and departments (by name, or by their members under restricted reads) that match the sources, as planned changes")
	return cmd
}

// progress draws a progress bar with rate and ETA on a terminal
// (schollz/progressbar: maintained, handles terminal width, throttling and
// the ETA estimate; ours had neither rate nor ETA); elsewhere (journald,
// CI, a file) it logs a plain line every logEvery instead.
type progress struct {
	w    io.Writer
	log  *zap.Logger
	tty  bool
	mu   sync.Mutex
	last time.Time
	bar  *progressbar.ProgressBar
}

const logEvery = 10 * time.Second

func newProgress(w io.Writer, log *zap.Logger) *progress {
	p := &progress{w: w, log: log, last: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// newBar is the terminal bar: "applying  42% |████      | (420/1000, 95 it/s) [4s:6s]".
func newBar(w io.Writer, total int) *progressbar.ProgressBar {
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("applying"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("changes"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionUseANSICodes(true),
	)
}

func (p *progress) update(done, total int) {
	if total == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		if time.Since(p.last) >= logEvery {
			p.last = time.Now()
			p.log.Info("applying changes", zap.Int("done", done), zap.Int("total", total))
		}
		return
	}
	if p.bar == nil || p.bar.GetMax() != total {
		p.bar = newBar(p.w, total)
	}
	_ = p.bar.Set(min(done, total))
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

// runExit is the exit code of a run that ended with err: 2 when the
// configuration does not fit what was read (a config error found at run
// time), else 1.
func runExit(err error) int {
	if errors.Is(err, engine.ErrConfig) {
		return ExitUsage
	}
	return ExitFailed
}
