// Package ldap is the `type: ldap` source: it reads people from OpenLDAP or
// Active Directory with a paged search and yields one Record per entry.
//
// Contract (beyond connectors.Source): a failed page, a dropped connection,
// a timeout, a refused bind or an unreachable server make List return an
// error, never a short batch. Search continuation references (the referrals
// AD returns for searches based at the domain root) are skipped: they are
// neither people nor errors.
//
// Each record holds the configured attributes (case-insensitive names, in
// the configured spelling), then the key attribute when it is not among
// them, then the derived fields:
//
//	dn            the entry's DN
//	ou_path       its OUs below base_dn as a department path ("总部/研发中心/后端组")
//	uac_disabled  "true"/"false" from userAccountControl (AD), "" without it
//	locked        "true"/"false" from lockoutTime (AD) or nsAccountLock /
//	              pwdAccountLockedTime (OpenLDAP), "" when nothing says
//	expired       "true"/"false" from accountExpires (AD), "" without it
//	manager_key   the key attribute of the entry named by the manager
//	              attribute, when key_attribute is set and the manager was read
//	              in the same search; "" otherwise
//
// Attribute values are strings, except multi-valued attributes (objectClass,
// memberOf, member, uniqueMember, memberUid, proxyAddresses, and those listed
// in multi_valued), which are always []string. objectGUID and objectSid are
// decoded to "3f2504e0-4f89-…" and "S-1-5-21-…".
//
// An Active Directory source, reading enabled and disabled users below one OU
// who are (possibly through nested groups) members of one group:
//
//	type: ldap
//	config:
//	  url: [ldaps://dc1.corp.example.com, ldaps://dc2.corp.example.com]
//	  ca_file: /etc/orgsync/corp-ca.pem
//	  bind_dn: svc-orgsync@corp.example.com
//	  bind_password_file: $CREDENTIALS_DIRECTORY/ldap
//	  base_dn: OU=总部,DC=corp,DC=example,DC=com
//	  filter: (&(objectCategory=person)(objectClass=user))
//	  attributes: [sAMAccountName, displayName, mail, mobile, title, userAccountControl, objectGUID]
//	  key_attribute: sAMAccountName
//	  member_of: ["CN=企业微信用户,OU=Groups,DC=corp,DC=example,DC=com"]
//	  nested_groups: true
//	  page_size: 1000
//
// and in the mapping: `enabled: !uac_disabled(userAccountControl)`,
// `department: ou_path`, `direct_leader: manager_key`.
//
// The protocol is go-ldap/ldap/v3's (*ldap.Conn: dial, StartTLS, bind,
// search with the paged results control, base searches for ranged
// attributes), as the project's library policy requires: server data is
// untrusted input and is parsed only by the library the field uses, never
// by a hand-written BER reader here. go-ldap's SetTimeout is deliberately
// never called: its request timeout also limits how long the connection's
// reader waits to hand a packet to a slow consumer and then drops the
// packet, which could silently shorten a page. Instead every operation
// (StartTLS, bind, each page, each range) runs under a watchdog that closes
// the connection when the timeout passes, and a cancelled context closes it
// too; either way the outstanding request fails and so does the read.
package ldap

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/internal/config"
)

// Defaults.
const (
	// DefaultPageSize: larger pages do not make a read faster (against
	// slapd, 50,000 entries in pages of 1000 took as long as in pages of
	// 500: the time is the client's decoding, not the round trips).
	// OpenLDAP's sizelimit caps the whole paged search whatever the page
	// size; AD caps pages at MaxADPageSize.
	DefaultPageSize = 500
	DefaultTimeout  = 30 * time.Second
	DefaultFilter   = "(objectClass=person)"
	// MaxADPageSize is Active Directory's MaxPageSize: a larger page_size is
	// not an error there, the server just returns pages of this size.
	MaxADPageSize = 1000
)

// OIDs of matching rules used in generated filters.
const (
	// MatchingRuleInChain is LDAP_MATCHING_RULE_IN_CHAIN: memberOf matches
	// through nested groups (Active Directory).
	MatchingRuleInChain = "1.2.840.113556.1.4.1941"
)

// URLList is one URL or several, tried in order until one answers
// (failover). In YAML it is a string or a list of strings.
type URLList []string

