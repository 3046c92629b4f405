package testservers

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
)

func TestLDIF(t *testing.T) {
	var l LDIF
	l.Entry("ou=研发中心,dc=example,dc=test", "objectClass", "organizationalUnit", "ou", "研发中心", "description", " leading space")
	got := l.String()
	for _, want := range []string{
		"dn:: b3U956CU5Y+R5Lit5b+DLGRjPWV4YW1wbGUsZGM9dGVzdA==\n",
		"objectClass: organizationalUnit\n",
		"ou:: 56CU5Y+R5Lit5b+D\n",
		"description:: IGxlYWRpbmcgc3BhY2U=\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("LDIF lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, "\n\n") {
		t.Error("entry not terminated by a blank line")
	}
}

func TestSlapd(t *testing.T) {
	var seed LDIF
	seed.Entry("uid=lilei,ou=people,dc=example,dc=test", "objectClass", "inetOrgPerson", "uid", "lilei", "cn", "李雷", "sn", "李", "userPassword", "pw")
	s := StartSlapd(t, SlapdOptions{Seed: seed.String()})

	search := func(t *testing.T, dn, pw string) ([]*goldap.Entry, error) {
		t.Helper()
		c, err := goldap.DialURL(s.URL)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		if err := c.Bind(dn, pw); err != nil {
			return nil, err
		}
		res, err := c.Search(goldap.NewSearchRequest("ou=people,"+s.Suffix, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			0, 0, false, "(objectClass=inetOrgPerson)", []string{"cn", "userPassword"}, nil))
		if err != nil {
			return nil, err
		}
		return res.Entries, nil
	}

	t.Run("the service account reads people but not passwords", func(t *testing.T) {
		es, err := search(t, s.ServiceDN, s.ServicePassword)
		if err != nil || len(es) != 1 {
			t.Fatalf("entries=%d err=%v", len(es), err)
		}
		if es[0].GetAttributeValue("cn") != "李雷" || es[0].GetAttributeValue("userPassword") != "" {
			t.Fatalf("got %+v", es[0].Attributes)
		}
	})
	t.Run("a seeded person can bind but reads nothing", func(t *testing.T) {
		// slapd hides what a bind may not read: the base itself is
		// "No Such Object" to it.
		es, err := search(t, "uid=lilei,ou=people,"+s.Suffix, "pw")
		if len(es) != 0 || (err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject)) {
			t.Fatalf("entries=%d err=%v", len(es), err)
		}
	})
	t.Run("Kill stops the server and Start brings the same data back", func(t *testing.T) {
		s.Kill()
		if _, err := search(t, s.ServiceDN, s.ServicePassword); err == nil {
			t.Fatal("search succeeded against a killed slapd")
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		if es, err := search(t, s.ServiceDN, s.ServicePassword); err != nil || len(es) != 1 {
			t.Fatalf("after restart: entries=%d err=%v", len(es), err)
		}
	})
}

// recordTB records how a helper ended a test; like testing.T it stops the
// goroutine there (run it with ending).
type recordTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordTB) Helper()          {}
func (r *recordTB) Skip(args ...any) { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *recordTB) Fatalf(format string, a ...any) {
	r.failed = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

// ending runs f on a recordTB in its own goroutine and returns the record.
func ending(t *testing.T, f func(tb testing.TB)) *recordTB {
	r := &recordTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestSkipOrFail(t *testing.T) {
	cases := []struct {
		name, env           string
		wantSkip, wantFatal string
	}{
		{"skips on a developer machine", "", "frob not installed", ""},
		{"fails in CI", "1", "", "frob not installed (ORGSYNC_REQUIRE_SERVERS=1)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.env)
			r := ending(t, func(tb testing.TB) { SkipOrFail(tb, errors.New("frob not installed")) })
			if r.skipped != tc.wantSkip || r.failed != tc.wantFatal {
				t.Fatalf("skipped %q failed %q", r.skipped, r.failed)
			}
		})
	}
}

func TestNeedTool(t *testing.T) {
	t.Setenv(RequireEnv, "")
	t.Run("returns the path of an installed tool", func(t *testing.T) {
		var p string
		r := ending(t, func(tb testing.TB) { p = NeedTool(tb, "sh") })
		if !strings.HasSuffix(p, "/sh") || r.skipped != "" || r.failed != "" {
			t.Fatalf("path %q skipped %q failed %q", p, r.skipped, r.failed)
		}
	})
	t.Run("skips when the tool is missing", func(t *testing.T) {
		r := ending(t, func(tb testing.TB) { NeedTool(tb, "orgsync-no-such-tool") })
		if r.skipped != "orgsync-no-such-tool is not installed" || r.failed != "" {
			t.Fatalf("skipped %q failed %q", r.skipped, r.failed)
		}
	})
}
