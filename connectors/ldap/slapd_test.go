package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/conformance"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/testservers"
)

// peopleLDIF seeds people as inetOrgPerson entries under base, one OU per
// department path component (CJK OU names included), each person's manager
// being the first person of their department.
func peopleLDIF(base string, people []conformance.Person) string {
	var l testservers.LDIF
	ous := map[string]bool{}
	ouDN := func(path string) string {
		parts := strings.Split(path, "/")
		dn := base
		for _, p := range parts {
			dn = "ou=" + p + "," + dn
			if !ous[dn] {
				ous[dn] = true
				l.Entry(dn, "objectClass", "organizationalUnit", "ou", p)
			}
		}
		return dn
	}
	firstOf := map[string]string{}
	for _, p := range people {
		dn := "uid=" + p.Key + "," + base
		if p.Dept != "" {
			dn = "uid=" + p.Key + "," + ouDN(p.Dept)
		}
		attrs := []string{"objectClass", "inetOrgPerson", "uid", p.Key, "cn", p.Name, "sn", p.Name,
			"mail", p.Mail, "employeeNumber", p.Key}
		if m, ok := firstOf[p.Dept]; ok {
			attrs = append(attrs, "manager", m)
		} else {
			firstOf[p.Dept] = dn
		}
		l.Entry(dn, attrs...)
	}
	return l.String()
}

func slapdConfig(s *testservers.Slapd) *Config {
	return &Config{
		URL:          URLList{s.URL},
		BindDN:       s.ServiceDN,
		BindPassword: config.Secret(s.ServicePassword),
		BaseDN:       "ou=people," + s.Suffix,
		Filter:       "(objectClass=inetOrgPerson)",
		Attributes:   []string{"uid", "cn", "mail", "objectClass"},
		KeyAttribute: "uid",
	}
}

func openSource(t testing.TB, c *Config) *Source {
	t.Helper()
	src, err := c.Open("hr-ldap", zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return src.(*Source)
}

func TestSlapdConformance(t *testing.T) {
	testservers.Need(t, "slapd", "slapadd")
	conformance.Run(t, conformance.Harness{
		KeyField:  "uid",
		NameField: "cn",
		New: func(t *testing.T, people []conformance.Person) connectors.Source {
			s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: peopleLDIF("ou=people,dc=example,dc=test", people)})
			return openSource(t, slapdConfig(s))
		},
		Broken: func(t *testing.T, people []conformance.Person) connectors.Source {
			s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: peopleLDIF("ou=people,dc=example,dc=test", people)})
			src := openSource(t, slapdConfig(s))
			src.afterPage = func(page int) {
				if page == 1 {
					s.Kill() // the server dies between two pages
				}
			}
			return src
		},
		Unreachable: func(t *testing.T) connectors.Source {
			port, err := testservers.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			c := &Config{URL: URLList{fmt.Sprintf("ldap://127.0.0.1:%d", port)}, BindDN: "cn=x,dc=example,dc=test",
				BindPassword: "x", BaseDN: "dc=example,dc=test", Attributes: []string{"uid"}}
			return openSource(t, c)
		},
	})
}

