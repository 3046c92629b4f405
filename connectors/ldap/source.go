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
	// rangeStep, when > 0 (tests), asks for multi-valued attributes in
	// ranges of this many values instead of letting the server choose.
	rangeStep int
}

// List binds, runs the paged search and returns every entry.
func (s *Source) List(ctx context.Context) (*connectors.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	conn, usedURL, err := s.connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrRead, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	defer conn.Close()
	// A cancelled context closes the connection, which fails the
	// outstanding read at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	b, err := s.read(ctx, conn, usedURL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrRead, usedURL, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrRead, usedURL, err)
	}
	_ = conn.Unbind() // a courtesy to the server; the read is complete either way
	return b, nil
}

func (s *Source) timeout() time.Duration {
	if s.cfg.Timeout > 0 {
		return s.cfg.Timeout
	}
	return DefaultTimeout
}

// connect dials the URLs in order and binds on the first that answers.
// Failover is for servers that cannot be reached (or whose TLS handshake
// fails); a refused bind is final: the next server would refuse the same
// credentials, and trying them everywhere only locks the account sooner.
func (s *Source) connect(ctx context.Context) (*goldap.Conn, string, error) {
	var errs []error
	for _, raw := range s.cfg.URL {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		conn, err := s.dial(ctx, raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", raw, err))
			continue
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err = s.bind(conn)
		stop()
		if err != nil {
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
	var tc *tls.Config
	if u.Scheme == "ldaps" || s.cfg.StartTLS {
		if tc, err = s.tlsConfig(u.Hostname()); err != nil {
			return nil, err
		}
	}
	// The dialer's timeout bounds the TCP connect and, for ldaps://, the
	// TLS handshake (tls.DialWithDialer applies it to both).
	opts := []goldap.DialOpt{goldap.DialWithDialer(&net.Dialer{Timeout: s.timeout()})}
	if u.Scheme == "ldaps" {
		opts = append(opts, goldap.DialWithTLSConfig(tc))
	}
	// DialURL takes no context: dial in a goroutine so that a cancelled
	// context returns at once, closing the connection if it arrives late.
	type dialed struct {
		conn *goldap.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := goldap.DialURL(raw, opts...)
		ch <- dialed{c, err}
	}()
	var d dialed
	select {
	case d = <-ch:
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.conn != nil {
				d.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
	if d.err != nil {
		return nil, d.err
	}
	conn := d.conn
	if s.cfg.StartTLS {
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err := s.withDeadline(conn, func() error { return conn.StartTLS(tc) })
		stop()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("start_tls: %w", err)
		}
	}
	return conn, nil
}

// withDeadline runs op, closing conn if it takes longer than the timeout:
// the outstanding request then fails with a network error. This watchdog
// replaces go-ldap's SetTimeout, which is never set: its request timeout
// also bounds how long the connection's reader waits to hand a packet to a
// slow consumer, and silently drops the packet when that wait runs out,
// which could shorten a result without an error.
func (s *Source) withDeadline(conn *goldap.Conn, op func() error) error {
	var fired atomic.Bool
	t := time.AfterFunc(s.timeout(), func() { fired.Store(true); conn.Close() })
	err := op()
	t.Stop()
	if fired.Load() {
		// The connection is closed: whatever op returned, the read is over.
		if err == nil {
			return fmt.Errorf("timeout: no answer within %s", s.timeout())
		}
		return fmt.Errorf("timeout: no answer within %s: %w", s.timeout(), err)
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
		if err := s.withDeadline(conn, func() error { return conn.UnauthenticatedBind("") }); err != nil {
			return fmt.Errorf("anonymous bind: %w", err)
		}
		return nil
	}
	pw := s.cfg.BindPassword
	if s.cfg.BindPasswordFile != "" {
		var err error
		// Read at every List so that a rotated credential is picked up.
		if pw, err = config.ReadSecretFile(config.ResolveCredentialPath(s.cfg.BindPasswordFile)); err != nil {
			return fmt.Errorf("bind_password_file: %w", err)
		}
	}
	if pw.Empty() {
		// An empty password is an unauthenticated bind that many servers
		// accept as anonymous: never send one by accident.
		return errors.New("bind: empty password")
	}
	if err := s.withDeadline(conn, func() error { return conn.Bind(s.cfg.BindDN, pw.Reveal()) }); err != nil {
		return fmt.Errorf("bind as %s: %w", s.cfg.BindDN, err)
	}
	return nil
}

// layout is how records are built: the requested attribute list and, for
// each record column, where its value comes from.
type layout struct {
	names    []string // record Names (shared by every record)
	request  []string // attributes asked of the server
	cols     []column // one per configured attribute (+ key)
	keyCol   int      // index in cols of the key attribute, -1 without
	baseDN   string
	topFirst bool
	// slotOf maps a lower-case attribute name to its slot; slots 0..len(cols)-1
	// are the columns, then the derivation attributes.
	slotOf map[string]int
	// exact caches slotOf by the server's spelling, so that the hot path
	// looks names up without lower-casing or allocating.
	exact     map[string][2]int
	nslots    int
	multiSeen map[string]int // column → entries where a single-valued attribute had several values

	// Caches for the hot path: people share OUs and groups, so the
	// department path of a parent DN and the values of multi-valued
	// attributes (objectClass, memberOf) are computed or allocated once per
	// read, not once per entry.
	ouPaths map[string]string
	intern  map[string]string
}

// Slots of the attributes read only to derive fields.
const (
	slotUAC = iota
	slotLockout
	slotExpires
	slotNSLock
	slotPwdLocked
	slotManager
	nDerivSlots
)

type column struct {
	name  string // as configured
	lower string
	multi bool
	dec   func([]byte) string
}

func (s *Source) layout() *layout {
	c := &s.cfg
	l := &layout{keyCol: -1, baseDN: c.BaseDN, topFirst: c.OUPathOrder != "bottom_first",
		slotOf: map[string]int{}, exact: map[string][2]int{}, multiSeen: map[string]int{},
		ouPaths: map[string]string{}, intern: map[string]string{}}
	multi := map[string]bool{}
	for _, a := range defaultMultiValued {
		multi[strings.ToLower(a)] = true
	}
	for _, a := range c.MultiValued {
		multi[strings.ToLower(a)] = true
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
		l.cols = append(l.cols, column{name: a, lower: la, multi: multi[la], dec: binaryDecoders[la]})
		l.names = append(l.names, a)
		l.slotOf[la] = i
		if s.rangeStep > 0 && multi[la] {
			// Tests: ask for the first range explicitly, as AD answers
			// unasked for attributes with more than MaxValRange values.
			a = fmt.Sprintf("%s;range=0-%d", a, s.rangeStep-1)
		}
		l.request = append(l.request, a)
		if c.KeyAttribute != "" && strings.EqualFold(a, c.KeyAttribute) {
			l.keyCol = i
		}
	}
	l.names = append(l.names, derivedFields...)
	mgr := strings.ToLower(c.ManagerAttribute)
	if mgr == "" {
		mgr = defaultMgrAtt
	}
	n := len(l.cols)
	for i, a := range []string{aUAC, aLockoutTime, aExpires, aNSLock, aPwdLockedAt, mgr} {
		if _, dup := l.slotOf[a]; !dup {
			l.request = append(l.request, a)
		}
		// A derivation attribute that is also a column gets its own slot
		// too; both point at the same received attribute.
		l.slotOf[a+"\x00deriv"] = n + i
	}
	l.nslots = n + nDerivSlots
	return l
}

// lookup returns the slots an attribute name received from the server fills
// (a column, a derivation attribute, or both), and for a ranged attribute
// ("member;range=0-1499") its range.
func (l *layout) lookup(name string) (col, deriv int, rng *rangeInfo) {
	if i, ok := l.exact[name]; ok {
		return i[0], i[1], nil
	}
	lower := strings.ToLower(name)
	base := lower
	if b, lo, hi, ok := parseRange(lower); ok {
		base, rng = b, &rangeInfo{attr: b, lo: lo, hi: hi}
	}
	col, deriv = -1, -1
	if i, ok := l.slotOf[base]; ok {
		col = i
	}
	if i, ok := l.slotOf[base+"\x00deriv"]; ok {
		deriv = i
	}
	if rng == nil && len(l.exact) < 1024 {
		l.exact[name] = [2]int{col, deriv}
	}
	return col, deriv, rng
}

type rangeInfo struct {
	attr   string
	lo, hi int
}

// pendingRange is a ranged attribute to complete after the search.
type pendingRange struct {
	rec, col int
	attr     string
	hi       int
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

	now := time.Now
	if s.now != nil {
		now = s.now
	}
	// The records of a page are built on another goroutine while the next
	// page is read: the builder owns the layout and what it builds until
	// it has finished; this goroutine alone uses the connection.
	bld := &builder{s: s, l: l, now: now(), slots: make([]int, l.nslots),
		records: make([]connectors.Record, 0, pageSize), managers: make([]string, 0, pageSize)}
	pages := make(chan []*goldap.Entry, 1)
	built := make(chan error, 1)
	go func(pages <-chan []*goldap.Entry) {
		var err error
		for entries := range pages {
			if err == nil {
				if err = bld.add(entries); err != nil {
					bld.failed.Store(true)
				}
			}
		}
		built <- err
	}(pages)
	finish := func() error {
		if pages == nil {
			return nil
		}
		close(pages)
		pages = nil
		return <-built
	}
	defer finish() //nolint:errcheck // only on early returns, whose error is already being returned

	received, referrals := 0, 0
	for page := 1; ; page++ {
		// One page is one Search: go-ldap returns it only once the
		// server's SearchResultDone has arrived, and any error (a result
		// code, a closed connection, the watchdog) fails the whole read.
		var res *goldap.SearchResult
		err := s.withDeadline(conn, func() error {
			var err error
			res, err = conn.Search(req)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("search page %d (after %d entries): %w", page, received, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if bld.failed.Load() {
			break // finish returns the builder's error
		}
		received += len(res.Entries)
		referrals += len(res.Referrals)
		pages <- res.Entries
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
	if err := finish(); err != nil {
		return nil, err
	}
	if referrals > 0 {
		s.log.Debug("skipped search continuation references", zap.Int("count", referrals))
	}
	records := bld.records
	for _, r := range bld.ranges {
		if err := s.completeRange(conn, l, &records[r.rec], r); err != nil {
			return nil, err
		}
	}

	s.resolveManagers(l, records, bld.managers)
	b := &connectors.Batch{Source: s.name, Complete: true, Location: strings.TrimSuffix(usedURL, "/") + "/" + s.cfg.BaseDN,
		Records: records}
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

// builder turns pages of entries into records.
type builder struct {
	s     *Source
	l     *layout
	now   time.Time
	slots []int
	// records[i]'s manager DN, as the entry writes it, is managers[i].
	records  []connectors.Record
	managers []string
	// ranges are the ranged attributes to complete once the search is over.
	ranges []pendingRange
	failed atomic.Bool
}

func (b *builder) add(entries []*goldap.Entry) error {
	for _, e := range entries {
		rec, mgr, err := b.s.record(b.l, b.slots, e, b.now, func(col int, r *rangeInfo) {
			b.ranges = append(b.ranges, pendingRange{rec: len(b.records), col: col, attr: r.attr, hi: r.hi})
		})
		if err != nil {
			return err
		}
		b.records = append(b.records, rec)
		b.managers = append(b.managers, mgr)
	}
	return nil
}

// record builds the record of one entry and returns it with the entry's
// manager DN ("" without one). A ranged column
// ("member;range=0-1499") is reported to onRange, to be completed with
// base searches once the search is over.
func (s *Source) record(l *layout, slots []int, e *goldap.Entry, now time.Time, onRange func(col int, r *rangeInfo)) (connectors.Record, string, error) {
	for i := range slots {
		slots[i] = -1
	}
	attrs := e.Attributes
	for i, a := range attrs {
		col, deriv, rng := l.lookup(a.Name)
		if rng != nil {
			if rng.lo != 0 {
				return connectors.Record{}, "", fmt.Errorf("%s: attribute %s starts at range %d", e.DN, a.Name, rng.lo)
			}
			if col >= 0 && rng.hi >= 0 {
				onRange(col, rng)
			}
		}
		if col >= 0 {
			slots[col] = i
		}
		if deriv >= 0 {
			slots[deriv] = i
		}
	}
	dn := e.DN
	vals := make([]any, len(l.names))
	for i, c := range l.cols {
		var a *goldap.EntryAttribute
		if slots[i] >= 0 {
			a = attrs[slots[i]]
		}
		switch {
		case c.multi:
			var list []string
			if a != nil {
				list = make([]string, len(a.Values))
				for j := range a.Values {
					list[j] = l.internValue(a, j, c.dec)
				}
			} else {
				list = []string{}
			}
			vals[i] = list
		case a == nil || len(a.Values) == 0:
			vals[i] = ""
		default:
			if len(a.Values) > 1 {
				l.multiSeen[c.name]++
			}
			vals[i] = decode(a, 0, c.dec)
		}
	}
	n := len(l.cols)
	first := func(slot int) (string, bool) {
		if i := slots[n+slot]; i >= 0 && len(attrs[i].Values) > 0 {
			return attrs[i].Values[0], true
		}
		return "", false
	}
	vals[n] = dn
	vals[n+1] = l.ouPath(dn)
	vals[n+2] = ""
	uac, hasUAC := first(slotUAC)
	if hasUAC {
		vals[n+2] = strconv.FormatBool(attr.UACDisabled(uac))
	}
	vals[n+3] = lockedValue(first, hasUAC, uac)
	vals[n+4] = ""
	if exp, ok := first(slotExpires); ok {
		vals[n+4] = strconv.FormatBool(attr.Expired(exp, now))
	}
	vals[n+5] = "" // manager_key, filled by resolveManagers
	mgr, _ := first(slotManager)
	return connectors.Record{
		Origin: model.Origin{Source: s.name, Locator: dn},
		Names:  l.names,
		Values: vals,
	}, mgr, nil
}

// maxCache bounds each per-read cache; past it values are computed afresh.
const maxCache = 1 << 16

// ouPath is attr.OUPath, cached by parent DN when the leaf RDN is plain.
func (l *layout) ouPath(dn string) string {
	i := strings.IndexByte(dn, ',')
	if i < 0 || strings.ContainsAny(dn[:i], `\"`) {
		return attr.OUPath(dn, l.baseDN, l.topFirst)
	}
	parent := dn[i+1:]
	if p, ok := l.ouPaths[parent]; ok {
		return p
	}
	p := attr.OUPath(dn, l.baseDN, l.topFirst)
	if len(l.ouPaths) < maxCache {
		l.ouPaths[parent] = p
	}
	return p
}

// internValue decodes value j of a multi-valued attribute, sharing the
// string with earlier equal values (people share objectClass and memberOf
// values; the copies go-ldap made are garbage once the page is built).
func (l *layout) internValue(a *goldap.EntryAttribute, j int, dec func([]byte) string) string {
	if dec != nil {
		return dec(a.ByteValues[j])
	}
	v := a.Values[j]
	if iv, ok := l.intern[v]; ok {
		return iv
	}
	if len(l.intern) < maxCache {
		l.intern[v] = v
	}
	return v
}

// decode is value j of a, through dec for a binary attribute.
func decode(a *goldap.EntryAttribute, j int, dec func([]byte) string) string {
	if dec != nil {
		return dec(a.ByteValues[j])
	}
	return a.Values[j]
}

// lockedValue derives "locked": AD's lockoutTime (non-zero: locked; the DC
// clears it lazily after the lockout duration, we report what the directory
// says) or the LOCKOUT flag, OpenLDAP's nsAccountLock or ppolicy's
// pwdAccountLockedTime.
func lockedValue(first func(int) (string, bool), hasUAC bool, uac string) string {
	known := hasUAC
	locked := hasUAC && attr.UACHas(uac, attr.UACLockout)
	if v, ok := first(slotLockout); ok {
		known = true
		_, set := attr.ADTimeToTime(v)
		locked = locked || set
	}
	if v, ok := first(slotNSLock); ok {
		known = true
		locked = locked || strings.EqualFold(v, "true")
	}
	if v, ok := first(slotPwdLocked); ok {
		known = true
		_, set := attr.GeneralizedTime(v)
		locked = locked || set
	}
	if !known {
		return ""
	}
	return strconv.FormatBool(locked)
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

// completeRange fetches the rest of a ranged attribute. AD returns at most
// MaxValRange values (1500 by default) of a large multi-valued attribute
// such as member, named "member;range=0-1499"; the next ones are asked for
// as "member;range=1500-*" until the server answers with a range ending in
// "*". The values are appended to the record's column (a list).
func (s *Source) completeRange(conn *goldap.Conn, l *layout, rec *connectors.Record, r pendingRange) error {
	c := l.cols[r.col]
	dn := rec.Origin.Locator
	list, _ := rec.Values[r.col].([]string)
	if !c.multi {
		return fmt.Errorf("%s: attribute %s came in ranges; list it in multi_valued", dn, c.name)
	}
	hi := r.hi
	for i := 0; hi >= 0; i++ {
		if i > 100000 {
			return fmt.Errorf("%s: attribute %s: too many ranges", dn, c.name)
		}
		next := fmt.Sprintf("%s;range=%d-*", r.attr, hi+1)
		if s.rangeStep > 0 {
			next = fmt.Sprintf("%s;range=%d-%d", r.attr, hi+1, hi+s.rangeStep)
		}
		var res *goldap.SearchResult
		err := s.withDeadline(conn, func() error {
			var err error
			res, err = conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
				0, 0, false, "(objectClass=*)", []string{next}, nil))
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: read %s: %w", dn, next, err)
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("%s: read %s: got %d entries", dn, next, len(res.Entries))
		}
		got := false
		for _, a := range res.Entries[0].Attributes {
			b, lo, h, ok := parseRange(strings.ToLower(a.Name))
			if !ok || b != r.attr {
				continue
			}
			if lo != len(list) {
				return fmt.Errorf("%s: attribute %s: range starts at %d after %d values", dn, c.name, lo, len(list))
			}
			for j := range a.Values {
				list = append(list, decode(a, j, c.dec))
			}
			hi, got = h, true
		}
		if !got {
			return fmt.Errorf("%s: read %s: no ranged values returned", dn, next)
		}
	}
	rec.Values[r.col] = list
	return nil
}

// resolveManagers fills manager_key from the key attribute of the entry
// each manager DN names (managers[i] is records[i]'s), when that entry was
// read. DNs compare by their normal form (attr.NormalizeDN), but servers
// usually write a manager DN exactly as the manager's own DN, so exact
// matches are looked for first and DNs are normalised only when some
// manager DN is left unmatched.
func (s *Source) resolveManagers(l *layout, records []connectors.Record, managers []string) {
	if l.keyCol < 0 {
		return
	}
	type target struct {
		key   string
		found bool
	}
	want := map[string]*target{} // manager DN as written → its entry's key
	for _, m := range managers {
		if m != "" && want[m] == nil {
			want[m] = &target{}
		}
	}
	if len(want) == 0 {
		return
	}
	dnCol := len(l.cols)
	found := 0
	for i := range records {
		if t := want[records[i].Values[dnCol].(string)]; t != nil && !t.found {
			t.key, t.found = connectors.Text(records[i].Values[l.keyCol]), true
			found++
		}
	}
	if found < len(want) {
		byNorm := map[string][]*target{}
		for m, t := range want {
			if !t.found {
				n := attr.NormalizeDN(m)
				byNorm[n] = append(byNorm[n], t)
			}
		}
		for i := range records {
			for _, t := range byNorm[attr.NormalizeDN(records[i].Values[dnCol].(string))] {
				if !t.found {
					t.key, t.found = connectors.Text(records[i].Values[l.keyCol]), true
				}
			}
		}
	}
	mk := dnCol + 5
	for i, m := range managers {
		if m != "" {
			records[i].Values[mk] = want[m].key
		}
	}
}
