package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
)

func validConfig() *Config {
	return &Config{
		URL:          URLList{"ldaps://dc1.corp.example.test"},
		BindDN:       "CN=svc-orgsync,OU=Service,DC=corp,DC=example,DC=test",
		BindPassword: "s3cret",
		BaseDN:       "DC=corp,DC=example,DC=test",
		Attributes:   []string{"sAMAccountName", "displayName"},
	}
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"rejects a missing url", func(c *Config) { c.URL = nil }, "url: required"},
		{"rejects an http url", func(c *Config) { c.URL = URLList{"http://dc1"} }, `url: "http://dc1" must start with ldap:// or ldaps://`},
		{"rejects a url without host", func(c *Config) { c.URL = URLList{"ldap://"} }, `url: "ldap://" has no host`},
		{"rejects start_tls on ldaps", func(c *Config) { c.StartTLS = true }, "start_tls: cannot be used with the ldaps:// URL"},
		{"rejects a missing bind_dn", func(c *Config) { c.BindDN = "" }, "bind_dn: required (or set anonymous: true"},
		{"rejects bind_dn without a password", func(c *Config) { c.BindPassword = "" }, "bind_password: one of bind_password or bind_password_file is required"},
		{"rejects both password forms", func(c *Config) { c.BindPasswordFile = "/run/secret" }, "bind_password: set only one of"},
		{"rejects anonymous with credentials", func(c *Config) { c.Anonymous = true }, "anonymous: cannot be combined"},
		{"rejects a missing base_dn", func(c *Config) { c.BaseDN = "" }, "base_dn: required"},
		{"rejects a base_dn that is not a DN", func(c *Config) { c.BaseDN = "corp.example.test" }, `base_dn: "corp.example.test" is not a DN`},
		{"rejects an unknown scope", func(c *Config) { c.Scope = "deep" }, `scope: "deep" must be sub, one or base`},
		{"rejects a filter that does not parse", func(c *Config) { c.Filter = "(cn=a" }, `filter: "(cn=a" does not parse`},
		{"rejects no attributes", func(c *Config) { c.Attributes = nil }, "attributes: list the attributes"},
		{"rejects an attribute listed twice", func(c *Config) { c.Attributes = []string{"cn", "CN"} }, `attributes: "CN" is listed twice`},
		{"rejects a derived field name as an attribute", func(c *Config) { c.Attributes = []string{"ou_path"} }, `attributes: "ou_path" is a derived field name`},
		{"rejects a ranged attribute name", func(c *Config) { c.Attributes = []string{"member;range=0-10"} }, `is not an attribute name`},
		{"rejects a negative page size", func(c *Config) { c.PageSize = -1 }, "page_size: must not be negative"},
		{"rejects a negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout: must not be negative"},
		{"rejects a member_of that is not a DN", func(c *Config) { c.MemberOf = []string{"staff"} }, `member_of: "staff" is not a group DN`},
		{"rejects nested_groups without member_of", func(c *Config) { c.NestedGroups = true }, "nested_groups: needs member_of"},
		{"rejects an unknown ou_path_order", func(c *Config) { c.OUPathOrder = "sideways" }, `ou_path_order: "sideways" must be top_first or bottom_first`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("reports every problem at once", func(t *testing.T) {
		err := (&Config{Scope: "deep"}).Validate()
		for _, want := range []string{"url:", "bind_dn:", "base_dn:", "scope:", "attributes:"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not mention %s", err, want)
			}
		}
	})
}

