// Package deploy holds no Go code: these tests keep the deployment files
// (systemd unit, example config, nfpm package, Dockerfile, Kubernetes
// examples) correct against the binary they deploy.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/internal/testservers"
)

var bin string // the orgsync binary, built once

func TestMain(m *testing.M) {
	os.Exit(testservers.RunWithOrgsync(m.Run, &bin))
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSystemdUnit(t *testing.T) {
	unit := read(t, "systemd/orgsync.service")
	t.Run("has the service type, watchdog, credentials and hardening the daemon relies on", func(t *testing.T) {
		for _, want := range []string{
			"Type=notify", "ExecStart=/usr/bin/orgsync daemon -c /etc/orgsync/orgsync.yaml", "ExecReload=/bin/kill -HUP $MAINPID",
			"WatchdogSec=", "DynamicUser=yes", "StateDirectory=orgsync", "ProtectSystem=strict", "NoNewPrivileges=yes",
			"LoadCredential=wecom-secret:", "#LoadCredential=ldap-password:", "RestartPreventExitStatus=2",
			"SystemCallErrorNumber=EPERM", "PrivateUsers=yes", "PrivateMounts=yes", "SupplementaryGroups=orgsync",
		} {
			if !strings.Contains(unit, want) {
				t.Errorf("the unit lacks %q", want)
			}
		}
	})
	t.Run("keeps TimeoutStopSec above the daemon's shutdown timeout", func(t *testing.T) {
		m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)s$`).FindStringSubmatch(unit)
		if m == nil {
			t.Fatal("no TimeoutStopSec=Ns")
		}
		var secs int
		fmt.Sscan(m[1], &secs)
		if secs <= 30 {
			t.Fatalf("TimeoutStopSec=%ds is not above the 30s shutdown timeout", secs)
		}
	})
	t.Run("says what 'orgsync daemon --help' says about the watchdog", func(t *testing.T) {
		m := regexp.MustCompile(`(?m)^WatchdogSec=(\S+)$`).FindStringSubmatch(unit)
		if m == nil {
			t.Fatal("no WatchdogSec=")
		}
		help := run(t, bin, "daemon", "--help")
		if !strings.Contains(help, "WatchdogSec="+m[1]+"\n") {
			t.Fatalf("the unit has WatchdogSec=%s; the help says otherwise:\n%s", m[1], help)
		}
		for _, l := range regexp.MustCompile(`(?m)^\s+(TimeoutStopSec|ExecReload|Type)=.*$`).FindAllString(help, -1) {
			if !strings.Contains(unit, strings.TrimSpace(l)+"\n") {
				t.Errorf("the help's %q is not in the unit", strings.TrimSpace(l))
			}
		}
	})
	t.Run("the notify-reload drop-in turns reload into a waited-for job", func(t *testing.T) {
		d := read(t, "systemd/notify-reload.conf")
		if !strings.Contains(d, "Type=notify-reload\n") || !strings.Contains(d, "ExecReload=\n") {
			t.Fatalf("drop-in:\n%s", d)
		}
		if !strings.Contains(read(t, "nfpm/postinstall.sh"), "-ge 253") {
			t.Fatal("postinstall does not install the drop-in on systemd 253+")
		}
	})
	t.Run("systemd-analyze security rates its exposure 1.5 or lower", func(t *testing.T) {
		analyze := testservers.NeedTool(t, "systemd-analyze")
		path := filepath.Join(t.TempDir(), "orgsync.service")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/orgsync", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for orgsync.service: (\d+\.\d)`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("systemd-analyze security: %v\n%s", err, out)
		}
		var level float64
		fmt.Sscan(m[1], &level)
		if level > 1.5 {
			t.Fatalf("exposure %.1f > 1.5:\n%s", level, out)
		}
		t.Logf("exposure %.1f", level)
	})
	t.Run("passes systemd-analyze verify", func(t *testing.T) {
		analyze := testservers.NeedTool(t, "systemd-analyze")
		dir := t.TempDir()
		// verify checks that ExecStart's binary exists: point it at the
		// one just built.
		path := filepath.Join(dir, "orgsync.service")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/orgsync", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(analyze, "verify", path)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		// verify exits 0 on unknown keys and bad values, only warning:
		// any line about our unit is a failure.
		var complaints []string
		for _, l := range strings.Split(string(out)+stderr.String(), "\n") {
			if strings.Contains(l, "orgsync.service") {
				complaints = append(complaints, l)
			}
		}
		if err != nil || len(complaints) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, strings.Join(complaints, "\n"))
		}
	})
}

