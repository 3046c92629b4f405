package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const baseConfig = `sources:
  - {name: hr, type: csv, config: {path: /srv/hr/x.csv}}
mapping: {key: id, user: {userid: id, name: n, mobile: m}}
target: {config: {corp_id: ww1, secret: s}}
`

func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "orgsync.yaml")
	if err := os.WriteFile(p, []byte(baseConfig+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	t.Run("applies the defaults", func(t *testing.T) {
		s, err := Load(writeConfig(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		if s.Server.Listen != DefaultListen || !s.Token.Empty() || s.Schedule.Cron != "" || len(s.Notify.On) != 4 {
			t.Fatalf("got %+v", s)
		}
	})
	t.Run("reads the API token from a file next to the config", func(t *testing.T) {
		p := writeConfig(t, "server: {token_file: api.token}\n")
		if err := os.WriteFile(filepath.Join(filepath.Dir(p), "api.token"), []byte("tok\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Load(p)
		if err != nil || s.Token.Reveal() != "tok" {
			t.Fatalf("got %v, %v", s, err)
		}
	})
	t.Run("reports problems of the main config and of every block at once", func(t *testing.T) {
		_, err := Load(writeConfig(t, `policy: {mode: sometimes}
schedule: {cron: "61 * * * *"}
server: {listen: "9469", token: a, token_file: b}
log: {level: loud}
notify: {on: [always]}
`))
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{`policy.mode: "sometimes"`, `schedule.cron: "61 * * * *"`, `server.listen: "9469"`,
			"server: set token or token_file, not both", `log: log level "loud"`, `notify.on: "always"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
	t.Run("reports an unreadable token file", func(t *testing.T) {
		_, err := Load(writeConfig(t, "server: {token_file: /nonexistent/token}\n"))
		if err == nil || !strings.Contains(err.Error(), "server.token_file") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestTriggerURL(t *testing.T) {
	for _, tc := range []struct{ name, listen, want string }{
		{"uses a loopback address as is", "127.0.0.1:9469", "http://127.0.0.1:9469/v1/sync"},
		{"reaches the IPv4 wildcard on loopback", "0.0.0.0:9469", "http://127.0.0.1:9469/v1/sync"},
		{"reaches the IPv6 wildcard on loopback", "[::]:9469", "http://127.0.0.1:9469/v1/sync"},
		{"reaches an empty host on loopback", ":9469", "http://127.0.0.1:9469/v1/sync"},
		{"keeps an IPv6 address bracketed", "[::1]:9469", "http://[::1]:9469/v1/sync"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TriggerURL(tc.listen)
			if err != nil || got != tc.want {
				t.Fatalf("TriggerURL(%q) = %q, %v; want %q", tc.listen, got, err, tc.want)
			}
		})
	}
}
