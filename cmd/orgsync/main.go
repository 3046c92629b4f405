// Command orgsync keeps a WeCom contact directory in step with HR sources.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

func main() {
	stop := startProfile(os.Getenv("ORGSYNC_CPUPROFILE"), os.Stderr)
	err := newRootCmd(os.Stdout, os.Stderr).Execute()
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// startProfile writes a CPU profile of the whole command to path (none when
// path is empty) until the returned func is called: ORGSYNC_CPUPROFILE=FILE
// is how a slow plan is reported (`go tool pprof orgsync FILE`), the same
// for every command without a flag on each.
func startProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "orgsync: ORGSYNC_CPUPROFILE:", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}

// Exit codes, stable for scripts and systemd:
//
//	0 success; 1 the run failed or some changes failed; 2 usage or config
//	error; 3 refused by the guard; 4 the run finished but needs attention
//	(changes held, records rejected, a source missing or incomplete).
const (
	ExitOK        = 0
	ExitFailed    = 1
	ExitUsage     = 2
	ExitRefused   = 3
	ExitAttention = 4
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// exitCode prints err (if any) to w and returns the process exit code.
func exitCode(err error, w io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(w, "orgsync:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(w, "orgsync:", err)
	return ExitUsage // cobra's own errors are usage errors (unknown flag, bad args)
}
