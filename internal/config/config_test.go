package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const validConfig = `sources:
  - name: hr
    type: csv
    config: {path: employees.csv}
mapping:
  key: 工号
target:
  type: wecom
  config:
    base_url: http://127.0.0.1:8960
    corp_id: ww0123456789abcdef
    secret: plain-secret
policy:
  mode: sync
  delete_after: 30d
state: {path: state.db}
`

func TestValidConfigLoadsWithDefaults(t *testing.T) {
	f, err := Parse([]byte(validConfig), "/etc/orgsync/orgsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Policy.Leavers != "disable" || f.Policy.MaxDisables != "5%" || f.Policy.MaxDeletes != "20" {
		t.Fatalf("policy defaults = %+v", f.Policy)
	}
	if f.Policy.DeleteAfter.D() != 30*24*time.Hour {
		t.Fatalf("delete_after = %v", f.Policy.DeleteAfter.D())
	}
	if f.State.Path != "/etc/orgsync/state.db" {
		t.Fatalf("state path not resolved against the config dir: %s", f.State.Path)
	}
	if f.Target.Config.RootDepartmentID != 1 || f.Sources[0].Line != 2 {
		t.Fatalf("root %d line %d", f.Target.Config.RootDepartmentID, f.Sources[0].Line)
	}
}

func TestBadConfigsReportEveryProblemWithItsLine(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		wantAll []string
	}{
		{name: "unknown key is rejected", edit: func(s string) string { return strings.Replace(s, "  mode: sync", "  mode: sync\n  modes: x", 1) },
			wantAll: []string{"orgsync.yaml:15: policy.modes: unknown key; did you mean mode?"}},
		{name: "mode must be known", edit: func(s string) string { return strings.Replace(s, "mode: sync", "mode: syncc", 1) },
			wantAll: []string{`orgsync.yaml:14: policy.mode: "syncc" is not one of sync, upsert-only, create-only`}},
		{name: "secret and secret_file together", edit: func(s string) string {
			return strings.Replace(s, "secret: plain-secret", "secret: plain-secret\n    secret_file: /x", 1)
		}, wantAll: []string{"target.config.secret: set secret or secret_file, not both"}},
		{name: "no secret at all", edit: func(s string) string { return strings.Replace(s, "    secret: plain-secret\n", "", 1) },
			wantAll: []string{"set secret_file (or secret: ${ENV_VAR}) to the Contacts-Sync secret"}},
		{name: "several problems are reported together", edit: func(s string) string {
			s = strings.Replace(s, "mode: sync", "mode: x\n  leavers: vanish\n  max_disables: lots\n  adopt: [phone]", 1)
			return strings.Replace(s, "corp_id: ww0123456789abcdef", "corp_id: \"\"", 1)
		}, wantAll: []string{"5 problems", "policy.mode", `policy.leavers: "vanish"`, `policy.max_disables: "lots"`, `policy.adopt: "phone"`, "target.config.corp_id: required"}},
		{name: "duplicate source names", edit: func(s string) string {
			return strings.Replace(s, "mapping:", "  - name: hr\n    type: ldap\nmapping:", 1)
		}, wantAll: []string{`orgsync.yaml:5: sources.1.name: source name "hr" is used twice`}},
		{name: "bad duration names the line", edit: func(s string) string { return strings.Replace(s, "30d", "a month", 1) },
			wantAll: []string{`orgsync.yaml:15: policy.delete_after: "a month" is not a duration`}},
		{name: "base_url must be http(s)", edit: func(s string) string { return strings.Replace(s, "http://127.0.0.1:8960", "qyapi.weixin.qq.com", 1) },
			wantAll: []string{`target.config.base_url: "qyapi.weixin.qq.com" is not an http(s) URL`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.edit(validConfig)), "/etc/orgsync/orgsync.yaml")
			if err == nil {
				t.Fatal("bad config accepted")
			}
			msg := err.Error()
			matchedCount := false
			for _, w := range tt.wantAll {
				if strings.HasSuffix(w, "problems") {
					matchedCount = matchedCount || strings.Contains(msg, w)
					continue
				}
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			for _, w := range tt.wantAll {
				if strings.HasSuffix(w, "problems") && !matchedCount {
					t.Errorf("error does not count the problems:\n%s", msg)
					break
				}
			}
		})
	}
}

func TestSecretFromEnvironmentAndFile(t *testing.T) {
	t.Setenv("ORGSYNC_TEST_SECRET", "from-env")
	f, err := Parse([]byte(strings.Replace(validConfig, "plain-secret", "${ORGSYNC_TEST_SECRET}", 1)), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := f.WeComSecret(); s.Reveal() != "from-env" {
		t.Fatalf("secret = %q", s.Reveal())
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wecom.secret"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	f, err = Parse([]byte(strings.Replace(validConfig, "secret: plain-secret", "secret_file: $CREDENTIALS_DIRECTORY/wecom.secret", 1)), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := f.WeComSecret(); err != nil || s.Reveal() != "from-file" {
		t.Fatalf("secret = %q, %v", s.Reveal(), err)
	}
}

func TestStatePathDirectory(t *testing.T) {
	dir := t.TempDir()
	withState := func(p string) string {
		return strings.Replace(validConfig, "state: {path: state.db}", "state: {path: "+p+"}", 1)
	}
	t.Run("a directory that exists is fine", func(t *testing.T) {
		f, err := Parse([]byte(withState(filepath.Join(dir, "state.db"))), filepath.Join(dir, "orgsync.yaml"))
		if err != nil || len(f.Warnings()) != 0 {
			t.Fatalf("err %v warnings %v", err, f.Warnings())
		}
	})
	t.Run("the default directory is systemd's to create", func(t *testing.T) {
		f, err := Parse([]byte(strings.Replace(validConfig, "state: {path: state.db}\n", "", 1)), filepath.Join(dir, "orgsync.yaml"))
		if err != nil || f.State.Path != DefaultStatePath || len(f.Warnings()) != 0 {
			t.Fatalf("err %v path %s warnings %v", err, f.State.Path, f.Warnings())
		}
	})
	t.Run("a missing directory under an existing one is a warning", func(t *testing.T) {
		p := filepath.Join(dir, "orgsnyc", "state.db")
		f, err := Parse([]byte(withState(p)), filepath.Join(dir, "orgsync.yaml"))
		want := "state.path: " + p + ": the directory " + filepath.Dir(p) + " does not exist; the state store will create it (check the path unless this is the first run)"
		if err != nil || len(f.Warnings()) != 1 || f.Warnings()[0] != want {
			t.Fatalf("err %v warnings %q\nwant %q", err, f.Warnings(), want)
		}
	})
	t.Run("a missing directory whose parent is missing too is an error with its line", func(t *testing.T) {
		p := filepath.Join(dir, "no", "such", "state.db")
		_, err := Parse([]byte(withState(p)), filepath.Join(dir, "orgsync.yaml"))
		want := "orgsync.yaml:16: state.path: " + p + ": the directory " + filepath.Dir(p) + " does not exist, nor does its parent " +
			filepath.Join(dir, "no") + ": create it (mkdir -p " + filepath.Dir(p) + ") or fix the path"
		if err == nil || err.Error() != want {
			t.Fatalf("err %v\nwant %s", err, want)
		}
	})
	t.Run("a file where the directory should be is an error", func(t *testing.T) {
		file := filepath.Join(dir, "afile")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Parse([]byte(withState(filepath.Join(file, "state.db"))), filepath.Join(dir, "orgsync.yaml"))
		if err == nil || !strings.Contains(err.Error(), file+" is not a directory") {
			t.Fatalf("err %v", err)
		}
	})
}
