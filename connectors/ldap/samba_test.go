package ldap

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/testservers"
)

// The AD fixture: adUsers users spread over four OUs under OU=总部; every
// tenth disabled (userAccountControl 514); each user's manager is the first
// user of their OU; u0005's account expired in 2020; groups nested as
// 研发全员 ⊃ {后端开发, 前端开发} plus u0003 directly; 大组 has bigGroup members.
const (
	adUsers  = 300
	bigGroup = 120
)

var adDepts = []string{"总部/研发中心/后端组", "总部/研发中心/前端组", "总部/销售部", "总部/人力资源部"}

func adUserDN(base string, i int) string {
	return fmt.Sprintf("CN=员工%d,%s", i, ouDN(base, adDepts[(i-1)%len(adDepts)]))
}

func ouDN(base, path string) string {
	parts := strings.Split(path, "/")
	dn := base
	for _, p := range parts {
		dn = "OU=" + p + "," + dn
	}
	return dn
}

func seedAD(dc *testservers.SambaDC) error {
	c, err := dc.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	add := func(dn string, attrs map[string][]string) error {
		r := goldap.NewAddRequest(dn, nil)
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r.Attribute(k, attrs[k])
		}
		if err := c.Add(r); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		return nil
	}
	made := map[string]bool{}
	for _, d := range append(adDepts, "总部/Groups") {
		parts := strings.Split(d, "/")
		for i := range parts {
			dn := ouDN(dc.BaseDN, strings.Join(parts[:i+1], "/"))
			if !made[dn] {
				made[dn] = true
				if err := add(dn, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {parts[i]}}); err != nil {
					return err
				}
			}
		}
	}
	first := map[int]string{}
	for i := 1; i <= adUsers; i++ {
		uac := "512"
		if i%10 == 0 {
			uac = "514"
		}
		sam := fmt.Sprintf("u%04d", i)
		attrs := map[string][]string{
			"objectClass":        {"user"},
			"sAMAccountName":     {sam},
			"userPrincipalName":  {sam + "@corp.example.test"},
			"displayName":        {fmt.Sprintf("员工%d", i)},
			"mail":               {sam + "@example.com"},
			"userAccountControl": {uac},
		}
		d := (i - 1) % len(adDepts)
		if m, ok := first[d]; ok {
			attrs["manager"] = []string{m}
		} else {
			first[d] = adUserDN(dc.BaseDN, i)
		}
		if i == 5 {
			attrs["accountExpires"] = []string{"132223104000000000"} // 2020-01-01
		}
		if err := add(adUserDN(dc.BaseDN, i), attrs); err != nil {
			return err
		}
	}
	groups := ouDN(dc.BaseDN, "总部/Groups")
	members := func(dept int) []string {
		var out []string
		for i := dept + 1; i <= adUsers; i += len(adDepts) {
			out = append(out, adUserDN(dc.BaseDN, i))
		}
		return out
	}
	var big []string
	for i := 1; i <= bigGroup; i++ {
		big = append(big, adUserDN(dc.BaseDN, i))
	}
	for _, g := range []struct {
		cn, sam string
		member  []string
	}{
		{"后端开发", "g-backend", members(0)},
		{"前端开发", "g-frontend", members(1)},
		{"研发全员", "g-rd", []string{"CN=后端开发," + groups, "CN=前端开发," + groups, adUserDN(dc.BaseDN, 3)}},
		{"大组", "g-big", big},
	} {
		if err := add("CN="+g.cn+","+groups, map[string][]string{"objectClass": {"group"}, "sAMAccountName": {g.sam}, "member": g.member}); err != nil {
			return err
		}
	}
	return nil
}

const adPeopleFilter = "(&(objectCategory=person)(objectClass=user)" +
	"(!(sAMAccountName=krbtgt))(!(sAMAccountName=Guest))(!(sAMAccountName=Administrator))(!(sAMAccountName=dns-*)))"

func adConfig(dc *testservers.SambaDC) *Config {
	return &Config{
		URL:          URLList{dc.LDAPSURL},
		CAFile:       dc.CAFile,
		BindDN:       dc.AdminUPN,
		BindPassword: config.Secret(dc.AdminPassword),
		BaseDN:       dc.BaseDN,
		Filter:       adPeopleFilter,
		Attributes:   []string{"sAMAccountName", "displayName", "mail", "userAccountControl", "objectGUID", "objectSid", "memberOf"},
		KeyAttribute: "sAMAccountName",
		PageSize:     50,
	}
}

func listAD(t *testing.T, c *Config) *connectors.Batch {
	t.Helper()
	src := openSource(t, c)
	b, err := src.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !b.Complete {
		t.Fatalf("incomplete: %s", b.Incomplete)
	}
	return b
}

