package testservers

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Slapd is a throwaway OpenLDAP server on 127.0.0.1 with one mdb database.
//
// The tree has the suffix entry, ou=people and ou=services; the service
// account ServiceDN/ServicePassword can read everything (but not passwords),
// the way a production reader account binds. RootDN/RootPassword is the
// database's rootdn.
type Slapd struct {
	URL             string // ldap://127.0.0.1:PORT
	Addr            string // 127.0.0.1:PORT
	Suffix          string
	RootDN          string
	RootPassword    string
	ServiceDN       string
	ServicePassword string
	Dir             string
	Config          string // path of slapd.conf

	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// SlapdOptions configures StartSlapd.
type SlapdOptions struct {
	// Suffix of the database; default "dc=example,dc=test".
	Suffix string
	// Seed is LDIF added offline with slapadd after the base entries
	// (suffix, ou=people, ou=services, the service account).
	Seed string
	// SizeLimit, when > 0, caps how many entries the service account may
	// read in one search, paged or not (slapd `limits`), so that a read
	// fails partway with sizeLimitExceeded.
	SizeLimit int
}

const slapdConf = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {{dir}}/slapd.pid
argsfile {{dir}}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
sizelimit unlimited
database mdb
maxsize 1073741824
suffix "{{suffix}}"
rootdn "{{rootdn}}"
rootpw {{rootpw}}
directory {{dir}}/db
{{limits}}
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by dn.exact="{{servicedn}}" read
  by * none
`

// StartSlapd writes a slapd.conf under a temp dir, seeds the database with
// slapadd, starts slapd on a free loopback port and stops it when t ends.
func StartSlapd(t testing.TB, opt SlapdOptions) *Slapd {
	t.Helper()
	Need(t, "slapd", "slapadd")
	s, err := startSlapd(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func startSlapd(dir string, opt SlapdOptions) (*Slapd, error) {
	if opt.Suffix == "" {
		opt.Suffix = "dc=example,dc=test"
	}
	s := &Slapd{
		Suffix:          opt.Suffix,
		RootDN:          "cn=admin," + opt.Suffix,
		RootPassword:    "root-secret",
		ServiceDN:       "cn=orgsync-reader,ou=services," + opt.Suffix,
		ServicePassword: "reader-secret",
		Dir:             dir,
		Config:          filepath.Join(dir, "slapd.conf"),
		exited:          make(chan struct{}),
	}
	limits := ""
	if opt.SizeLimit > 0 {
		// size.prtotal caps the sum over all pages of a paged search.
		limits = fmt.Sprintf(`limits dn.exact="%s" size.soft=%d size.hard=%d size.prtotal=%d`,
			s.ServiceDN, opt.SizeLimit, opt.SizeLimit, opt.SizeLimit)
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{suffix}}", s.Suffix, "{{rootdn}}", s.RootDN,
		"{{rootpw}}", s.RootPassword, "{{servicedn}}", s.ServiceDN, "{{limits}}", limits).Replace(slapdConf)
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.Config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	dc := strings.TrimPrefix(strings.SplitN(s.Suffix, ",", 2)[0], "dc=")
	base := fmt.Sprintf(`dn: %s
objectClass: dcObject
objectClass: organization
o: %s
dc: %s

dn: ou=people,%s
objectClass: organizationalUnit
ou: people

dn: ou=services,%s
objectClass: organizationalUnit
ou: services

dn: %s
objectClass: person
objectClass: simpleSecurityObject
cn: orgsync-reader
sn: reader
userPassword: %s

`, s.Suffix, dc, dc, s.Suffix, s.Suffix, s.ServiceDN, s.ServicePassword)
	seed := filepath.Join(dir, "seed.ldif")
	if err := os.WriteFile(seed, []byte(base+opt.Seed), 0o600); err != nil {
		return nil, err
	}
	slapadd, err := LookPath("slapadd")
	if err != nil {
		return nil, fmt.Errorf("slapadd: %w", err)
	}
	// -q: quick mode (no consistency checks), fine for a throwaway database.
	if out, err := exec.Command(slapadd, "-q", "-f", s.Config, "-l", seed).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slapadd: %w: %s", err, out)
	}
	return s, s.Start()
}

// Start (re)starts slapd on a new free port; StartSlapd calls it. Use it
// after Kill to bring the same database back.
func (s *Slapd) Start() error {
	slapd, err := LookPath("slapd")
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between check and bind
		port, err := FreePort()
		if err != nil {
			return err
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		s.URL = "ldap://" + s.Addr
		var stderr bytes.Buffer
		// -d 0 keeps slapd in the foreground so that it dies with us and we
		// own its PID.
		cmd := exec.Command(slapd, "-f", s.Config, "-h", s.URL+"/", "-d", "0")
		cmd.Stderr = &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start slapd: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if err := waitPort(s.Addr, 10*time.Second, exited); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("slapd: %w: %s", err, stderr.String())
			continue
		}
		s.cmd, s.exited, s.once = cmd, exited, sync.Once{}
		return nil
	}
	return lastErr
}

// Kill kills slapd with SIGKILL (a crash, not a clean shutdown) and waits
// for it to die. Safe to call more than once.
func (s *Slapd) Kill() {
	s.once.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Stop stops slapd (it holds nothing worth a clean shutdown).
func (s *Slapd) Stop() { s.Kill() }
