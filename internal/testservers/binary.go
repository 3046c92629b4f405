package testservers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RunWithOrgsync builds the orgsync binary once into a temporary
// directory, runs the tests of a package with its path (run's argument),
// removes it and returns the exit code: a TestMain for packages that test
// the real binary (os.Exit(testservers.RunWithOrgsync(m.Run, &bin))).
func RunWithOrgsync(run func() int, bin *string) int {
	dir, err := os.MkdirTemp("", "orgsync-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "orgsync")
	build := exec.Command("go", "build", "-o", *bin, "github.com/orgsync/orgsync/cmd/orgsync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build orgsync:", err)
		return 1
	}
	return run()
}
