package ldap

import (
	"testing"

	"github.com/orgsync/orgsync/connectors"
)

func TestResolveManagers(t *testing.T) {
	s := &Source{cfg: Config{Attributes: []string{"uid"}, KeyAttribute: "uid"}}
	l := s.layout()
	rec := func(uid, dn string) connectors.Record {
		vals := make([]any, len(l.names))
		vals[0], vals[1] = uid, dn
		for i := 2; i < len(vals); i++ {
			vals[i] = ""
		}
		return connectors.Record{Names: l.names, Values: vals}
	}
	tests := []struct {
		name    string
		manager string
		want    string
	}{
		{"resolves a manager DN written as the manager's own DN", "uid=boss,ou=销售部,dc=x", "boss"},
		{"resolves a manager DN written with other case and spacing", "UID=Boss, OU=销售部, DC=X", "boss"},
		{"resolves a manager DN with escapes written differently", `uid=a\2Cb,dc=x`, "a,b"},
		{"leaves manager_key empty for a manager outside the read", "uid=ceo,dc=x", ""},
		{"leaves manager_key empty without a manager", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := []connectors.Record{rec("boss", "uid=boss,ou=销售部,dc=x"), rec("a,b", `uid=a\,b,dc=x`), rec("li", "uid=li,ou=销售部,dc=x")}
			s.resolveManagers(l, records, []string{"", "", tt.manager})
			if got := records[2].String(FieldManagerKey); got != tt.want {
				t.Fatalf("manager_key %q, want %q", got, tt.want)
			}
			if got := records[0].String(FieldManagerKey); got != "" {
				t.Fatalf("a record without a manager got manager_key %q", got)
			}
		})
	}
}
