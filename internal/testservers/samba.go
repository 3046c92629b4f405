package testservers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// SambaDC is a Samba Active Directory domain controller provisioned into a
// temp dir and listening on 127.0.0.1:389 and :636. Those ports are fixed,
// so only one can run per machine: start it once per test binary (TestMain)
// and keep every test that uses it in one package, serialised.
type SambaDC struct {
	Dir           string
	Realm         string // CORP.EXAMPLE.TEST
	BaseDN        string // DC=corp,DC=example,DC=test
	AdminDN       string
	AdminUPN      string // Administrator@corp.example.test
	AdminPassword string
	// CAFile is the PEM of the test CA that signed the DC's LDAPS
	// certificate (SANs: DNS:dc.corp.example.test, IP:127.0.0.1).
	CAFile   string
	LDAPSURL string // ldaps://127.0.0.1:636
	LDAPURL  string // ldap://127.0.0.1:389 (simple binds allowed)

	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

const (
	sambaRealm    = "CORP.EXAMPLE.TEST"
	sambaAdminPW  = "Passw0rd!Admin"
	sambaLDAPAddr = "127.0.0.1:389"
	sambaTLSAddr  = "127.0.0.1:636"
)

// sambaPidFile records the DC this package started (pid and dir), so that a
// later run can kill a DC left behind by a crashed test binary (one that
// escaped Pdeathsig, e.g. a helper that reparented), and only that one.
var sambaPidFile = filepath.Join(os.TempDir(), "orgsync-testservers-samba.pid")

// SambaUsable reports why a Samba DC cannot be started here (nil: it can).
func SambaUsable() error {
	if err := LookBins("samba", "samba-tool"); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("samba AD DC needs root")
	}
	return nil
}

