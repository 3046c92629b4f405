// Package layering holds the test that keeps the import graph pointing
// down the pipeline (DESIGN §2): sources → mapping → plan → directory, with
// the engine above and the daemon and CLI on top.
package layering

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/orgsync/orgsync/"

// deps lists the packages of this module that pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string { return list(t, pkg, "-deps") }

// imports lists the packages of this module that pkg imports itself.
func imports(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var l []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, mod) {
			l = append(l, strings.TrimPrefix(p, mod))
		}
	}
	return l
}

func list(t *testing.T, pkg string, flag string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", flag, "-json=ImportPath", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var list []string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct{ ImportPath string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.ImportPath != mod+pkg && strings.HasPrefix(p.ImportPath, mod) {
			list = append(list, strings.TrimPrefix(p.ImportPath, mod))
		}
	}
	return list
}

func TestImportsPointDownThePipeline(t *testing.T) {
	rules := []struct {
		pkg    string
		never  []string // prefixes pkg must not import, directly or through others
		reason string
		direct bool // only what pkg imports itself
	}{
		{"model", []string{""}, "model is the neutral types every layer exchanges: it imports nothing of ours", false},
		{"plan", []string{"state", "directory", "engine", "connectors", "mapping"}, "plan takes its inputs as its own or model types", false},
		{"directory/wecom/client", []string{"plan", "state", "engine", "mapping", "directory/wecom/emulator"}, "the client speaks WeCom's API and nothing else", false},
		{"mapping", []string{"connectors/csv", "connectors/ldap/", "connectors/httpjson", "connectors/registry", "state", "plan", "directory", "engine"}, "mapping does no I/O: files reach it through connectors", false},
		{"engine", []string{"directory/wecom/client", "directory/wecom/emulator", "daemon", "cmd"}, "the engine knows a Directory, not WeCom's client", true},
		{"state", []string{"directory", "engine", "mapping", "connectors"}, "the store is below the directory and the engine", false},
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			all := deps(t, r.pkg)
			if r.direct {
				all = imports(t, r.pkg)
			}
			for _, d := range all {
				for _, bad := range r.never {
					if (bad == "" || d == strings.TrimSuffix(bad, "/") || strings.HasPrefix(d, bad)) && !(bad == "connectors/ldap/" && d == "connectors/ldap/attr") {
						t.Errorf("%s imports %s: %s", r.pkg, d, r.reason)
					}
				}
			}
		})
	}
	t.Run("internal imports no higher layer", func(t *testing.T) {
		for _, pkg := range []string{"internal/config", "internal/logging", "internal/testservers", "internal/benchmem"} {
			for _, d := range deps(t, pkg) {
				if !strings.HasPrefix(d, "internal/") && d != "model" {
					t.Errorf("%s imports %s", pkg, d)
				}
			}
		}
	})
}
