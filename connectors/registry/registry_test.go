package registry

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/csv"
	"github.com/orgsync/orgsync/connectors/httpjson"
)

func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestXLSXTypeReadsAWorkbookWhateverTheExtension(t *testing.T) {
	c, err := Decode("xlsx", node(t, "path: /srv/hr/export.dat\nsettle: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.(*csv.Config).Format; f != "xlsx" {
		t.Fatalf("format = %q, want xlsx", f)
	}
	c, err = Decode("csv", node(t, "path: /srv/hr/export.dat\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.(*csv.Config).Format; f != "" {
		t.Fatalf("type csv format = %q, want auto", f)
	}
}

func TestUnknownTypeNamesTheKnownOnes(t *testing.T) {
	_, err := Decode("ldaps", node(t, "{}"))
	if !errors.Is(err, connectors.ErrUnknownType) {
		t.Fatalf("got %v", err)
	}
	for _, name := range Names() {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("%q does not list %s", err, name)
		}
	}
}

func TestHTTPTypeDecodesStrictly(t *testing.T) {
	c, err := Decode("http", node(t, "url: https://hr.example.com/api/v1/employees\nrecords_path: data.items\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u := c.(*httpjson.Config).URL; u != "https://hr.example.com/api/v1/employees" {
		t.Fatalf("url = %q", u)
	}
	_, err = Decode("http", node(t, "url: https://hr.example.com/api\nrecord_path: data.items\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: config.record_path: unknown key") {
		t.Fatalf("got %v", err)
	}
}