// StartSambaDC provisions a domain into dir (which must exist and be
// empty), installs a test CA and LDAPS certificate, starts samba in the
// foreground and waits for LDAP and LDAPS to answer. Call Stop when done,
// also on failure paths (TestMain).
func StartSambaDC(dir string) (*SambaDC, error) {
	if err := SambaUsable(); err != nil {
		return nil, err
	}
	if err := clearLeftoverSamba(); err != nil {
		return nil, err
	}
	s := &SambaDC{
		Dir:           dir,
		Realm:         sambaRealm,
		BaseDN:        "DC=corp,DC=example,DC=test",
		AdminDN:       "CN=Administrator,CN=Users,DC=corp,DC=example,DC=test",
		AdminUPN:      "Administrator@corp.example.test",
		AdminPassword: sambaAdminPW,
		LDAPSURL:      "ldaps://127.0.0.1:636",
		LDAPURL:       "ldap://127.0.0.1:389",
		exited:        make(chan struct{}),
		log:           &bytes.Buffer{},
	}
	tool, _ := LookPath("samba-tool")
	prov := exec.Command(tool, "domain", "provision", "--targetdir="+dir, "--realm="+sambaRealm,
		"--domain=CORP", "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307",
		"--adminpass="+sambaAdminPW, "--host-ip=127.0.0.1",
		"--option=interfaces=lo", "--option=bind interfaces only=yes")
	if out, err := prov.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("samba-tool domain provision: %w: %s", err, tail(out))
	}
	tlsDir := filepath.Join(dir, "testtls")
	if err := writeTestPKI(tlsDir); err != nil {
		return nil, err
	}
	s.CAFile = filepath.Join(tlsDir, "ca.pem")
	conf := filepath.Join(dir, "etc", "smb.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		return nil, err
	}
	// Only the LDAP server is needed; the other services slow start-up and
	// some want more of the machine than a test should touch.
	extra := strings.Join([]string{
		"[global]",
		"\tserver services = ldap",
		"\tldap server require strong auth = no",
		"\ttls enabled = yes",
		"\ttls keyfile = " + filepath.Join(tlsDir, "key.pem"),
		"\ttls certfile = " + filepath.Join(tlsDir, "cert.pem"),
		"\ttls cafile = " + s.CAFile,
		"\tlog file = " + filepath.Join(dir, "log.%m"),
		"",
	}, "\n")
	text := strings.Replace(string(b), "[global]\n", extra, 1)
	text = strings.Replace(text, "\tserver services = s3fs, rpc, nbt, wrepl, ldap, cldap, kdc, drepl, winbindd, ntp_signd, kcc, dnsupdate\n", "", 1)
	text = strings.Replace(text, "\tlog file = /var/log/samba/log.%m\n", "", 1)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}

	bin, _ := LookPath("samba")
	cmd := exec.Command(bin, "-s", conf, "-i", "-M", "single")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Own process group so Stop can kill helpers too; die with the test
	// binary so a crashed run leaves nothing listening.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start samba: %w", err)
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); close(s.exited) }()
	_ = os.WriteFile(sambaPidFile, []byte(fmt.Sprintf("%d\n%s\n", cmd.Process.Pid, dir)), 0o600)
	for _, addr := range []string{sambaTLSAddr, sambaLDAPAddr} {
		if err := waitPort(addr, 60*time.Second, s.exited); err != nil {
			s.Stop()
			return nil, fmt.Errorf("samba: %w: %s", err, tail(s.log.Bytes()))
		}
	}
	// The port opens before the directory answers binds; wait for one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := s.Dial()
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("samba LDAPS bind: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Dial opens an LDAPS connection verified against CAFile and binds as
// Administrator.
func (s *SambaDC) Dial() (*goldap.Conn, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := goldap.DialURL(s.LDAPSURL, goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, err
	}
	if err := c.Bind(s.AdminUPN, s.AdminPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Stop kills the DC's process group and waits for it to exit.
func (s *SambaDC) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	_ = os.Remove(sambaPidFile)
	s.cmd = nil
}

// clearLeftoverSamba kills a DC that an earlier, crashed run of these
// helpers left on :389 (known by the pid file and its command line naming
// the recorded dir), then waits for the ports to free. Anything else on the
// ports is an error: it is not ours to kill.
func clearLeftoverSamba() error {
	if !portOpen(sambaLDAPAddr) && !portOpen(sambaTLSAddr) {
		return nil
	}
	b, err := os.ReadFile(sambaPidFile)
	if err != nil {
		return fmt.Errorf("port 389 is in use by a process these helpers did not start")
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.Atoi(lines[0])
	if err != nil || len(lines) < 2 || pid <= 1 {
		return fmt.Errorf("port 389 is in use and %s is malformed", sambaPidFile)
	}
	if !ownedSamba(pid, lines[1]) {
		return fmt.Errorf("port 389 is in use by a process these helpers did not start (pid file names %d)", pid)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for portOpen(sambaLDAPAddr) || portOpen(sambaTLSAddr) {
		if time.Now().After(deadline) {
			return errors.New("a leftover samba still holds port 389 after being killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = os.Remove(sambaPidFile)
	// The crashed run could not remove its provisioning dir either.
	if filepath.Dir(lines[1]) == filepath.Clean(os.TempDir()) && strings.HasPrefix(filepath.Base(lines[1]), "orgsync-samba-") {
		_ = os.RemoveAll(lines[1])
	}
	return nil
}

// ownedSamba reports whether pid is a samba process working on dir: its
// comm is "samba" and it holds a file under dir open. (Samba rewrites its
// command line into "samba: root process", so that cannot tell.)
func ownedSamba(pid int, dir string) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "samba" || dir == "" {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil &&
			strings.HasPrefix(target, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	return false
}

// writeTestPKI writes ca.pem, cert.pem and key.pem (mode 0600, as samba
// insists) into dir: a throwaway CA and a server certificate for
// dc.corp.example.test and 127.0.0.1.
func writeTestPKI(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "orgsync test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "dc.corp.example.test"},
		DNSNames:     []string{"dc.corp.example.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := []struct {
		name, typ string
		der       []byte
	}{{"ca.pem", "CERTIFICATE", caDER}, {"cert.pem", "CERTIFICATE", der}, {"key.pem", "PRIVATE KEY", keyDER}}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