func TestSlapdRead(t *testing.T) {
	testservers.Need(t, "slapd", "slapadd")
	people := conformance.People(3000)
	s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: peopleLDIF("ou=people,dc=example,dc=test", people)})

	t.Run("reads every person across many pages as a non-root service account", func(t *testing.T) {
		c := slapdConfig(s)
		c.PageSize = 200
		src := openSource(t, c)
		pages := 0
		src.afterPage = func(int) { pages++ }
		b, err := src.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if pages != 15 {
			t.Errorf("read %d pages, want 15 (3000 entries / 200)", pages)
		}
		if !b.Complete || len(b.Records) != len(people) {
			t.Fatalf("complete=%v records=%d, want %d", b.Complete, len(b.Records), len(people))
		}
		if want := s.URL + "/ou=people,dc=example,dc=test"; b.Location != want {
			t.Errorf("Location = %q, want %q", b.Location, want)
		}
		wantNames := []string{"uid", "cn", "mail", "objectClass", "dn", "ou_path", "uac_disabled", "locked", "expired", "manager_key"}
		if got := strings.Join(b.Records[0].Names, ","); got != strings.Join(wantNames, ",") {
			t.Errorf("Names = %s, want %s", got, strings.Join(wantNames, ","))
		}
		byKey := map[string]*connectors.Record{}
		for i := range b.Records {
			byKey[b.Records[i].String("uid")] = &b.Records[i]
		}
		firstOf := map[string]string{}
		for _, p := range people {
			r := byKey[p.Key]
			if r == nil {
				t.Fatalf("%s missing", p.Key)
			}
			if got := r.String("ou_path"); got != p.Dept {
				t.Fatalf("%s: ou_path %q, want %q", p.Key, got, p.Dept)
			}
			if got := r.String("mail"); got != p.Mail {
				t.Fatalf("%s: mail %q, want %q", p.Key, got, p.Mail)
			}
			oc, _ := r.Get("objectClass")
			if l, ok := oc.([]string); !ok || len(l) == 0 || !strings.EqualFold(l[0], "inetOrgPerson") {
				t.Fatalf("%s: objectClass %#v, want a []string", p.Key, oc)
			}
			wantMgr := firstOf[p.Dept]
			if wantMgr == "" {
				firstOf[p.Dept] = p.Key
			}
			if got := r.String("manager_key"); got != wantMgr {
				t.Fatalf("%s: manager_key %q, want %q", p.Key, got, wantMgr)
			}
			if r.Origin.Source != "hr-ldap" || !strings.HasPrefix(r.Origin.Locator, "uid="+p.Key+",ou=") {
				t.Fatalf("%s: origin %v", p.Key, r.Origin)
			}
			if got := r.String("uac_disabled"); got != "" {
				t.Fatalf("%s: uac_disabled %q without userAccountControl", p.Key, got)
			}
		}
	})

	t.Run("orders ou_path bottom first when asked", func(t *testing.T) {
		c := slapdConfig(s)
		c.OUPathOrder = "bottom_first"
		c.Filter = "(uid=E00001)"
		b, err := openSource(t, c).List(context.Background())
		if err != nil || len(b.Records) != 1 {
			t.Fatalf("err=%v records=%v", err, b)
		}
		if got := b.Records[0].String("ou_path"); got != "后端组/研发中心/总部" {
			t.Fatalf("ou_path %q", got)
		}
	})

	t.Run("a wrong password fails the read", func(t *testing.T) {
		c := slapdConfig(s)
		c.BindPassword = "wrong"
		_, err := openSource(t, c).List(context.Background())
		if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "Invalid Credentials") {
			t.Fatalf("err = %v, want an invalid-credentials ErrRead", err)
		}
	})

	t.Run("fails over from a closed port to the next URL", func(t *testing.T) {
		port, err := testservers.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		c := slapdConfig(s)
		c.URL = URLList{fmt.Sprintf("ldap://127.0.0.1:%d", port), s.URL}
		c.Filter = "(cn=员工7)"
		b, err := openSource(t, c).List(context.Background())
		if err != nil || len(b.Records) != 1 {
			t.Fatalf("err=%v batch=%v", err, b)
		}
		if !strings.HasPrefix(b.Location, s.URL) {
			t.Fatalf("Location %q does not name the server that answered", b.Location)
		}
	})

	t.Run("reads the password from bind_password_file", func(t *testing.T) {
		c := slapdConfig(s)
		c.BindPassword = ""
		c.BindPasswordFile = writeFile(t, s.ServicePassword+"\n")
		c.Filter = "(uid=E00002)"
		b, err := openSource(t, c).List(context.Background())
		if err != nil || len(b.Records) != 1 {
			t.Fatalf("err=%v batch=%v", err, b)
		}
	})
}