// UnmarshalYAML accepts a scalar or a sequence.
func (u *URLList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*u = URLList{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*u = l
		return nil
	}
	return fmt.Errorf("line %d: url must be a string or a list of strings", n.Line)
}

// Config is the `config:` block of a `type: ldap` source.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port]; several for failover.
	URL URLList `yaml:"url"`
	// StartTLS upgrades an ldap:// connection with StartTLS before binding.
	StartTLS bool `yaml:"start_tls"`
	// CAFile is a PEM bundle of the CAs that may sign the server's
	// certificate; it replaces the system roots. Empty: system roots.
	CAFile string `yaml:"ca_file"`
	// TLSServerName is the name the certificate must carry; default the
	// URL's host.
	TLSServerName string `yaml:"tls_server_name"`
	// InsecureSkipVerify turns off certificate verification. For tests
	// only: it is logged as a warning every time the source is opened.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds connecting, binding and each page of the search
	// (default 30s). A page that takes longer fails the read.
	Timeout time.Duration `yaml:"timeout"`

	BindDN           string        `yaml:"bind_dn"`
	BindPassword     config.Secret `yaml:"bind_password"`
	BindPasswordFile string        `yaml:"bind_password_file"`
	// Anonymous binds without credentials; it must be asked for explicitly
	// so that a forgotten bind_dn is an error, not an anonymous read.
	Anonymous bool `yaml:"anonymous"`

	BaseDN string `yaml:"base_dn"`
	// Scope is sub (default), one or base.
	Scope string `yaml:"scope"`
	// Filter selects people; default (objectClass=person). For Active
	// Directory use (&(objectCategory=person)(objectClass=user)), which
	// leaves out computer accounts.
	Filter string `yaml:"filter"`
	// Attributes to read, in the order records carry them.
	Attributes []string `yaml:"attributes"`
	// MultiValued names further attributes to always return as []string.
	MultiValued []string `yaml:"multi_valued"`
	// PageSize of the paged results control; default 500 (AD caps at 1000).
	PageSize int `yaml:"page_size"`

	// KeyAttribute is the attribute that identifies a person (uid,
	// sAMAccountName, employeeNumber, objectGUID); it is what manager_key
	// resolves manager DNs to.
	KeyAttribute string `yaml:"key_attribute"`
	// ManagerAttribute holds the manager's DN; default "manager".
	ManagerAttribute string `yaml:"manager_attribute"`

	// MemberOf restricts the read to members of any of these group DNs.
	MemberOf []string `yaml:"member_of"`
	// NestedGroups makes MemberOf match through nested groups with
	// LDAP_MATCHING_RULE_IN_CHAIN (Active Directory only).
	NestedGroups bool `yaml:"nested_groups"`

	// OUPathOrder orders ou_path: top_first (default: 总部/研发中心/后端组)
	// or bottom_first (后端组/研发中心/总部).
	OUPathOrder string `yaml:"ou_path_order"`
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem of the configuration, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if len(c.URL) == 0 {
		bad("url", "required (ldap://host or ldaps://host)")
	}
	for _, raw := range c.URL {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			bad("url", "%q does not parse: %v", raw, err)
		case u.Scheme != "ldap" && u.Scheme != "ldaps":
			bad("url", "%q must start with ldap:// or ldaps://", raw)
		case u.Host == "":
			bad("url", "%q has no host", raw)
		case u.Scheme == "ldaps" && c.StartTLS:
			bad("start_tls", "cannot be used with the ldaps:// URL %q (it is already TLS)", raw)
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	switch {
	case c.Anonymous && (c.BindDN != "" || !c.BindPassword.Empty() || c.BindPasswordFile != ""):
		bad("anonymous", "cannot be combined with bind_dn, bind_password or bind_password_file")
	case c.Anonymous:
	case c.BindDN == "":
		bad("bind_dn", "required (or set anonymous: true to bind without credentials)")
	case c.BindPassword.Empty() && c.BindPasswordFile == "":
		bad("bind_password", "one of bind_password or bind_password_file is required with bind_dn")
	case !c.BindPassword.Empty() && c.BindPasswordFile != "":
		bad("bind_password", "set only one of bind_password and bind_password_file")
	}
	if c.BaseDN == "" {
		bad("base_dn", "required")
	} else if _, err := goldap.ParseDN(c.BaseDN); err != nil {
		bad("base_dn", "%q is not a DN: %v", c.BaseDN, err)
	}
	if _, err := c.scope(); err != nil {
		bad("scope", "%v", err)
	}
	if c.Filter != "" {
		if _, err := goldap.CompileFilter(c.Filter); err != nil {
			bad("filter", "%q does not parse: %v", c.Filter, err)
		}
	}
	if len(c.Attributes) == 0 {
		bad("attributes", "list the attributes to read (at least the key and the name)")
	}
	seen := map[string]bool{}
	for _, a := range c.Attributes {
		la := strings.ToLower(a)
		switch {
		case a == "" || strings.ContainsAny(a, " ;*()"):
			bad("attributes", "%q is not an attribute name", a)
		case seen[la]:
			bad("attributes", "%q is listed twice", a)
		case derivedSet[la]:
			bad("attributes", "%q is a derived field name; it cannot be read as an attribute", a)
		}
		seen[la] = true
	}
	if c.PageSize < 0 {
		bad("page_size", "must not be negative")
	}
	for _, g := range c.MemberOf {
		if _, err := goldap.ParseDN(g); err != nil || g == "" {
			bad("member_of", "%q is not a group DN", g)
		}
	}
	if c.NestedGroups && len(c.MemberOf) == 0 {
		bad("nested_groups", "needs member_of")
	}
	switch c.OUPathOrder {
	case "", "top_first", "bottom_first":
	default:
		bad("ou_path_order", "%q must be top_first or bottom_first", c.OUPathOrder)
	}
	if c.KeyAttribute != "" && (strings.ContainsAny(c.KeyAttribute, " ;*()") || derivedSet[strings.ToLower(c.KeyAttribute)]) {
		bad("key_attribute", "%q is not an attribute name", c.KeyAttribute)
	}
	return errors.Join(errs...)
}

