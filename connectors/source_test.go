package connectors_test

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
)

type fakeConfig struct {
	Path     string `yaml:"path"`
	Encoding string `yaml:"encoding"`
}

func (*fakeConfig) Validate() error { return nil }
func (*fakeConfig) Open(string, *zap.Logger) (connectors.Source, error) {
	return nil, nil
}

func TestDecode(t *testing.T) {
	// The block sits at lines 4-6 of the file, as it would under sources:.
	const doc = "sources:\n  - name: hr\n    config:\n      path: /x\n      encodng: gbk\n      encoding: auto\n"
	block := func(t *testing.T) *yaml.Node {
		t.Helper()
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		src := n.Content[0].Content[1].Content[0]
		return src.Content[3]
	}
	t.Run("reports an unknown key with its line in the file", func(t *testing.T) {
		err := connectors.Decode(block(t), &fakeConfig{})
		if err == nil || !strings.Contains(err.Error(), "line 5: config.encodng: unknown key (known: path, encoding)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("still decodes the known keys", func(t *testing.T) {
		var c fakeConfig
		_ = connectors.Decode(block(t), &c)
		if c.Path != "/x" || c.Encoding != "auto" {
			t.Fatalf("decoded %+v", c)
		}
	})
	t.Run("leaves the config alone when the block is absent", func(t *testing.T) {
		c := fakeConfig{Path: "default"}
		if err := connectors.Decode(nil, &c); err != nil || c.Path != "default" {
			t.Fatalf("got %+v, %v", c, err)
		}
	})
}

func TestText(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want string
	}{
		{"a string is itself", "张三", "张三"},
		{"a multi-valued field is its first value", []string{"a", "b"}, "a"},
		{"an empty list is empty", []string{}, ""},
		{"nil is empty", nil, ""},
		{"another type is empty", 42, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := connectors.Text(tc.in); got != tc.want {
				t.Fatalf("Text(%#v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	r := connectors.Record{Names: []string{"uid", "ou"}, Values: []any{"a"}}
	if r.String("uid") != "a" || r.String("ou") != "" || r.String("cn") != "" {
		t.Fatalf("Record.String: uid %q ou %q cn %q", r.String("uid"), r.String("ou"), r.String("cn"))
	}
}
