package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/testservers"
)

func TestSystemdHADropIn(t *testing.T) {
	dropin := read(t, "systemd/ha.conf")
	t.Run("hands the DSN to the daemon as a credential", func(t *testing.T) {
		if !strings.Contains(dropin, "\n[Service]\nLoadCredential=pg-dsn:/etc/orgsync/pg-dsn\n") {
			t.Fatalf("drop-in:\n%s", dropin)
		}
		if !strings.Contains(read(t, "nfpm/nfpm.yaml"), "src: ./deploy/systemd/ha.conf") {
			t.Error("the package does not ship the drop-in")
		}
	})
	t.Run("passes systemd-analyze verify on top of the unit", func(t *testing.T) {
		analyze := testservers.NeedTool(t, "systemd-analyze")
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "orgsync.service.d"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "orgsync.service"), []byte(strings.ReplaceAll(read(t, "systemd/orgsync.service"), "/usr/bin/orgsync", bin)), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "orgsync.service.d", "50-ha.conf"), []byte(dropin), 0o644))
		// Drop-ins are read from the unit search path: put dir first.
		cmd := exec.Command(analyze, "verify", "orgsync.service")
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
		out, err := cmd.CombinedOutput()
		var complaints []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "orgsync.service") || strings.Contains(l, "50-ha.conf") {
				complaints = append(complaints, l)
			}
		}
		if err != nil || len(complaints) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
	t.Run("the README's HA config passes daemon --check with the unit's credentials", func(t *testing.T) {
		frag := readmeHAConfig(t)
		// The README shows the blocks that differ from a single host:
		// put them in place of the example config's state block.
		base := read(t, "orgsync.yaml")
		st := regexp.MustCompile(`(?m)^state:\n(?:[ #].*\n|\n)*?(?:^\S)`).FindStringIndex(base)
		if st == nil {
			t.Fatal("no state: block in orgsync.yaml")
		}
		cfg := base[:st[0]] + frag + "\n" + base[st[1]-1:]
		creds := t.TempDir()
		for _, n := range []string{"wecom-secret", "pg-dsn"} {
			must(t, os.WriteFile(filepath.Join(creds, n), []byte("value\n"), 0o600))
		}
		path := filepath.Join(t.TempDir(), "orgsync.yaml")
		must(t, os.WriteFile(path, []byte(cfg), 0o644))
		cmd := exec.Command(bin, "daemon", "--check", "-c", path)
		cmd.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY="+creds)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("daemon --check: %v\n%s\nconfig:\n%s", err, out, cfg)
		}
		t.Setenv("CREDENTIALS_DIRECTORY", creds)
		f, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !f.HA.Enabled || f.HA.Name == "" || f.HA.AdvertiseURL == "" {
			t.Errorf("ha = %+v: each host of the pair names itself and its URL", f.HA)
		}
		if f.State.DSNFile != filepath.Join(creds, "pg-dsn") {
			t.Errorf("state.dsn_file = %s, not the drop-in's pg-dsn credential", f.State.DSNFile)
		}
	})
}

// readmeHAConfig is the YAML block the README's "High availability"
// section gives for a host of the systemd pair (the one with ha:).
func readmeHAConfig(t *testing.T) string {
	t.Helper()
	readme := read(t, "../README.md")
	i := strings.Index(readme, "\n### High availability\n")
	if i < 0 {
		t.Fatal(`README.md has no "### High availability" section`)
	}
	sec := readme[i+1:]
	if j := strings.Index(sec[4:], "\n## "); j >= 0 {
		sec = sec[:j+4]
	}
	if j := strings.Index(sec[4:], "\n### "); j >= 0 {
		sec = sec[:j+4]
	}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		if strings.Contains(m[1], "\nha:\n") && strings.Contains(m[1], "$CREDENTIALS_DIRECTORY/pg-dsn") {
			return m[1]
		}
	}
	t.Fatal("the High availability section has no yaml block with ha: and dsn_file: $CREDENTIALS_DIRECTORY/pg-dsn")
	return ""
}
