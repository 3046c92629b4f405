package mapping

import (
	"reflect"
	"testing"

	"github.com/orgsync/orgsync/connectors"
)

func TestLDAPFunctions(t *testing.T) {
	env := map[string]any{
		"disabledUAC": "514", "normalUAC": "512", "listUAC": []string{"66050"},
		"never": "9223372036854775807", "zero": "0", "filetime": "133000000000000000", "genTime": "20261123020000Z",
		"dn": "CN=李雷,OU=后端组,OU=研发中心,OU=总部,DC=corp,DC=example,DC=test",
	}
	tests := []struct {
		name, expr string
		want       any
		wantErr    bool
	}{
		{name: "514 is a disabled account", expr: "uac_disabled(disabledUAC)", want: true},
		{name: "512 is a normal account", expr: "!uac_disabled(normalUAC)", want: true},
		{name: "a multi-valued attribute uses its first value", expr: "uac_disabled(listUAC)", want: true},
		{name: "a missing attribute is not disabled", expr: "uac_disabled(nothing)", want: false},
		{name: "uac_has tests any bit (DONT_EXPIRE_PASSWORD 0x10000)", expr: "uac_has(listUAC, 65536)", want: true},
		{name: "accountExpires never is empty", expr: "ad_time(never)", want: ""},
		{name: "accountExpires zero is empty", expr: "ad_time(zero)", want: ""},
		{name: "a FILETIME becomes RFC 3339", expr: "ad_time(filetime)", want: "2022-06-18T04:26:40Z"},
		{name: "a GeneralizedTime becomes RFC 3339", expr: "ad_time(genTime)", want: "2026-11-23T02:00:00Z"},
		{name: "text is not a time", expr: `ad_time("soon")`, wantErr: true},
		{name: "ou_path strips CN and DC, top first", expr: "ou_path(dn)", want: "总部/研发中心/后端组"},
		{name: "ou_path strips a base DN given as OUs", expr: `ou_path(dn, "OU=总部,DC=corp,DC=example,DC=test")`, want: "研发中心/后端组"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := evalExpr(t, tt.expr, env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("%s: err = %v", tt.expr, err)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s = %#v, want %#v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestEnabledFromUserAccountControl(t *testing.T) {
	m := compileYAML(t, `
key: sAMAccountName
user:
  userid: lower(sAMAccountName)
  name: displayName
  email: mail
  department: ou_path(dn)
  enabled: "!uac_disabled(userAccountControl)"
`)
	b := batch("ad", []string{"sAMAccountName", "displayName", "mail", "userAccountControl", "dn"},
		[]string{"lilei", "李雷", "lilei@corp.example.test", "512", "CN=李雷,OU=研发,DC=corp,DC=example,DC=test"},
		[]string{"hanmeimei", "韩梅梅", "hmm@corp.example.test", "514", "CN=韩梅梅,OU=研发,DC=corp,DC=example,DC=test"})
	org, probs := m.Map([]*connectors.Batch{b})
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	got := map[string]bool{}
	for _, p := range org.People {
		got[p.UserID] = p.Enabled
		if len(p.Departments) != 1 || p.Departments[0] != "研发" {
			t.Fatalf("%s departments = %v", p.UserID, p.Departments)
		}
	}
	if !got["lilei"] || got["hanmeimei"] {
		t.Fatalf("enabled = %v", got)
	}
}
