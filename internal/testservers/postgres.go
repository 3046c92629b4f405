package testservers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a throwaway PostgreSQL server from Debian's packages on
// 127.0.0.1, with its data directory and unix socket in a temp dir.
//
// It has one superuser User/Password (password auth over TCP); NewDatabase
// makes an empty database for one test and returns its DSN.
type Postgres struct {
	Addr     string // 127.0.0.1:PORT
	Port     int
	User     string
	Password string
	Dir      string

	cmd    *exec.Cmd
	exited chan struct{}
	// what start was given, for Restart
	bin, data, sock string
	cred            *syscall.Credential
	once            sync.Once
	mu              sync.Mutex
	dbs             int
}

// PostgresBinDir returns the directory of the newest installed PostgreSQL
// server binaries (/usr/lib/postgresql/<version>/bin on Debian), or an
// error saying PostgreSQL is not installed.
func PostgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("postgresql is not installed (no /usr/lib/postgresql/*/bin/initdb; apt-get install postgresql)")
	}
	sort.Slice(ok, func(i, j int) bool { return pgVersion(ok[i]) < pgVersion(ok[j]) })
	return ok[len(ok)-1], nil
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// StartPostgres starts a PostgreSQL server for t and stops it when t ends.
// It skips t (or fails it under ORGSYNC_REQUIRE_SERVERS=1) when PostgreSQL
// is not installed, and skips it under -short.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real server skipped in -short mode")
	}
	if _, err := PostgresBinDir(); err != nil {
		SkipOrFail(t, err)
	}
	p, err := NewPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// NewPostgres runs initdb into a new temp dir and starts the server; the
// caller stops it (Stop), which also removes the directory. For a server
// shared by a package's tests (TestMain); tests use StartPostgres.
//
// PostgreSQL refuses to run as root: as root, the server runs as the
// `postgres` system user the Debian package creates (or nobody).
func NewPostgres() (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "orgsync-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{User: "orgsync", Password: "pg-test-secret", Dir: dir}
	cred, err := serverCredential()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	pwfile := filepath.Join(dir, "pwfile")
	err = func() error {
		if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
			return err
		}
		for _, d := range []string{sock, data} {
			if err := os.Mkdir(d, 0o700); err != nil {
				return err
			}
		}
		if cred != nil {
			// The server user must reach its files in root's temp dir.
			if err := os.Chmod(dir, 0o711); err != nil {
				return err
			}
			for _, f := range []string{pwfile, sock, data} {
				if err := os.Chown(f, int(cred.Uid), int(cred.Gid)); err != nil {
					return err
				}
			}
		}
		initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", p.User, "--pwfile", pwfile,
			"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		initdb.Dir = dir
		if out, err := initdb.CombinedOutput(); err != nil {
			return fmt.Errorf("initdb: %w: %s", err, out)
		}
		return nil
	}()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := p.start(bin, data, sock, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("postgres refuses to run as root, and there is no postgres or nobody user to run it as")
}

func (p *Postgres) start(bin, data, sock string, cred *syscall.Credential) error {
	p.bin, p.data, p.sock, p.cred = bin, data, sock, cred
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between check and bind
		port, err := FreePort()
		if err != nil {
			return err
		}
		if lastErr = p.run(port); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

// run starts the server on port and waits until it accepts connections
// (a listening port is not enough: it answers "the database system is
// starting up" for a while).
func (p *Postgres) run(port int) error {
	p.Port, p.Addr = port, fmt.Sprintf("127.0.0.1:%d", port)
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), "-D", p.data, "-k", p.sock, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100")
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	err := waitPort(p.Addr, 30*time.Second, exited)
	if err == nil {
		err = p.waitReady(30*time.Second, exited)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("postgres: %w: %s", err, stderr.String())
	}
	p.cmd, p.exited = cmd, exited
	return nil
}

func (p *Postgres) waitReady(timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		err := exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port)).Run()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("the server exited while starting")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the server (fast shutdown: every session is dropped, as
// in a database restart or failover) and starts it again on the same port
// with the same data; down is how long it stays down.
func (p *Postgres) Restart(down time.Duration) error {
	if p.cmd == nil {
		return errors.New("postgres is not running")
	}
	p.shutdown()
	time.Sleep(down)
	return p.run(p.Port)
}

// DSN returns a URL for database db (password included: tests only).
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", p.User, p.Password, p.Addr, db)
}

// NewDatabase creates an empty database and returns its DSN.
func (p *Postgres) NewDatabase() (string, error) {
	p.mu.Lock()
	p.dbs++
	name := fmt.Sprintf("t%d", p.dbs)
	p.mu.Unlock()
	bin, err := PostgresBinDir()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", p.User, name)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("createdb %s: %w: %s", name, err, out)
	}
	return p.DSN(name), nil
}

// shutdown asks for a fast shutdown (every session dropped) and kills
// the server if it is not gone in 10 s.
func (p *Postgres) shutdown() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Stop shuts the server down (fast shutdown, then SIGKILL) and removes its
// directory. Safe to call more than once.
func (p *Postgres) Stop() {
	p.once.Do(func() {
		if p.cmd != nil && p.cmd.Process != nil {
			p.shutdown()
		}
		os.RemoveAll(p.Dir)
	})
}