func TestDecodeYAML(t *testing.T) {
	decode := func(t *testing.T, src string) (*Config, error) {
		t.Helper()
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(src), &n); err != nil {
			t.Fatal(err)
		}
		c := &Config{}
		return c, connectors.Decode(n.Content[0], c)
	}
	t.Run("accepts one url as a string and a timeout as a duration", func(t *testing.T) {
		c, err := decode(t, "url: ldaps://dc1\ntimeout: 10s\nbind_password: pw\n")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.URL) != 1 || c.URL[0] != "ldaps://dc1" || c.Timeout != 10*time.Second || c.BindPassword.Reveal() != "pw" {
			t.Fatalf("decoded %+v", c)
		}
	})
	t.Run("accepts several urls for failover", func(t *testing.T) {
		c, err := decode(t, "url: [ldaps://dc1, ldaps://dc2]\n")
		if err != nil || len(c.URL) != 2 || c.URL[1] != "ldaps://dc2" {
			t.Fatalf("decoded %+v, %v", c.URL, err)
		}
	})
	t.Run("rejects a misspelt key", func(t *testing.T) {
		if _, err := decode(t, "url: ldaps://dc1\nbase_nd: dc=x\n"); err == nil || !strings.Contains(err.Error(), "base_nd") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("never prints the password", func(t *testing.T) {
		c, _ := decode(t, "bind_password: hunter2\n")
		if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	})
}

func TestSearchFilter(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"defaults to people", func(c *Config) {}, "(objectClass=person)"},
		{"wraps a bare filter in parentheses", func(c *Config) { c.Filter = "uid=*" }, "(uid=*)"},
		{"escapes group DNs from config", func(c *Config) { c.MemberOf = []string{`CN=R&D (all)*,DC=x`} },
			`(&(objectClass=person)(|(memberOf=CN=R&D \28all\29\2a,DC=x)))`},
		{"uses the in-chain rule for nested groups", func(c *Config) {
			c.MemberOf = []string{"CN=a,DC=x", "CN=b,DC=x"}
			c.NestedGroups = true
		}, "(&(objectClass=person)(|(memberOf:1.2.840.113556.1.4.1941:=CN=a,DC=x)(memberOf:1.2.840.113556.1.4.1941:=CN=b,DC=x)))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(c)
			if got := c.searchFilter(); got != tt.want {
				t.Fatalf("searchFilter() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Run("warns loudly about insecure_skip_verify", func(t *testing.T) {
		core, logs := observer.New(zapcore.WarnLevel)
		c := validConfig()
		c.InsecureSkipVerify = true
		if _, err := c.Open("ad", zap.New(core)); err != nil {
			t.Fatal(err)
		}
		if logs.FilterMessageSnippet("NOT verified").Len() != 1 {
			t.Fatalf("no warning logged: %v", logs.All())
		}
	})
	t.Run("warns that a password over plain ldap:// is sent in clear", func(t *testing.T) {
		core, logs := observer.New(zapcore.WarnLevel)
		c := validConfig()
		c.URL = URLList{"ldap://dc1"}
		if _, err := c.Open("ad", zap.New(core)); err != nil {
			t.Fatal(err)
		}
		if logs.FilterMessageSnippet("clear text").Len() != 1 {
			t.Fatalf("no warning logged: %v", logs.All())
		}
	})
	t.Run("fails on a missing ca_file", func(t *testing.T) {
		c := validConfig()
		c.CAFile = "/nonexistent/ca.pem"
		if _, err := c.Open("ad", nil); err == nil || !strings.Contains(err.Error(), "ca_file") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("fails on a ca_file without certificates", func(t *testing.T) {
		c := validConfig()
		c.CAFile = writeFile(t, "not a pem")
		if _, err := c.Open("ad", nil); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("fails on an empty bind_password_file", func(t *testing.T) {
		c := validConfig()
		c.BindPassword = ""
		c.BindPasswordFile = writeFile(t, "\n")
		if _, err := c.Open("ad", nil); err == nil || !strings.Contains(err.Error(), "bind_password_file") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A server that accepts connections and never answers must fail the read
// within the timeout, not hang.
func TestSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	c := validConfig()
	c.URL = URLList{"ldap://" + ln.Addr().String()}
	c.Timeout = 300 * time.Millisecond
	t0 := time.Now()
	_, err = openSource(t, c).List(context.Background())
	if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
}
