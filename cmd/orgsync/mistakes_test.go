package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A good config, and the mistakes admins make in it on purpose or not.
// Each case is one edit and the exact output of the command: every problem
// at once, each at its file:line, in the file's words (never a Go type).
const goodConfig = `sources:
  - name: hr
    type: csv
    config: {path: people.csv}
mapping:
  key: 工号
  user: {userid: lower(工号), name: 姓名, mobile: 手机}
target:
  config:
    base_url: http://127.0.0.1:9
    corp_id: wwmistakes
    secret: ${ORGSYNC_TEST_SECRET}
    root_department_id: 1
policy:
  max_disables: 5%
state: {path: state.db}
schedule:
  cron: '@daily'
`

func TestConfigMistakesAreReportedExactly(t *testing.T) {
	t.Setenv("ORGSYNC_TEST_SECRET", "s3cret")
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	os.Unsetenv("CREDENTIALS_DIRECTORY")
	for _, tc := range []struct {
		name     string
		from, to string
		args     []string // default: validate --offline
		code     int
		want     string
	}{
		{name: "an unknown key names the key meant", from: "  max_disables: 5%", to: "  max_disable: 5%", code: ExitUsage,
			want: "orgsync: orgsync.yaml:15: policy.max_disable: unknown key; did you mean max_disables?"},
		{name: "an unknown key with nothing close lists the known ones", from: "    root_department_id: 1", to: "    root_department_id: 1\n    department: 1", code: ExitUsage,
			want: "orgsync: orgsync.yaml:14: target.config.department: unknown key (known: base_url, corp_id, secret, secret_file, root_department_id, rate_per_minute, concurrency, timeout, full_reads, batch_threshold, import_leader_column, job_timeout)"},
		{name: "an unknown key in a daemon block is named with the file too", from: "  cron: '@daily'", to: "  cron: '@daily'\n  jiter: 5m", code: ExitUsage,
			want: "orgsync: orgsync.yaml:19: schedule.jiter: unknown key (known: cron, jitter, run_on_start, run_timeout); did you mean jitter?"},
		{name: "a value of the wrong type says what is wanted, in words", from: "root_department_id: 1", to: "root_department_id: sales", code: ExitUsage,
			want: "orgsync: orgsync.yaml:13: target.config.root_department_id: `sales` is not a whole number"},
		{name: "a list where one value goes", from: "  max_disables: 5%", to: "  max_disables: [5%]", code: ExitUsage,
			want: "orgsync: orgsync.yaml:15: policy.max_disables: a list is not a text value"},
		{name: "an indentation error is reported at its line, and the rest still checked", from: "    type: csv", to: "   type: csv", code: ExitUsage,
			want: "orgsync: 2 problems:\n" +
				"  orgsync.yaml:3: sources: YAML syntax: did not find expected '-' indicator (is this line indented like the keys it belongs with?); the rest of sources was not checked\n" +
				"  orgsync.yaml:15: policy.max_disables: \"lots\": want a count like 20 or a percentage like 5%",
		},
		{name: "every problem at once, in line order", from: "  max_disables: 5%", to: "  max_disables: 5%\n  mode: mirror\n  delete_after: a month", code: ExitUsage,
			want: "orgsync: 2 problems:\n" +
				"  orgsync.yaml:16: policy.mode: \"mirror\" is not one of sync, upsert-only, create-only\n" +
				"  orgsync.yaml:17: policy.delete_after: \"a month\" is not a duration (like 30s, 15m, 720h or 30d)"},
		{name: "an unset environment variable is named", from: "${ORGSYNC_TEST_SECRET}", to: "${ORGSYNC_NO_SUCH_VAR}", code: ExitUsage,
			want: "orgsync: orgsync.yaml:12: target.config.secret: ${ORGSYNC_NO_SUCH_VAR} is not set in the environment"},
		{name: "a credential outside systemd says $CREDENTIALS_DIRECTORY is unset", from: "secret: ${ORGSYNC_TEST_SECRET}", to: "secret_file: $CREDENTIALS_DIRECTORY/wecom-secret",
			args: []string{"plan"}, code: ExitUsage,
			want: "orgsync: secret file $CREDENTIALS_DIRECTORY/wecom-secret: $CREDENTIALS_DIRECTORY is not set: systemd sets it for a unit with LoadCredential=wecom-secret:FILE; " +
				"outside the unit run the command with systemd-run --pipe -p LoadCredential=wecom-secret:FILE -p DynamicUser=yes -p StateDirectory=orgsync, or set CREDENTIALS_DIRECTORY to a directory holding wecom-secret"},
		{name: "a missing letter is a near miss too", from: "  max_disables: 5%", to: "  max_disabls: 5%", code: ExitUsage,
			want: "orgsync: orgsync.yaml:15: policy.max_disabls: unknown key; did you mean max_disables?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := goodConfig
			if tc.name == "an indentation error is reported at its line, and the rest still checked" {
				text = strings.Replace(text, "  max_disables: 5%", "  max_disables: lots", 1)
			}
			if !strings.Contains(text, tc.from) {
				t.Fatalf("the good config lacks %q", tc.from)
			}
			text = strings.Replace(text, tc.from, tc.to, 1)
			dir := t.TempDir()
			path := filepath.Join(dir, "orgsync.yaml")
			must(t, os.WriteFile(path, []byte(text), 0o644))
			args := tc.args
			if args == nil {
				args = []string{"validate", "--offline"}
			}
			out, code := run(t, append(args, "-c", path)...)
			if code != tc.code || strings.TrimSpace(out) != tc.want {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and:\n%s", code, out, tc.code, tc.want)
			}
			if m := regexp.MustCompile(`config\.[A-Z]\w*|not found in type|!!\w+|unmarshal|\bint\b|\[\]string`).FindString(out); m != "" {
				t.Errorf("the message shows Go's words (%q)", m)
			}
		})
	}
	t.Run("the engine's checks name the line of the key too", func(t *testing.T) {
		text := strings.Replace(goodConfig, "  key: 工号\n", "", 1)
		text = strings.Replace(text, "  max_disables: 5%", "  max_disables: 150%", 1)
		path := filepath.Join(t.TempDir(), "orgsync.yaml")
		must(t, os.WriteFile(path, []byte(text), 0o644))
		out, code := run(t, "validate", "--offline", "-c", path)
		want := "orgsync: 2 problems:\n  orgsync.yaml:5: mapping.key: required\n" +
			"  orgsync.yaml:14: policy.max_disables: threshold \"150%\": want a count like 20, a percentage like 5%, or both like \"5% or 20\""
		if code != ExitUsage || strings.TrimSpace(out) != want {
			t.Fatalf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
		}
	})
	t.Run("the good config is fine", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "orgsync.yaml")
		must(t, os.WriteFile(path, []byte(goodConfig), 0o644))
		if out, code := run(t, "validate", "--offline", "-c", path); code != ExitOK {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("mapping problems are reported with the config's, at their lines", func(t *testing.T) {
		text := strings.Replace(goodConfig, "  max_disables: 5%", "  max_disabls: 5%", 1)
		text = strings.Replace(text, ", mobile: 手机}", "}", 1)
		path := filepath.Join(t.TempDir(), "orgsync.yaml")
		must(t, os.WriteFile(path, []byte(text), 0o644))
		out, code := run(t, "validate", "--offline", "-c", path)
		want := "orgsync: 2 problems:\n  orgsync.yaml:7: mapping.user: set mobile or email (WeCom needs one of them for every member)\n" +
			"  orgsync.yaml:15: policy.max_disabls: unknown key; did you mean max_disables?"
		if code != ExitUsage || strings.TrimSpace(out) != want {
			t.Fatalf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
		}
	})
}
