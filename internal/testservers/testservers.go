// Package testservers starts real directory servers (OpenLDAP slapd, Samba AD
// DC) on loopback for integration tests, seeds them and stops them.
//
// Every helper skips the test when the server binaries are missing or the
// test runs with -short, unless ORGSYNC_REQUIRE_SERVERS=1 is set (CI), in
// which case a missing binary fails the test instead.
package testservers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing server binary
// into a test failure instead of a skip.
const RequireEnv = "ORGSYNC_REQUIRE_SERVERS"

// Required reports whether missing servers must fail tests (CI).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Need skips t (or fails it under ORGSYNC_REQUIRE_SERVERS=1) unless every
// named binary is found in PATH or in /usr/sbin, and skips it under -short.
func Need(t testing.TB, bins ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real server skipped in -short mode")
	}
	if err := LookBins(bins...); err != nil {
		SkipOrFail(t, err)
	}
}

// SkipOrFail skips t because err says something the test needs is missing,
// or fails it under ORGSYNC_REQUIRE_SERVERS=1, where a missing tool means
// a broken CI image rather than a machine without it.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%v (%s=1)", err, RequireEnv)
	}
	t.Skip(err)
}

// NeedTool returns the path of the named binary (LookPath), or skips or
// fails t (SkipOrFail) when it is not installed. Unlike Need it runs under
// -short: it is for tools, not servers.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := LookPath(name)
	if err != nil {
		SkipOrFail(t, fmt.Errorf("%s is not installed", name))
	}
	return p
}

// LookBins returns an error naming the first binary that cannot be found.
func LookBins(bins ...string) error {
	for _, b := range bins {
		if _, err := LookPath(b); err != nil {
			return fmt.Errorf("%s not installed", b)
		}
	}
	return nil
}

// LookPath finds a binary in PATH, then in /usr/sbin and /sbin (where Debian
// installs slapd and samba, and which a non-root PATH often lacks).
func LookPath(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := d + "/" + bin
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPort polls addr until it accepts a TCP connection, exited reports the
// server's death, or timeout passes.
func waitPort(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// portOpen reports whether something accepts connections on addr.
func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