func bySAM(b *connectors.Batch) map[string]*connectors.Record {
	m := map[string]*connectors.Record{}
	for i := range b.Records {
		m[b.Records[i].String("sAMAccountName")] = &b.Records[i]
	}
	return m
}

func TestSambaAD(t *testing.T) {
	dc := needSamba(t)

	t.Run("reads every user from the domain root across pages, skipping referrals and service accounts", func(t *testing.T) {
		// The scenario must really contain referrals for this to test anything.
		conn, err := dc.Dial()
		if err != nil {
			t.Fatal(err)
		}
		res, err := conn.Search(goldap.NewSearchRequest(dc.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			0, 0, false, "(objectClass=user)", []string{"cn"}, nil))
		conn.Close()
		if err != nil || len(res.Referrals) == 0 {
			t.Fatalf("expected the DC to return continuation references from its root (err=%v, referrals=%d)", err, len(res.Referrals))
		}

		src := openSource(t, adConfig(dc))
		pages := 0
		src.afterPage = func(int) { pages++ }
		b, err := src.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Records) != adUsers {
			t.Fatalf("got %d records, want %d", len(b.Records), adUsers)
		}
		if pages < adUsers/50 {
			t.Errorf("read in %d pages, want at least %d", pages, adUsers/50)
		}
		for _, r := range b.Records {
			if sam := r.String("sAMAccountName"); !strings.HasPrefix(sam, "u") {
				t.Fatalf("unexpected account %q (%s) in the result", sam, r.Origin.Locator)
			}
		}
	})

	b := listAD(t, adConfig(dc))
	users := bySAM(b)

	t.Run("a disabled account has uac_disabled true and an enabled one false", func(t *testing.T) {
		for i := 1; i <= adUsers; i++ {
			r := users[fmt.Sprintf("u%04d", i)]
			if r == nil {
				t.Fatalf("u%04d missing", i)
			}
			want := fmt.Sprint(i%10 == 0)
			if got := r.String("uac_disabled"); got != want {
				t.Fatalf("u%04d (userAccountControl %s): uac_disabled %q, want %q", i, r.String("userAccountControl"), got, want)
			}
		}
	})

	t.Run("the OU path becomes the department path", func(t *testing.T) {
		for i := 1; i <= 8; i++ {
			r := users[fmt.Sprintf("u%04d", i)]
			if got, want := r.String("ou_path"), adDepts[(i-1)%len(adDepts)]; got != want {
				t.Fatalf("u%04d: ou_path %q, want %q", i, got, want)
			}
		}
	})

	t.Run("the manager DN resolves to the manager's key", func(t *testing.T) {
		for i := 1; i <= 12; i++ {
			r := users[fmt.Sprintf("u%04d", i)]
			want := ""
			if i > len(adDepts) {
				want = fmt.Sprintf("u%04d", (i-1)%len(adDepts)+1)
			}
			if got := r.String("manager_key"); got != want {
				t.Fatalf("u%04d: manager_key %q, want %q", i, got, want)
			}
		}
	})

	t.Run("accountExpires in the past makes expired true", func(t *testing.T) {
		if got := users["u0005"].String("expired"); got != "true" {
			t.Fatalf("u0005 expired = %q", got)
		}
		if got := users["u0006"].String("expired"); got != "false" {
			t.Fatalf("u0006 expired = %q", got)
		}
	})

	t.Run("binary GUID and SID are decoded, memberOf is a list", func(t *testing.T) {
		guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
		sid := regexp.MustCompile(`^S-1-5-21-\d+-\d+-\d+-\d+$`)
		seen := map[string]bool{}
		for sam, r := range users {
			g := r.String("objectGUID")
			if !guid.MatchString(g) || seen[g] {
				t.Fatalf("%s: objectGUID %q is not a unique GUID string", sam, g)
			}
			seen[g] = true
			if s := r.String("objectSid"); !sid.MatchString(s) {
				t.Fatalf("%s: objectSid %q", sam, s)
			}
		}
		mo, _ := users["u0001"].Get("memberOf")
		l, ok := mo.([]string)
		if !ok || len(l) != 2 { // 后端开发 and 大组
			t.Fatalf("u0001 memberOf = %#v, want two groups as []string", mo)
		}
		mo, _ = users["u0300"].Get("memberOf")
		if l, ok := mo.([]string); !ok || len(l) != 0 {
			t.Fatalf("u0300 memberOf = %#v, want an empty []string", mo)
		}
	})

	t.Run("objectGUID works as the key, manager_key included", func(t *testing.T) {
		c := adConfig(dc)
		c.KeyAttribute = "objectGUID"
		b := listAD(t, c)
		guids := map[string]string{}
		for _, r := range b.Records {
			guids[r.String("sAMAccountName")] = r.String("objectGUID")
		}
		for _, r := range b.Records {
			if r.String("sAMAccountName") == "u0009" {
				if got, want := r.String("manager_key"), guids["u0001"]; got != want || want == "" {
					t.Fatalf("u0009 manager_key %q, want u0001's GUID %q", got, want)
				}
				return
			}
		}
		t.Fatal("u0009 missing")
	})

	t.Run("member_of scopes to direct members, nested_groups through nested groups", func(t *testing.T) {
		c := adConfig(dc)
		c.MemberOf = []string{"CN=研发全员," + ouDN(dc.BaseDN, "总部/Groups")}
		direct := listAD(t, c)
		if len(direct.Records) != 1 || direct.Records[0].String("sAMAccountName") != "u0003" {
			t.Fatalf("direct members: got %d records, want only u0003", len(direct.Records))
		}
		c.NestedGroups = true
		nested := listAD(t, c)
		want := adUsers/2 + 1 // everyone in 后端组 and 前端组, plus u0003
		if len(nested.Records) != want {
			t.Fatalf("nested members: got %d, want %d", len(nested.Records), want)
		}
		for _, r := range nested.Records {
			if p := r.String("ou_path"); !strings.HasPrefix(p, "总部/研发中心/") && r.String("sAMAccountName") != "u0003" {
				t.Fatalf("%s (%s) is not in a nested group", r.String("sAMAccountName"), p)
			}
		}
	})

	t.Run("LDAPS verifies the server certificate against ca_file", func(t *testing.T) {
		c := adConfig(dc)
		c.Filter = "(sAMAccountName=u0001)"
		if b := listAD(t, c); len(b.Records) != 1 {
			t.Fatalf("got %d records", len(b.Records))
		}
		c.CAFile = "" // system roots do not know the test CA
		if _, err := openSource(t, c).List(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate verification failure", err)
		}
		c.CAFile = dc.CAFile
		c.TLSServerName = "other.example.test"
		if _, err := openSource(t, c).List(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a name mismatch", err)
		}
	})

	t.Run("StartTLS on the plain port verifies the certificate too", func(t *testing.T) {
		c := adConfig(dc)
		c.URL = URLList{dc.LDAPURL}
		c.StartTLS = true
		c.Filter = "(sAMAccountName=u0002)"
		if b := listAD(t, c); len(b.Records) != 1 {
			t.Fatalf("got %d records", len(b.Records))
		}
	})

	t.Run("a wrong password fails the read", func(t *testing.T) {
		c := adConfig(dc)
		c.BindPassword = "Wrong!Passw0rd"
		_, err := openSource(t, c).List(context.Background())
		if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "Invalid Credentials") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("ranged retrieval collects every value of a large attribute", func(t *testing.T) {
		// The DC must really answer in ranges for this to test anything.
		conn, err := dc.Dial()
		if err != nil {
			t.Fatal(err)
		}
		gdn := "CN=大组," + ouDN(dc.BaseDN, "总部/Groups")
		res, err := conn.Search(goldap.NewSearchRequest(gdn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"member;range=0-24"}, nil))
		conn.Close()
		if err != nil || len(res.Entries) != 1 || len(res.Entries[0].Attributes) != 1 ||
			!strings.EqualFold(res.Entries[0].Attributes[0].Name, "member;range=0-24") {
			t.Fatalf("the DC did not answer with a range: err=%v", err)
		}

		c := adConfig(dc)
		c.BaseDN = ouDN(dc.BaseDN, "总部/Groups")
		c.Filter = "(objectClass=group)"
		c.Attributes = []string{"sAMAccountName", "member"}
		src := openSource(t, c)
		src.rangeStep = 25 // as if the DC's MaxValRange were 25
		b, err := src.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"g-big": bigGroup, "g-backend": adUsers / 4, "g-frontend": adUsers / 4, "g-rd": 3}
		if len(b.Records) != len(want) {
			t.Fatalf("got %d groups, want %d", len(b.Records), len(want))
		}
		for _, r := range b.Records {
			v, _ := r.Get("member")
			l, _ := v.([]string)
			uniq := map[string]bool{}
			for _, m := range l {
				uniq[strings.ToLower(m)] = true
			}
			g := r.String("sAMAccountName")
			if len(l) != want[g] || len(uniq) != want[g] {
				t.Errorf("%s: %d members (%d distinct), want %d", g, len(l), len(uniq), want[g])
			}
		}
	})
}