func TestExampleConfigValidatesOffline(t *testing.T) {
	for _, args := range [][]string{
		{"validate", "--offline", "-c", "orgsync.yaml"},
		{"daemon", "--check", "-c", "orgsync.yaml"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out := run(t, bin, args...)
			if !strings.Contains(out, "ok") {
				t.Fatalf("output: %s", out)
			}
		})
	}
	t.Run("daemon --check catches a bad schedule the example could be edited into", func(t *testing.T) {
		bad := strings.Replace(read(t, "orgsync.yaml"), `cron: "CRON_TZ=Asia/Shanghai 0 2 * * *"`, `cron: "at two"`, 1)
		path := filepath.Join(t.TempDir(), "orgsync.yaml")
		os.WriteFile(path, []byte(bad), 0o644)
		out, err := exec.Command(bin, "daemon", "--check", "-c", path).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), `schedule.cron: "at two"`) {
			t.Fatalf("got %v: %s", err, out)
		}
	})
}

// docs splits a multi-document YAML file.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(read(t, path)))
	var out []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, d)
	}
}

func dig(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func TestKubernetesExamples(t *testing.T) {
	byKind := map[string]map[string]any{}
	for _, f := range []string{"kubernetes/deployment.yaml", "kubernetes/cronjob.yaml"} {
		for _, d := range docs(t, f) {
			byKind[fmt.Sprint(d["kind"])] = d
		}
	}
	for _, k := range []string{"ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "CronJob"} {
		if byKind[k] == nil {
			t.Fatalf("no %s in the examples", k)
		}
	}
	t.Run("the ConfigMap's config passes daemon --check", func(t *testing.T) {
		cfg := fmt.Sprint(dig(byKind["ConfigMap"], "data", "orgsync.yaml"))
		dir := t.TempDir()
		// the Secret's files, as the pod would see them
		os.WriteFile(filepath.Join(dir, "api-token"), []byte("token\n"), 0o600)
		cfg = strings.ReplaceAll(cfg, "/run/secrets/orgsync", dir)
		path := filepath.Join(dir, "orgsync.yaml")
		os.WriteFile(path, []byte(cfg), 0o644)
		if out := run(t, bin, "daemon", "--check", "-c", path); !strings.Contains(out, "listen 0.0.0.0:9469") {
			t.Fatalf("output: %s", out)
		}
	})
	t.Run("runs exactly one daemon, probed on the daemon's endpoints", func(t *testing.T) {
		d := byKind["Deployment"]
		c := dig(d, "spec", "template", "spec", "containers", 0)
		for _, tc := range []struct {
			what string
			got  any
			want string
		}{
			{"replicas", dig(d, "spec", "replicas"), "1"},
			{"strategy", dig(d, "spec", "strategy", "type"), "Recreate"},
			{"liveness", dig(c, "livenessProbe", "httpGet", "path"), "/healthz"},
			{"readiness", dig(c, "readinessProbe", "httpGet", "path"), "/readyz"},
			{"non-root", dig(d, "spec", "template", "spec", "securityContext", "runAsNonRoot"), "true"},
			{"state mount", dig(c, "volumeMounts", 2, "mountPath"), "/var/lib/orgsync"},
		} {
			if fmt.Sprint(tc.got) != tc.want {
				t.Errorf("%s = %v, want %s", tc.what, tc.got, tc.want)
			}
		}
	})
	t.Run("the CronJob never overlaps and calls sync", func(t *testing.T) {
		cj := byKind["CronJob"]
		if fmt.Sprint(dig(cj, "spec", "concurrencyPolicy")) != "Forbid" {
			t.Error("concurrencyPolicy is not Forbid")
		}
		if args := fmt.Sprint(dig(cj, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "args")); !strings.HasPrefix(args, "[sync -c /etc/orgsync/orgsync.yaml") {
			t.Errorf("args = %s", args)
		}
	})
}

func TestDockerfile(t *testing.T) {
	df := read(t, "docker/Dockerfile")
	gomod := read(t, "../go.mod")
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	for _, tc := range []struct{ name, re string }{
		{"builds with the Go release go.mod needs", `(?m)^FROM golang:` + regexp.QuoteMeta(m[1]) + ` AS build$`},
		{"builds a static binary of the command", `CGO_ENABLED=0 go build .*\n?.*-o /out/orgsync \./cmd/orgsync`},
		{"embeds the time zone database for CRON_TZ", `-tags timetzdata`},
		{"runs as a non-root user", `(?m)^USER [1-9][0-9]*:[1-9][0-9]*$`},
		{"starts the daemon by default", `(?m)^CMD \["daemon", "-c", "/etc/orgsync/orgsync.yaml"\]$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !regexp.MustCompile(tc.re).MatchString(df) {
				t.Fatalf("the Dockerfile does not match %s", tc.re)
			}
		})
	}
	if _, err := os.Stat("../cmd/orgsync"); err != nil {
		t.Fatal(err)
	}
}

// TestPackageInstalls builds the .deb and .rpm with nfpm, installs the
// .deb with dpkg, validates the installed example config with the
// installed binary, and removes the package. It changes the machine, so it
// runs only as root and when asked: ORGSYNC_REQUIRE_SERVERS=1 (CI) or
// ORGSYNC_TEST_PACKAGE=1.
func TestPackageInstalls(t *testing.T) {
	if !testservers.Required() && os.Getenv("ORGSYNC_TEST_PACKAGE") != "1" {
		t.Skip("installs a package: set ORGSYNC_TEST_PACKAGE=1 (as root) to run")
	}
	if os.Geteuid() != 0 {
		t.Skip("dpkg -i needs root")
	}
	dpkg := testservers.NeedTool(t, "dpkg")
	if exec.Command("dpkg", "-s", "orgsync").Run() == nil {
		t.Skip("an orgsync package is already installed on this machine; not touching it")
	}
	mk := read(t, "../Makefile")
	m := regexp.MustCompile(`(?m)^NFPM_VERSION\s*\?=\s*(\S+)`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("no NFPM_VERSION in the Makefile")
	}
	// nfpm reads ./bin/orgsync, ./dist/docs and ./deploy/... relative to
	// its working directory: lay them out in a scratch tree as `make
	// package` does.
	root := t.TempDir()
	copyTree(t, ".", filepath.Join(root, "deploy"))
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	b, _ := os.ReadFile(bin)
	must(t, os.WriteFile(filepath.Join(root, "bin/orgsync"), b, 0o755))
	docs := filepath.Join(root, "dist/docs")
	run(t, bin, "gen-docs", "--out", docs)
	pages, _ := filepath.Glob(filepath.Join(docs, "man/man1/*.1"))
	run(t, "gzip", append([]string{"-9nf"}, pages...)...)
	cl, err := exec.Command("gzip", "-9nc", "nfpm/changelog").Output()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(docs, "changelog.gz"), cl, 0o644))
	for _, format := range []string{"deb", "rpm"} {
		cmd := exec.Command("go", "run", "github.com/goreleaser/nfpm/v2/cmd/nfpm@"+m[1], "package", "-f", "deploy/nfpm/nfpm.yaml", "-p", format, "-t", root)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PKG_VERSION=0.0.0~git20261202030000.abc1234", "PKG_ARCH="+runtimeArch(t))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nfpm %s: %v\n%s", format, err, out)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(root, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(root, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("packages: %v %v", debs, rpms)
	}
	contents := run(t, "dpkg-deb", "-c", debs[0])
	for _, want := range []string{"./usr/bin/orgsync", "./usr/lib/systemd/system/orgsync.service", "./etc/orgsync/orgsync.yaml", "./var/lib/orgsync/",
		"./usr/share/man/man1/orgsync.1.gz", "./usr/share/man/man1/orgsync-sync.1.gz", "./usr/share/bash-completion/completions/orgsync",
		"./usr/share/zsh/vendor-completions/_orgsync", "./usr/share/fish/vendor_completions.d/orgsync.fish",
		"./usr/share/doc/orgsync/copyright", "./usr/share/doc/orgsync/changelog.gz", "./usr/share/doc/orgsync/README.Debian",
		"./usr/share/doc/orgsync/monitoring/orgsync.rules.yml", "./usr/share/doc/orgsync/monitoring/grafana-dashboard.json",
		"./usr/share/orgsync/notify-reload.conf", "./usr/share/doc/orgsync/examples/ha.conf"} {
		if !strings.Contains(contents, want) {
			t.Errorf("the .deb lacks %s:\n%s", want, contents)
		}
	}
	if name := run(t, "dpkg-deb", "-f", debs[0], "Package"); strings.TrimSpace(name) != "orgsync" {
		t.Errorf("package name %q", name)
	}
	if deps := run(t, "dpkg-deb", "-f", debs[0], "Depends"); !strings.Contains(deps, "tzdata") {
		t.Errorf("Depends: %q lacks tzdata (CRON_TZ needs it)", deps)
	}
	info := run(t, "dpkg-deb", "-I", debs[0], "conffiles")
	if strings.TrimSpace(info) != "/etc/orgsync/orgsync.yaml" {
		t.Errorf("conffiles = %q", info)
	}

	run(t, dpkg, "-i", debs[0])
	t.Cleanup(func() { _ = exec.Command(dpkg, "--purge", "orgsync").Run() })
	out := run(t, "/usr/bin/orgsync", "validate", "--offline", "-c", "/etc/orgsync/orgsync.yaml")
	if !strings.Contains(out, "ok") {
		t.Fatalf("validate: %s", out)
	}
	run(t, "/usr/bin/orgsync", "daemon", "--check", "-c", "/etc/orgsync/orgsync.yaml")
	if fi, err := os.Stat("/var/lib/orgsync"); err != nil || !fi.IsDir() {
		t.Fatalf("state dir: %v", err)
	}
	if out := run(t, "/usr/bin/orgsync", "version"); !strings.Contains(out, "orgsync ") {
		t.Fatalf("version: %s", out)
	}
	if out := run(t, "man", "-l", "-Tutf8", "/usr/share/man/man1/orgsync-sync.1.gz"); !strings.Contains(out, "allow-destructive") {
		t.Errorf("the sync man page does not render: %s", out)
	}
	t.Run("HR exports reach the daemon through the orgsync group's inbox", func(t *testing.T) { inboxDelivery(t) })
	const dropin = "/etc/systemd/system/orgsync.service.d/50-notify-reload.conf"
	t.Run("Type=notify-reload only where systemd has it (253+)", func(t *testing.T) {
		v := regexp.MustCompile(`^systemd (\d+)`).FindStringSubmatch(run(t, "systemd-analyze", "--version"))
		if n, _ := strconv.Atoi(v[1]); n < 253 {
			if _, err := os.Stat(dropin); !os.IsNotExist(err) {
				t.Fatalf("systemd %s got the notify-reload drop-in: %v", v[1], err)
			}
		}
		fake := t.TempDir()
		must(t, os.WriteFile(filepath.Join(fake, "systemctl"), []byte("#!/bin/sh\n[ \"$1\" = --version ] && echo 'systemd 256 (256.7-1)'\nexit 0\n"), 0o755))
		cmd := exec.Command("sh", "/var/lib/dpkg/info/orgsync.postinst", "configure", "0.0.0~git1")
		cmd.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postinst: %v\n%s", err, out)
		}
		if got := read(t, dropin); got != read(t, "systemd/notify-reload.conf") {
			t.Fatalf("drop-in on systemd 256:\n%s", got)
		}
	})
	run(t, dpkg, "-r", "orgsync")
	if _, err := os.Stat("/usr/bin/orgsync"); !os.IsNotExist(err) {
		t.Fatalf("the binary is still there after dpkg -r: %v", err)
	}
	if _, err := os.Stat("/etc/orgsync/orgsync.yaml"); err != nil {
		t.Fatalf("dpkg -r removed the admin's config (a conffile stays until purge): %v", err)
	}
	run(t, dpkg, "--purge", "orgsync")
	if _, err := os.Stat("/etc/orgsync/orgsync.yaml"); !os.IsNotExist(err) {
		t.Fatalf("the config survived a purge: %v", err)
	}
	if _, err := os.Stat(dropin); !os.IsNotExist(err) {
		t.Fatalf("the notify-reload drop-in survived a purge: %v", err)
	}
}

func runtimeArch(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the regular files under src to dst, keeping exec bits.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	must(t, filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, fi.Mode().Perm())
	}))
}

