package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/state"
)

// ErrJobRunning is returned by a run (and by Prepare) that found an import
// job an earlier run submitted still running after waiting for it: its
// rows are not yet in the directory's lists, so a plan made now would make
// them again, one call each or in a second job, racing the first. The run
// makes no change at all; the next one settles the job's rows from its
// result. The error names each job, its run and how long it was awaited.
var ErrJobRunning = errors.New("an import job of an earlier run is still running")

// jobAwaiter is a directory whose changes can outlive the run that made
// them: import jobs (WeCom's batch/syncuser) that the directory records in
// the journal when submitted and that may still run, or be unread, when
// the run ends.
type jobAwaiter interface {
	// AwaitJobsFor waits, bounded, for the jobs earlier runs left open and
	// settles their journal rows from each job's result; running has one
	// line for each job still running after its bound, whose rows it left
	// pending.
	//
	// maxWait bounds the wait for each job; 0 is the directory's own bound.
	AwaitJobsFor(ctx context.Context, j directory.Journal, maxWait time.Duration) (running []string, err error)
}

// maxJobAge is how long after its submit an import job is awaited at all.
// WeCom's imports take minutes (about 20 ms a row); one still running hours
// later is stuck, and awaiting it would fail every run after it for good.
// Past this age its rows are settled from WeCom's lists, as for a job WeCom
// no longer knows, and the run goes on (WeCom itself refuses a second job
// while one runs: 302008 leaves those rows for a later run).
const maxJobAge = 6 * time.Hour

// awaitJobs runs before WeCom is read, so that what a run settles from
// WeCom's lists is final: an import job an earlier run left open (its wait
// timed out, the process died after submitting it) is waited for and its
// rows settled from its own result. A job still running after the wait
// stops the run with ErrJobRunning, before anything is planned (the
// directory has logged each such job). The reports of interrupted runs
// whose rows were settled are brought up to date, as settlePending does.
//
// wait is false for a plan (Prepare, a dry run): it looks at each job once
// and does not wait for it.
func (e *Engine) awaitJobs(ctx context.Context, wait bool) error {
	a, ok := e.dir.(jobAwaiter)
	if !ok {
		return nil
	}
	open, err := e.store.OpenImportJobs(ctx)
	if err != nil || len(open) == 0 {
		return err
	}
	stuck := 0
	for _, j := range open {
		if age := e.now().Sub(j.SubmittedAt); age > maxJobAge {
			e.log.Warn("an import job of an earlier run is older than any import takes: it is no longer awaited, and its rows are settled from WeCom's lists",
				zap.String("job", j.Job), zap.Int64("run_id", j.RunID), zap.Duration("age", age), zap.Duration("max_age", maxJobAge))
			if err := e.store.SettleImportJob(ctx, j.ID, state.JobUnknown, nil); err != nil {
				return err
			}
			stuck++
		}
	}
	running, err := []string(nil), error(nil)
	if stuck < len(open) {
		maxWait := time.Duration(0)
		if !wait {
			maxWait = time.Nanosecond // one look
		}
		running, err = a.AwaitJobsFor(ctx, e.store, maxWait)
	}
	runs := map[int64]bool{}
	for _, j := range open {
		runs[j.RunID] = true
	}
	if rerr := e.reportSettled(ctx, runs); rerr != nil {
		e.log.Warn("could not update the report of an interrupted run", zap.Error(rerr))
	}
	if err != nil {
		return fmt.Errorf("import jobs of earlier runs: %w", err)
	}
	if len(running) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s): this run plans and makes no change, so as not to race it; the job's rows stay pending until a later run settles them from its result",
		ErrJobRunning, strings.Join(running, "; "))
}
