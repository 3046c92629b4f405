package config

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrintsItsValue(t *testing.T) {
	s := Secret("hunter2-very-secret")
	type holder struct {
		Secret Secret `json:"secret" yaml:"secret"`
	}
	j, _ := json.Marshal(holder{s})
	y, _ := yaml.Marshal(holder{s})
	outputs := map[string]string{
		"%s": fmt.Sprintf("%s", s), "%v": fmt.Sprintf("%v", s), "%+v": fmt.Sprintf("%+v", holder{s}),
		"%#v": fmt.Sprintf("%#v", holder{s}), "%q": fmt.Sprintf("%q", s), "%x": fmt.Sprintf("%x", s),
		"json": string(j), "yaml": string(y),
	}
	for how, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s printed the secret: %s", how, out)
		}
		if !strings.Contains(out, "<secret>") && !strings.Contains(out, `\u003csecret\u003e`) {
			t.Errorf("%s did not print the placeholder: %s", how, out)
		}
	}
	if s.Reveal() != "hunter2-very-secret" {
		t.Fatal("Reveal lost the value")
	}
}

func TestASecretPastedIntoSecretFileIsNotPrinted(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path  string
		shown bool
	}{
		{filepath.Join(dir, "Xk9fj2LmQ8pZr4Tw"), false},
		{filepath.Join(dir, "wecom.secret"), true},
		{filepath.Join(dir, "wecom-contacts-sync-secret"), true},
	} {
		_, err := ReadSecretFile(tc.path)
		if err == nil || strings.Contains(err.Error(), filepath.Base(tc.path)) != tc.shown || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("%s: %v", filepath.Base(tc.path), err)
		}
	}
}