// inboxDelivery plays the delivery the package documents: an account in the
// orgsync group drops an export in /var/spool/orgsync/inbox, and a process
// with the daemon's credentials (an unprivileged uid, supplementary group
// orgsync, as DynamicUser= and SupplementaryGroups= give it) reads it,
// while an account outside the group can neither read nor write there.
func inboxDelivery(t *testing.T) {
	const inbox = "/var/spool/orgsync/inbox"
	fi, err := os.Stat(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSetgid == 0 || fi.Mode().Perm() != 0o770 {
		t.Fatalf("%s mode %v, want setgid 0770", inbox, fi.Mode())
	}
	if out := run(t, "stat", "-c", "%U:%G", inbox); strings.TrimSpace(out) != "root:orgsync" {
		t.Fatalf("%s is %s", inbox, out)
	}
	setpriv := testservers.NeedTool(t, "setpriv")
	as := func(uid int, groups string, script string) ([]byte, error) {
		args := []string{fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid)}
		if groups != "" {
			args = append(args, "--groups="+groups)
		} else {
			args = append(args, "--clear-groups")
		}
		return exec.Command(setpriv, append(args, "sh", "-c", script)...).CombinedOutput()
	}
	gid := strings.TrimSpace(strings.Split(run(t, "getent", "group", "orgsync"), ":")[2])
	const hrdrop, daemonUID, outsider = 61801, 61802, 61803
	if out, err := as(hrdrop, gid, "umask 027; printf '工号,姓名\\nE1,张三\\n' > "+inbox+"/.employees_1.csv.part && mv "+inbox+"/.employees_1.csv.part "+inbox+"/employees_1.csv"); err != nil {
		t.Fatalf("a member of orgsync cannot deliver: %v\n%s", err, out)
	}
	t.Cleanup(func() { os.Remove(inbox + "/employees_1.csv") })
	if out, err := as(daemonUID, gid, "cat "+inbox+"/employees_1.csv"); err != nil || !strings.Contains(string(out), "E1,张三") {
		t.Fatalf("the daemon's credentials cannot read the export: %v\n%s", err, out)
	}
	if out, err := as(outsider, "", "cat "+inbox+"/employees_1.csv"); err == nil {
		t.Fatalf("an account outside the group read the export:\n%s", out)
	}
	if out, err := as(outsider, "", "touch "+inbox+"/x.csv"); err == nil {
		t.Fatalf("an account outside the group wrote to the inbox:\n%s", out)
	}
}

