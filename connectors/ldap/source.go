package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/ldap/attr"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
)

// Derived field names, appended to every record after the attributes.
const (
	FieldDN          = "dn"
	FieldOUPath      = "ou_path"
	FieldUACDisabled = "uac_disabled"
	FieldLocked      = "locked"
	FieldExpired     = "expired"
	FieldManagerKey  = "manager_key"
)

var derivedFields = []string{FieldDN, FieldOUPath, FieldUACDisabled, FieldLocked, FieldExpired, FieldManagerKey}

var derivedSet = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range derivedFields {
		m[f] = true
	}
	return m
}()

// Attributes that are always lists, whatever an entry holds.
var defaultMultiValued = []string{"objectclass", "memberof", "member", "uniquemember", "memberuid", "proxyaddresses", "otherMailbox", "sidhistory"}

// Binary attributes decoded to their usual string forms.
var binaryDecoders = map[string]func([]byte) string{
	"objectguid": attr.GUIDString,
	"objectsid":  attr.SIDString,
	"sidhistory": attr.SIDString,
}

// Attributes read (besides the configured ones) to derive fields.
const (
	aUAC          = "useraccountcontrol"
	aLockoutTime  = "lockouttime"
	aExpires      = "accountexpires"
	aNSLock       = "nsaccountlock"
	aPwdLockedAt  = "pwdaccountlockedtime"
	defaultMgrAtt = "manager"
)

// ErrRead marks every failure of List: callers branch on it to hold deletes.
var ErrRead = errors.New("ldap read failed")

// Source reads one LDAP directory. It holds no connection between reads.
type Source struct {
	name string
	cfg  Config
	log  *zap.Logger
	// afterPage, when set (tests), runs after each page is received.
	afterPage func(page int)
	// now is the clock for "expired" (tests).
	now func() time.Time
	// rangeStep, when > 0 (tests), asks for ranges of this many values
	// instead of letting the server choose ("attr;range=N-*").
	rangeStep int
}

// List binds, runs the paged search and returns every entry.
func (s *Source) List(ctx context.Context) (*connectors.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	conn, usedURL, err := s.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	defer conn.Close()
	// A cancelled context closes the connection, which fails the
	// outstanding request at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	b, err := s.read(ctx, conn, usedURL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrRead, usedURL, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrRead, usedURL, err)
	}
	return b, nil
}

func (s *Source) timeout() time.Duration {
	if s.cfg.Timeout > 0 {
		return s.cfg.Timeout
	}
	return DefaultTimeout
}

// connect dials the URLs in order and binds on the first that answers.
// Failover is for servers that cannot be reached; a refused bind is final
// (the next server would refuse the same credentials, and trying them
// everywhere only locks the account sooner).
func (s *Source) connect(ctx context.Context) (*goldap.Conn, string, error) {
	var errs []error
	for _, raw := range s.cfg.URL {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		conn, err := s.dial(ctx, raw)
		if err != nil {
			s.log.Debug("ldap server unreachable", zap.String("url", raw), zap.Error(err))
			errs = append(errs, fmt.Errorf("%s: %w", raw, err))
			continue
		}
		if err := s.bind(conn); err != nil {
			conn.Close()
			return nil, "", fmt.Errorf("%s: %w", raw, err)
		}
		return conn, raw, nil
	}
	return nil, "", fmt.Errorf("could not connect to any LDAP server: %w", errors.Join(errs...))
}

