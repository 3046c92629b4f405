package connectors_test

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
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

// TestRecordFormsReadAlike: a record holding its values as Texts reads as
// the same record holding them as Values, through every accessor mapping
// uses; Release drops either form and keeps the origin.
func TestRecordFormsReadAlike(t *testing.T) {
	names := []string{"工号", "姓名", "部门"}
	forms := map[string]connectors.Record{
		"values": {Names: names, Values: []any{"E1", "张三", ""}},
		"texts":  {Names: names, Texts: []string{"E1", "张三", ""}},
	}
	for form, r := range forms {
		t.Run(form, func(t *testing.T) {
			r.Origin = model.Origin{Source: "hr", Locator: "a.csv:2"}
			if r.Len() != 3 {
				t.Fatalf("Len = %d, want 3", r.Len())
			}
			for i, want := range []string{"E1", "张三", ""} {
				if got, ok := r.Value(i).(string); !ok || got != want {
					t.Fatalf("Value(%d) = %#v, want %q", i, r.Value(i), want)
				}
			}
			if v, ok := r.Get("姓名"); !ok || v != "张三" {
				t.Fatalf(`Get("姓名") = %#v, %v`, v, ok)
			}
			if v, ok := r.Get("职位"); ok || v != nil {
				t.Fatalf(`Get of a name the record lacks = %#v, %v; want nil, false`, v, ok)
			}
			if r.String("工号") != "E1" || r.String("部门") != "" {
				t.Fatalf("String: %q %q", r.String("工号"), r.String("部门"))
			}
			r.Release()
			if r.Len() != 0 || r.Values != nil || r.Texts != nil {
				t.Fatalf("after Release: Len %d, Values %v, Texts %v", r.Len(), r.Values, r.Texts)
			}
			if r.Origin.Locator != "a.csv:2" {
				t.Fatalf("Release dropped the origin: %v", r.Origin)
			}
			// A name beyond the values (a short LDAP entry) reads as "".
			if v, ok := r.Get("部门"); !ok || v != "" {
				t.Fatalf(`Get past the values = %#v, %v; want "", true`, v, ok)
			}
		})
	}
}
