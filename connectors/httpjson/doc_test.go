package httpjson

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
)

// The complete examples of the package documentation decode and validate.
func TestDocExamplesAreValidConfigs(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	for _, line := range strings.Split(string(src), "\n") {
		text, ok := strings.CutPrefix(line, "//\t")
		switch {
		case ok && (len(cur) > 0 || text == "sources:"):
			cur = append(cur, text)
		case len(cur) > 0:
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	if len(blocks) != 2 {
		t.Fatalf("found %d examples, want 2", len(blocks))
	}
	for _, b := range blocks {
		var doc struct {
			Sources []struct {
				Name   string    `yaml:"name"`
				Type   string    `yaml:"type"`
				Config yaml.Node `yaml:"config"`
			} `yaml:"sources"`
		}
		if err := yaml.Unmarshal([]byte(b), &doc); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		for _, s := range doc.Sources {
			c := &Config{}
			if err := connectors.Decode(&s.Config, c); err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
		}
	}
}