func TestSlapdFailures(t *testing.T) {
	testservers.Need(t, "slapd", "slapadd")
	people := conformance.People(1200)
	seed := peopleLDIF("ou=people,dc=example,dc=test", people)

	t.Run("a server size limit reached midway fails the read", func(t *testing.T) {
		s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed, SizeLimit: 700})
		c := slapdConfig(s)
		c.PageSize = 200
		b, err := openSource(t, c).List(context.Background())
		if err == nil {
			t.Fatalf("read %d records past a size limit of 700 without error", len(b.Records))
		}
		if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "Size Limit Exceeded") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("a server killed mid-read fails the read", func(t *testing.T) {
		s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed})
		c := slapdConfig(s)
		c.PageSize = 100
		src := openSource(t, c)
		src.afterPage = func(page int) {
			if page == 3 {
				s.Kill()
			}
		}
		b, err := src.List(context.Background())
		if err == nil {
			t.Fatalf("read %d records from a dead server without error", len(b.Records))
		}
		if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "page 4") {
			t.Fatalf("err = %v, want a failure on page 4", err)
		}
	})

	t.Run("cancelling the context mid-read fails the read", func(t *testing.T) {
		s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed})
		c := slapdConfig(s)
		c.PageSize = 100
		src := openSource(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src.afterPage = func(page int) {
			if page == 2 {
				cancel()
			}
		}
		b, err := src.List(ctx)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRead) {
			t.Fatalf("err = %v (batch %v), want a cancelled ErrRead", err, b)
		}
	})

	t.Run("an unreachable server fails the read", func(t *testing.T) {
		s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed})
		c := slapdConfig(s)
		s.Kill()
		_, err := openSource(t, c).List(context.Background())
		if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "could not connect to any LDAP server") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSlapdValues(t *testing.T) {
	var seed testservers.LDIF
	seed.Entry("ou=销售部,ou=people,dc=example,dc=test", "objectClass", "organizationalUnit", "ou", "销售部")
	seed.Entry("uid=boss,ou=销售部,ou=people,dc=example,dc=test", "objectClass", "inetOrgPerson",
		"uid", "boss", "cn", "老板", "sn", "老", "employeeNumber", "1001")
	seed.Entry("uid=li,ou=销售部,ou=people,dc=example,dc=test", "objectClass", "inetOrgPerson",
		"uid", "li", "cn", "李雷", "sn", "李", "employeeNumber", "1002",
		"mail", "li@example.com", "mail", "lilei@example.com",
		// Written differently from the entry's own DN: case and spacing.
		"manager", "UID=boss, OU=销售部, OU=People, DC=example, DC=test")
	s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed.String()})

	t.Run("a key attribute that is not listed is read and resolves managers", func(t *testing.T) {
		c := slapdConfig(s)
		c.Attributes = []string{"uid", "cn", "mail"}
		c.KeyAttribute = "employeeNumber"
		b, err := openSource(t, c).List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(b.Records[0].Names[:4], ","); got != "uid,cn,mail,employeeNumber" {
			t.Fatalf("Names start %s", got)
		}
		for _, r := range b.Records {
			if r.String("uid") == "li" {
				if got := r.String("manager_key"); got != "1001" {
					t.Fatalf("manager_key %q, want 1001", got)
				}
				if got := r.String("mail"); got != "li@example.com" {
					t.Fatalf("mail %q, want the first value", got)
				}
				if got := r.String("ou_path"); got != "销售部" {
					t.Fatalf("ou_path %q", got)
				}
			}
		}
		if len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "attribute mail had several values in 1 entries") {
			t.Fatalf("warnings %q", b.Warnings)
		}
	})

	t.Run("multi_valued returns every value as a list", func(t *testing.T) {
		c := slapdConfig(s)
		c.MultiValued = []string{"mail"}
		c.Filter = "(uid=li)"
		b, err := openSource(t, c).List(context.Background())
		if err != nil || len(b.Records) != 1 {
			t.Fatalf("err=%v", err)
		}
		v, _ := b.Records[0].Get("mail")
		if l, ok := v.([]string); !ok || len(l) != 2 {
			t.Fatalf("mail = %#v", v)
		}
		if len(b.Warnings) != 0 {
			t.Fatalf("warnings %q", b.Warnings)
		}
	})

	t.Run("an anonymous bind the ACL shuts out fails instead of reading nothing", func(t *testing.T) {
		c := slapdConfig(s)
		c.BindDN, c.BindPassword, c.Anonymous = "", "", true
		_, err := openSource(t, c).List(context.Background())
		if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "No Such Object") {
			t.Fatalf("err = %v", err)
		}
	})
}