func (s *Source) dial(ctx context.Context, raw string) (*goldap.Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	var tc *tls.Config
	if u.Scheme == "ldaps" || s.cfg.StartTLS {
		if tc, err = s.tlsConfig(host); err != nil {
			return nil, err
		}
	}
	// Bound the whole connect+TLS handshake+bind by the timeout; the
	// deadline is cleared before the search, which has its own per-page
	// watchdog.
	d := &net.Dialer{Timeout: s.timeout()}
	opts := []goldap.DialOpt{goldap.DialWithDialer(d)}
	if u.Scheme == "ldaps" {
		opts = append(opts, goldap.DialWithTLSConfig(tc))
	}
	done := make(chan struct{})
	var conn *goldap.Conn
	go func() {
		defer close(done)
		conn, err = goldap.DialURL(raw, opts...)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		go func() {
			<-done
			if conn != nil {
				conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if s.cfg.StartTLS {
		if err := s.withDeadline(conn, func() error { return conn.StartTLS(tc) }); err != nil {
			conn.Close()
			return nil, fmt.Errorf("start_tls: %w", err)
		}
	}
	return conn, nil
}

// withDeadline runs op, closing conn if it takes longer than the timeout.
func (s *Source) withDeadline(conn *goldap.Conn, op func() error) error {
	var fired atomic.Bool
	t := time.AfterFunc(s.timeout(), func() { fired.Store(true); conn.Close() })
	err := op()
	t.Stop()
	if fired.Load() {
		return fmt.Errorf("no answer within %s: %w", s.timeout(), err)
	}
	return err
}

func (s *Source) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: s.cfg.InsecureSkipVerify} //nolint:gosec // opt-in, warned about at Open
	if s.cfg.TLSServerName != "" {
		tc.ServerName = s.cfg.TLSServerName
	}
	if s.cfg.CAFile != "" {
		pem, err := os.ReadFile(s.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", s.cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func (s *Source) bind(conn *goldap.Conn) error {
	if s.cfg.Anonymous {
		return s.withDeadline(conn, func() error { return conn.UnauthenticatedBind("") })
	}
	pw := s.cfg.BindPassword
	if s.cfg.BindPasswordFile != "" {
		var err error
		// Read at every List so that a rotated credential is picked up.
		if pw, err = config.ReadSecretFile(config.ResolveCredentialPath(s.cfg.BindPasswordFile)); err != nil {
			return fmt.Errorf("bind_password_file: %w", err)
		}
	}
	err := s.withDeadline(conn, func() error { return conn.Bind(s.cfg.BindDN, pw.Reveal()) })
	if err != nil {
		return fmt.Errorf("bind as %s: %w", s.cfg.BindDN, err)
	}
	return nil
}

// layout is how records are built: the requested attribute list and, for
// each record column, where its value comes from.
type layout struct {
	names     []string // record Names (shared by every record)
	request   []string // attributes asked of the server
	cols      []column // one per configured attribute (+ key)
	keyCol    int      // index in cols of the key attribute, -1 without
	mgrAttr   string   // lower-case manager attribute
	multi     map[string]bool
	baseDN    string
	topFirst  bool
	multiSeen map[string]int // attribute → entries where a single-valued attribute had several values
}

type column struct {
	name  string // as configured
	lower string
	multi bool
	dec   func([]byte) string
}

func (s *Source) layout() *layout {
	c := &s.cfg
	l := &layout{keyCol: -1, baseDN: c.BaseDN, topFirst: c.OUPathOrder != "bottom_first",
		multi: map[string]bool{}, multiSeen: map[string]int{}}
	for _, a := range defaultMultiValued {
		l.multi[strings.ToLower(a)] = true
	}
	for _, a := range c.MultiValued {
		l.multi[strings.ToLower(a)] = true
	}
	cols := append([]string(nil), c.Attributes...)
	if c.KeyAttribute != "" {
		found := false
		for _, a := range cols {
			found = found || strings.EqualFold(a, c.KeyAttribute)
		}
		if !found {
			cols = append(cols, c.KeyAttribute)
		}
	}
	for i, a := range cols {
		la := strings.ToLower(a)
		l.cols = append(l.cols, column{name: a, lower: la, multi: l.multi[la], dec: binaryDecoders[la]})
		l.names = append(l.names, a)
		if c.KeyAttribute != "" && strings.EqualFold(a, c.KeyAttribute) {
			l.keyCol = i
		}
	}
	l.names = append(l.names, derivedFields...)
	l.mgrAttr = strings.ToLower(c.ManagerAttribute)
	if l.mgrAttr == "" {
		l.mgrAttr = defaultMgrAtt
	}
	req := map[string]bool{}
	for _, a := range append(append([]string(nil), cols...), l.mgrAttr, aUAC, aLockoutTime, aExpires, aNSLock, aPwdLockedAt) {
		if !req[strings.ToLower(a)] {
			req[strings.ToLower(a)] = true
			l.request = append(l.request, a)
		}
	}
	return l
}

// pending is one entry read, before manager resolution.
type pending struct {
	rec     connectors.Record
	manager string // normalised manager DN
}

func (s *Source) read(ctx context.Context, conn *goldap.Conn, usedURL string) (*connectors.Batch, error) {
	scope, _ := s.cfg.scope()
	l := s.layout()
	filter := s.cfg.searchFilter()
	pageSize := s.cfg.PageSize
	if pageSize == 0 {
		pageSize = DefaultPageSize
	}
	paging := goldap.NewControlPaging(uint32(pageSize))
	req := goldap.NewSearchRequest(s.cfg.BaseDN, scope, goldap.NeverDerefAliases, 0, 0, false,
		filter, l.request, []goldap.Control{paging})
	s.log.Debug("ldap search", zap.String("url", usedURL), zap.String("base_dn", s.cfg.BaseDN),
		zap.String("filter", filter), zap.Int("page_size", pageSize))

	var out []pending
	referrals := 0
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	t := now()
	for page := 1; ; page++ {
		var res *goldap.SearchResult
		err := s.withDeadline(conn, func() error {
			var err error
			res, err = conn.Search(req)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("search page %d (after %d entries): %w", page, len(out), err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		referrals += len(res.Referrals)
		for _, e := range res.Entries {
			p, err := s.record(conn, l, e, t)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		if s.afterPage != nil {
			s.afterPage(page)
		}
		ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if ctrl == nil {
			if page == 1 {
				break // the server ignored paging and sent everything at once
			}
			return nil, fmt.Errorf("search page %d: the server dropped the paged results control", page)
		}
		if len(ctrl.Cookie) == 0 {
			break
		}
		paging.SetCookie(ctrl.Cookie)
	}
	if referrals > 0 {
		s.log.Debug("skipped search continuation references", zap.Int("count", referrals))
	}

	b := &connectors.Batch{Source: s.name, Complete: true, Location: strings.TrimSuffix(usedURL, "/") + "/" + s.cfg.BaseDN,
		Records: make([]connectors.Record, len(out))}
	s.resolveManagers(l, out)
	for i := range out {
		b.Records[i] = out[i].rec
	}
	attrs := make([]string, 0, len(l.multiSeen))
	for a := range l.multiSeen {
		attrs = append(attrs, a)
	}
	sort.Strings(attrs)
	for _, a := range attrs {
		b.Warnings = append(b.Warnings, fmt.Sprintf("attribute %s had several values in %d entries; the first was used (list it in multi_valued to get them all)", a, l.multiSeen[a]))
	}
	return b, nil
}

// record builds the record of one entry. Ranged attributes
// ("member;range=0-1499") are completed with further base searches.
func (s *Source) record(conn *goldap.Conn, l *layout, e *goldap.Entry, now time.Time) (pending, error) {
	byName := make(map[string]*goldap.EntryAttribute, len(e.Attributes))
	for _, a := range e.Attributes {
		name := strings.ToLower(a.Name)
		if base, lo, _, ok := parseRange(name); ok && lo == 0 {
			full, err := s.completeRange(conn, e.DN, base, a)
			if err != nil {
				return pending{}, err
			}
			byName[base] = full
			continue
		}
		byName[name] = a
	}
	vals := make([]any, len(l.names))
	for i, c := range l.cols {
		a := byName[c.lower]
		switch {
		case c.multi:
			var list []string
			if a != nil {
				list = decodeAll(a, c.dec)
			}
			vals[i] = list
		case a == nil || len(a.Values) == 0:
			vals[i] = ""
		default:
			if len(a.Values) > 1 {
				l.multiSeen[c.name]++
			}
			if c.dec != nil {
				vals[i] = c.dec(a.ByteValues[0])
			} else {
				vals[i] = a.Values[0]
			}
		}
	}
	n := len(l.cols)
	first := func(name string) (string, bool) {
		if a := byName[name]; a != nil && len(a.Values) > 0 {
			return a.Values[0], true
		}
		return "", false
	}
	vals[n] = e.DN
	vals[n+1] = attr.OUPath(e.DN, l.baseDN, l.topFirst)
	vals[n+2] = ""
	uac, hasUAC := first(aUAC)
	if hasUAC {
		vals[n+2] = strconv.FormatBool(attr.UACDisabled(uac))
	}
	vals[n+3] = lockedValue(byName, hasUAC, uac)
	vals[n+4] = ""
	if exp, ok := first(aExpires); ok {
		vals[n+4] = strconv.FormatBool(attr.Expired(exp, now))
	}
	vals[n+5] = "" // manager_key, filled by resolveManagers
	p := pending{rec: connectors.Record{
		Origin: model.Origin{Source: s.name, Locator: e.DN},
		Names:  l.names,
		Values: vals,
	}}
	if m, ok := first(l.mgrAttr); ok {
		p.manager = normDN(m)
	}
	return p, nil
}

// lockedValue derives "locked": AD's lockoutTime (non-zero: locked until
// the domain's lockout duration passes, which the DC clears on the next
// logon attempt; we report what the directory says) or the LOCKOUT flag,
// OpenLDAP's nsAccountLock or ppolicy's pwdAccountLockedTime.
func lockedValue(byName map[string]*goldap.EntryAttribute, hasUAC bool, uac string) string {
	known := hasUAC
	locked := hasUAC && attr.UACHas(uac, attr.UACLockout)
	if a := byName[aLockoutTime]; a != nil && len(a.Values) > 0 {
		known = true
		_, set := attr.ADTimeToTime(a.Values[0])
		locked = locked || set
	}
	if a := byName[aNSLock]; a != nil && len(a.Values) > 0 {
		known = true
		locked = locked || strings.EqualFold(a.Values[0], "true")
	}
	if a := byName[aPwdLockedAt]; a != nil && len(a.Values) > 0 {
		known = true
		_, set := attr.GeneralizedTime(a.Values[0])
		locked = locked || set
	}
	if !known {
		return ""
	}
	return strconv.FormatBool(locked)
}

func decodeAll(a *goldap.EntryAttribute, dec func([]byte) string) []string {
	if dec == nil {
		return a.Values
	}
	out := make([]string, len(a.ByteValues))
	for i, b := range a.ByteValues {
		out[i] = dec(b)
	}
	return out
}

// parseRange splits "member;range=0-1499" into ("member", 0, 1499) and
// "member;range=1500-*" into ("member", 1500, -1).
func parseRange(name string) (base string, lo, hi int, ok bool) {
	i := strings.Index(name, ";range=")
	if i < 0 {
		return "", 0, 0, false
	}
	base = name[:i]
	r := name[i+len(";range="):]
	a, b, found := strings.Cut(r, "-")
	if !found {
		return "", 0, 0, false
	}
	lo, err := strconv.Atoi(a)
	if err != nil || lo < 0 {
		return "", 0, 0, false
	}
	if b == "*" {
		return base, lo, -1, true
	}
	hi, err = strconv.Atoi(b)
	if err != nil || hi < lo {
		return "", 0, 0, false
	}
	return base, lo, hi, true
}

// completeRange fetches the rest of a ranged attribute (AD returns at most
// MaxValRange values, 1500 by default, of a large multi-valued attribute
// such as member, as "member;range=0-1499"), asking for the next range
// until the server answers with a range ending in "*".
func (s *Source) completeRange(conn *goldap.Conn, dn, base string, first *goldap.EntryAttribute) (*goldap.EntryAttribute, error) {
	full := &goldap.EntryAttribute{Name: base}
	cur := first
	for i := 0; ; i++ {
		_, lo, hi, ok := parseRange(strings.ToLower(cur.Name))
		if !ok || lo != len(full.Values) {
			return nil, fmt.Errorf("%s: attribute %s: unexpected range %q after %d values", dn, base, cur.Name, len(full.Values))
		}
		full.Values = append(full.Values, cur.Values...)
		full.ByteValues = append(full.ByteValues, cur.ByteValues...)
		if hi < 0 {
			return full, nil
		}
		if i > 100000 {
			return nil, fmt.Errorf("%s: attribute %s: too many ranges", dn, base)
		}
		next := fmt.Sprintf("%s;range=%d-*", base, hi+1)
		if s.rangeStep > 0 {
			next = fmt.Sprintf("%s;range=%d-%d", base, hi+1, hi+s.rangeStep)
		}
		var res *goldap.SearchResult
		err := s.withDeadline(conn, func() error {
			var err error
			res, err = conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
				0, 0, false, "(objectClass=*)", []string{next}, nil))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", dn, next, err)
		}
		if len(res.Entries) != 1 {
			return nil, fmt.Errorf("%s: read %s: got %d entries", dn, next, len(res.Entries))
		}
		cur = nil
		for _, a := range res.Entries[0].Attributes {
			if b, _, _, ok := parseRange(strings.ToLower(a.Name)); ok && b == base {
				cur = a
			}
		}
		if cur == nil {
			return nil, fmt.Errorf("%s: read %s: no ranged values returned", dn, next)
		}
	}
}

// resolveManagers fills manager_key from the key attribute of the entry
// each manager DN names, when that entry was read.
func (s *Source) resolveManagers(l *layout, out []pending) {
	if l.keyCol < 0 {
		return
	}
	keys := make(map[string]string, len(out))
	for i := range out {
		r := &out[i].rec
		keys[normDN(r.Values[len(l.cols)].(string))] = r.String(l.names[l.keyCol])
	}
	mk := len(l.cols) + 5
	for i := range out {
		if out[i].manager != "" {
			out[i].rec.Values[mk] = keys[out[i].manager]
		}
	}
}

// normDN normalises a DN for comparison (attr.NormalizeDN).
func normDN(dn string) string { return attr.NormalizeDN(dn) }
