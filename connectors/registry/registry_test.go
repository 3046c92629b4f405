package registry

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/csv"
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
