package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkStatePath checks that state.path can be where the state store
// lives. The store creates its directory if needed, which is right for a
// first install (systemd's StateDirectory= makes /var/lib/orgsync; a
// package or a volume mount makes others) but silently wrong for a typo:
// a fresh, empty store owns nothing, so orgsync would start over with
// adoption rules instead of its history. So:
//
//   - the directory exists: fine (it must be a directory);
//   - it is the default's, /var/lib/orgsync: fine, systemd creates it;
//   - it is missing but its parent exists: the store creates it, and
//     Warnings says so (a first install, or a typo one level deep);
//   - it and its parent are missing: an error naming both, since nothing
//     that deep is made by an installer and a typo is likelier.
//
// A directory that cannot be examined (permissions) is left to the store
// to report when it opens.
func (f *File) checkStatePath(add func(path, format string, args ...any)) {
	dir, missing, err := f.stateDir()
	switch {
	case err != nil:
		add("state.path", "%s", err)
	case missing && filepath.Dir(dir) != dir && !exists(filepath.Dir(dir)):
		add("state.path", "%s: the directory %s does not exist, nor does its parent %s: create it (mkdir -p %s) or fix the path",
			f.State.Path, dir, filepath.Dir(dir), dir)
	}
}

// Warnings are settings that load but are probably not meant, for
// `orgsync validate` to print and the daemon to log. Today: a state.path
// whose directory does not exist yet (the state store will create it).
func (f *File) Warnings() []string {
	dir, missing, err := f.stateDir()
	if err != nil || !missing || !exists(filepath.Dir(dir)) {
		return nil
	}
	return []string{fmt.Sprintf("state.path: %s: the directory %s does not exist; the state store will create it (check the path unless this is the first run)",
		f.State.Path, dir)}
}

// stateDir is state.path's directory and whether it is missing (never
// for the default's directory, which systemd's StateDirectory= creates).
func (f *File) stateDir() (dir string, missing bool, err error) {
	if f.State.Path == "" {
		return "", false, nil
	}
	dir = filepath.Dir(f.State.Path)
	if dir == filepath.Dir(DefaultStatePath) {
		return dir, false, nil
	}
	fi, statErr := os.Stat(dir)
	switch {
	case statErr == nil && !fi.IsDir():
		return dir, false, fmt.Errorf("%s: %s is not a directory", f.State.Path, dir)
	case errors.Is(statErr, fs.ErrNotExist):
		return dir, true, nil
	}
	return dir, false, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