func (c *Config) scope() (int, error) {
	switch strings.ToLower(c.Scope) {
	case "", "sub", "subtree":
		return goldap.ScopeWholeSubtree, nil
	case "one", "onelevel":
		return goldap.ScopeSingleLevel, nil
	case "base":
		return goldap.ScopeBaseObject, nil
	}
	return 0, fmt.Errorf("%q must be sub, one or base", c.Scope)
}

// searchFilter is the configured filter, restricted to member_of groups
// when configured. Group DNs are escaped as filter values.
func (c *Config) searchFilter() string {
	f := c.Filter
	if f == "" {
		f = DefaultFilter
	}
	if !strings.HasPrefix(f, "(") {
		f = "(" + f + ")"
	}
	if len(c.MemberOf) == 0 {
		return f
	}
	attr := "memberOf="
	if c.NestedGroups {
		attr = "memberOf:" + MatchingRuleInChain + ":="
	}
	var b strings.Builder
	b.WriteString("(&")
	b.WriteString(f)
	b.WriteString("(|")
	for _, g := range c.MemberOf {
		b.WriteString("(" + attr + goldap.EscapeFilter(g) + ")")
	}
	b.WriteString("))")
	return b.String()
}

// Open checks what Validate cannot (the CA file, the password file) and
// returns the source. It does not connect: List does, every time.
func (c *Config) Open(name string, log *zap.Logger) (connectors.Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Source{name: name, cfg: *c, log: log}
	if c.CAFile != "" {
		if _, err := s.tlsConfig(""); err != nil {
			return nil, err
		}
	}
	if c.BindPasswordFile != "" {
		if _, err := config.ReadSecretFile(config.ResolveCredentialPath(c.BindPasswordFile)); err != nil {
			return nil, fmt.Errorf("bind_password_file: %w", err)
		}
	}
	if c.InsecureSkipVerify {
		log.Warn("insecure_skip_verify is set: the LDAP server's certificate is NOT verified, anyone on the network path can impersonate it and read the bind password; use ca_file instead")
	}
	for _, raw := range c.URL {
		if strings.HasPrefix(raw, "ldap://") && !c.StartTLS && !c.Anonymous {
			log.Warn("the bind password is sent in clear text: use ldaps:// or start_tls", zap.String("url", raw))
		}
	}
	return s, nil
}
