package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the config loader: it never panics,
// and a config it rejects says why (every problem a non-empty line).
func FuzzParse(f *testing.F) {
	f.Add([]byte("sources:\n  - name: hr\n    type: csv\n    config: {path: x.csv}\nmapping:\n  key: id\n  user: {userid: lower(id), name: name}\ntarget:\n  config: {corp_id: ww1, secret: s}\n"))
	f.Add([]byte("policy: {max_disables: 150%, delete_after: -1h}\nstate: {path: ''}\n"))
	f.Add([]byte("sources: [{name: a}, {name: a}]\n\tbad: tab\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("{"))
	f.Add([]byte{})
	for _, glob := range []string{"../../configs/demo/*.in", "../../testdata/bad/configs/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b, "/nonexistent/orgsync/orgsync.yaml")
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("a rejected config with an empty error")
			}
			if p, ok := err.(Problems); ok {
				for _, line := range p {
					if strings.TrimSpace(line) == "" {
						t.Fatalf("an empty problem in %q", p)
					}
				}
			}
		}
		if file != nil {
			_ = file.Resolve("employees.csv")
			_ = file.Resolve("/abs/path")
		}
	})
}