func TestPackageVersionsSort(t *testing.T) {
	dpkg := testservers.NeedTool(t, "dpkg")
	script, _ := filepath.Abs("nfpm/version.sh")
	repo := t.TempDir()
	git := func(date string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date,
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	version := func() string {
		t.Helper()
		cmd := exec.Command("sh", script)
		cmd.Dir = repo
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	git("", "init", "-q")
	var versions []string
	// The hashes of these commits sort against their order: the version
	// must not depend on them.
	for i, date := range []string{"2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z", "2026-12-02T09:00:00Z"} {
		git(date, "commit", "-q", "--allow-empty", "-m", fmt.Sprint(i))
		versions = append(versions, version())
	}
	git("2026-12-02T09:00:00Z", "tag", "v0.1.0")
	versions = append(versions, version())
	for i, date := range []string{"2026-12-03T09:00:00Z", "2026-12-04T09:00:00Z"} {
		git(date, "commit", "-q", "--allow-empty", "-m", fmt.Sprint("after", i))
		versions = append(versions, version())
	}
	versions = append(versions, "0.1.1")
	if !strings.HasPrefix(versions[0], "0.0.0~git20261201100000.") || versions[3] != "0.1.0" || !strings.HasPrefix(versions[4], "0.1.0+1.g") {
		t.Fatalf("versions: %v", versions)
	}
	for i := 1; i < len(versions); i++ {
		if err := exec.Command(dpkg, "--compare-versions", versions[i], "gt", versions[i-1]).Run(); err != nil {
			t.Errorf("%s does not sort after %s: an upgrade would be a downgrade", versions[i], versions[i-1])
		}
	}
}
