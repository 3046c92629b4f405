// Package registry maps source type names to their config types: the one
// explicit list of connectors (no init-time registration), as dex does.
package registry

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/csv"
	"github.com/orgsync/orgsync/connectors/httpjson"
	"github.com/orgsync/orgsync/connectors/ldap"
)

// Types maps a `type:` value to a factory of its empty config.
var Types = map[string]connectors.Factory{
	"csv": func() connectors.Config { return &csv.Config{} },
	// type: xlsx reads the file as a workbook whatever its extension.
	"xlsx": func() connectors.Config { return &csv.Config{Format: "xlsx"} },
	"ldap": func() connectors.Config { return &ldap.Config{} },
	"http": func() connectors.Config { return &httpjson.Config{} },
}

// Names lists the registered type names, sorted.
func Names() []string {
	out := make([]string, 0, len(Types))
	for k := range Types {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Decode makes, strictly decodes and validates the config of a source type.
func Decode(typ string, node *yaml.Node) (connectors.Config, error) {
	f, ok := Types[typ]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", connectors.ErrUnknownType, typ, strings.Join(Names(), ", "))
	}
	cfg := f()
	if err := connectors.Decode(node, cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
