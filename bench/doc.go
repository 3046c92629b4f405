// Package bench holds the benchmarks that run the real orgsync binary the
// way an operator does and measure what the operator sees: wall time and
// the process's peak RSS (DESIGN §5, BENCHMARKS.md). They run under
// `make bench` only: `go test` without -bench runs none of them, and builds
// nothing.
//
// Each one builds bin/orgsync (as `make build` does, into a temporary
// folder), generates its company with scripts/gencompany, starts
// `orgsync wecom-emulator` as its own process, and then times `orgsync plan`
// and its floor, a plain GB18030 CSV decode of the same export, each as a
// child process read through its rusage.
//
//	make bench PKGS=./bench
//	go test -run '^$' -bench . -benchtime 1x ./bench
//	ORGSYNC_BENCH_PEOPLE=1000000 go test -run '^$' -bench PlanFirstImport -benchtime 1x ./bench
package bench
