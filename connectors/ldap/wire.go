package ldap

// A minimal LDAP v3 client for what this source does: simple bind, StartTLS,
// paged search, unbind. go-ldap's reader builds a full ber.Packet tree per
// message and copies every child into its parent; on a 5,000-entry read
// that was three times ldapsearch's time. Here a message is read into one
// reused buffer and the search entry is walked in place; only the values a
// record keeps become strings. go-ldap is still used for what it does well
// and off the hot path: compiling filters, encoding controls, parsing DNs,
// naming result codes.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// ResultError is an LDAP operation that ended with a non-success result code.
type ResultError struct {
	Op      string // "bind", "search", "start_tls"
	Code    uint16
	Message string // the server's diagnostic message
}

func (e *ResultError) Error() string {
	name := goldap.LDAPResultCodeMap[e.Code]
	if name == "" {
		name = "Unknown"
	}
	if e.Message == "" {
		return fmt.Sprintf("%s: LDAP result code %d %q", e.Op, e.Code, name)
	}
	return fmt.Sprintf("%s: LDAP result code %d %q: %s", e.Op, e.Code, name, e.Message)
}

// Result codes this package branches on.
const (
	codeSuccess          = 0
	pagedResultsOID      = "1.2.840.113556.1.4.319"
	startTLSOID          = "1.3.6.1.4.1.1466.20037"
	maxMessageSize       = 64 << 20 // a single LDAP message larger than this is refused
	protocolOpBindResp   = 1
	protocolOpEntry      = 4
	protocolOpDone       = 5
	protocolOpReference  = 19
	protocolOpExtendResp = 24
)

// ErrProtocol is a message the client cannot make sense of.
var ErrProtocol = errors.New("ldap protocol error")

type wireConn struct {
	nc      net.Conn
	r       *bufio.Reader
	msgID   int64
	buf     []byte
	timeout time.Duration
}

func newWireConn(nc net.Conn, timeout time.Duration) *wireConn {
	return &wireConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), timeout: timeout}
}

func (c *wireConn) Close() error { return c.nc.Close() }

// send writes one LDAPMessage with op and optional controls.
func (c *wireConn) send(op *ber.Packet, controls ...*ber.Packet) (int64, error) {
	c.msgID++
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, c.msgID, "MessageID"))
	msg.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, ctl := range controls {
			cs.AppendChild(ctl)
		}
		msg.AppendChild(cs)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := c.nc.Write(msg.Bytes()); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	return c.msgID, nil
}

// message is one decoded LDAPMessage; its slices point into the
// connection's buffer and are valid until the next read.
type message struct {
	id       int64
	opTag    int
	op       []byte // contents of protocolOp
	controls []byte // contents of [0] Controls, nil when absent
}

// read reads the next LDAPMessage. Every read must complete within the
// timeout: a server that stops answering fails the read.
func (c *wireConn) read() (message, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	tag, err := c.r.ReadByte()
	if err != nil {
		return message{}, fmt.Errorf("read: %w", noEOF(err))
	}
	if tag != 0x30 {
		return message{}, fmt.Errorf("%w: message starts with tag %#x", ErrProtocol, tag)
	}
	n, err := readLength(c.r)
	if err != nil {
		return message{}, err
	}
	if n > maxMessageSize {
		return message{}, fmt.Errorf("%w: message of %d bytes", ErrProtocol, n)
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return message{}, fmt.Errorf("read: %w", noEOF(err))
	}
	d := decoder{b: c.buf}
	var m message
	idTag, id, err := d.next()
	if err != nil || idTag != 0x02 {
		return message{}, fmt.Errorf("%w: bad message id", ErrProtocol)
	}
	m.id = parseInt(id)
	opTag, op, err := d.next()
	if err != nil {
		return message{}, err
	}
	if opTag&0xc0 != 0x40 { // APPLICATION class
		return message{}, fmt.Errorf("%w: protocolOp tag %#x", ErrProtocol, opTag)
	}
	m.opTag, m.op = int(opTag&0x1f), op
	if !d.done() {
		t, ctl, err := d.next()
		if err != nil {
			return message{}, err
		}
		if t == 0xa0 {
			m.controls = ctl
		}
	}
	if m.id == 0 { // unsolicited notification: the server is closing
		res, _ := parseResult(m.op)
		return message{}, fmt.Errorf("server sent a notice of disconnection: %w", &ResultError{Op: "notice", Code: res.code, Message: res.msg})
	}
	if m.id != c.msgID {
		return message{}, fmt.Errorf("%w: answer to message %d while waiting for %d", ErrProtocol, m.id, c.msgID)
	}
	return m, nil
}

// noEOF turns a bare EOF (the server closed the connection) into an error
// that says so: a closed connection mid-read is never a normal end.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("connection closed by the server: %w", io.ErrUnexpectedEOF)
	}
	return err
}

func readLength(r *bufio.Reader) (int, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, noEOF(err)
	}
	if b < 0x80 {
		return int(b), nil
	}
	k := int(b & 0x7f)
	if k == 0 || k > 4 {
		return 0, fmt.Errorf("%w: length of %d bytes", ErrProtocol, k)
	}
	n := 0
	for i := 0; i < k; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, noEOF(err)
		}
		n = n<<8 | int(b)
	}
	return n, nil
}

// decoder walks BER TLVs in a byte slice without copying.
type decoder struct {
	b []byte
	p int
}

func (d *decoder) done() bool { return d.p >= len(d.b) }

// next returns the tag and contents of the next element (definite lengths
// only, as LDAP requires; single-byte tags, which LDAP uses throughout).
func (d *decoder) next() (byte, []byte, error) {
	if d.p+2 > len(d.b) {
		return 0, nil, fmt.Errorf("%w: truncated element", ErrProtocol)
	}
	tag := d.b[d.p]
	if tag&0x1f == 0x1f {
		return 0, nil, fmt.Errorf("%w: multi-byte tag", ErrProtocol)
	}
	l := int(d.b[d.p+1])
	d.p += 2
	if l >= 0x80 {
		k := l & 0x7f
		if k == 0 || k > 4 || d.p+k > len(d.b) {
			return 0, nil, fmt.Errorf("%w: bad length", ErrProtocol)
		}
		l = 0
		for i := 0; i < k; i++ {
			l = l<<8 | int(d.b[d.p+i])
		}
		d.p += k
	}
	if l < 0 || d.p+l > len(d.b) {
		return 0, nil, fmt.Errorf("%w: element overruns its message", ErrProtocol)
	}
	v := d.b[d.p : d.p+l]
	d.p += l
	return tag, v, nil
}

func parseInt(b []byte) int64 {
	var n int64
	for i, c := range b {
		if i == 0 && c&0x80 != 0 {
			n = -1
		}
		n = n<<8 | int64(c)
	}
	return n
}

type ldapResult struct {
	code uint16
	msg  string
}

// parseResult decodes the LDAPResult fields at the start of op.
func parseResult(op []byte) (ldapResult, error) {
	d := decoder{b: op}
	_, code, err := d.next()
	if err != nil {
		return ldapResult{}, err
	}
	if _, _, err := d.next(); err != nil { // matchedDN
		return ldapResult{}, err
	}
	_, msg, err := d.next()
	if err != nil {
		return ldapResult{}, err
	}
	return ldapResult{code: uint16(parseInt(code)), msg: string(msg)}, nil
}

// bind does a simple bind (an empty dn and password: anonymous).
func (c *wireConn) bind(dn, password string) error {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "Bind Request")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "User Name"))
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, "Password"))
	return c.simpleOp("bind", req, protocolOpBindResp)
}

// startTLS upgrades the connection; the handshake verifies the server.
func (c *wireConn) startTLS(cfg *tls.Config) error {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 23, nil, "Extended Request")
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, startTLSOID, "StartTLS"))
	if err := c.simpleOp("start_tls", req, protocolOpExtendResp); err != nil {
		return err
	}
	if c.r.Buffered() > 0 {
		return fmt.Errorf("%w: data after the StartTLS response", ErrProtocol)
	}
	tc := tls.Client(c.nc, cfg)
	_ = tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("start_tls handshake: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	c.nc = tc
	c.r.Reset(tc)
	return nil
}

func (c *wireConn) simpleOp(name string, req *ber.Packet, want int) error {
	if _, err := c.send(req); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m, err := c.read()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if m.opTag != want {
		return fmt.Errorf("%s: %w: unexpected response type %d", name, ErrProtocol, m.opTag)
	}
	res, err := parseResult(m.op)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if res.code != codeSuccess {
		return &ResultError{Op: name, Code: res.code, Message: res.msg}
	}
	return nil
}

// unbind tells the server we are leaving; errors do not matter.
func (c *wireConn) unbind() {
	_, _ = c.send(ber.Encode(ber.ClassApplication, ber.TypePrimitive, 2, nil, "Unbind Request"))
}

// searchReq is one search; cookie carries the paged results state.
type searchReq struct {
	base     string
	scope    int
	filter   *ber.Packet
	attrs    []string
	pageSize int // 0: no paging control
	cookie   []byte
}

// rawAttr is one attribute of an entry as received; slices point into the
// connection buffer and are valid only inside the entry callback.
type rawAttr struct {
	name []byte
	vals [][]byte
}

// pageResult is what a search (or one page of it) ended with.
type pageResult struct {
	cookie     []byte // next page's cookie; empty at the end
	paged      bool   // the server returned a paged results control
	referrals  int    // continuation references skipped
	entries    int
	resultCode uint16
}

// search sends one search request (one page) and calls onEntry for every
// entry until SearchResultDone. Continuation references are counted and
// skipped. A non-success result code is returned as *ResultError.
func (c *wireConn) search(ctx context.Context, r *searchReq, onEntry func(dn []byte, attrs []rawAttr) error) (pageResult, error) {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 3, nil, "Search Request")
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, r.base, "Base DN"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, r.scope, "Scope"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, goldap.NeverDerefAliases, "Deref Aliases"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "Size Limit"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "Time Limit"))
	req.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "Types Only"))
	req.AppendChild(r.filter)
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range r.attrs {
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
	}
	req.AppendChild(attrs)
	var controls []*ber.Packet
	if r.pageSize > 0 {
		p := goldap.NewControlPaging(uint32(r.pageSize))
		p.SetCookie(r.cookie)
		controls = append(controls, p.Encode())
	}
	if _, err := c.send(req, controls...); err != nil {
		return pageResult{}, err
	}
	var res pageResult
	var attrBuf []rawAttr
	var valBuf [][]byte
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		m, err := c.read()
		if err != nil {
			return res, err
		}
		switch m.opTag {
		case protocolOpEntry:
			d := decoder{b: m.op}
			_, dn, err := d.next()
			if err != nil {
				return res, err
			}
			_, list, err := d.next()
			if err != nil {
				return res, err
			}
			attrBuf, valBuf = attrBuf[:0], valBuf[:0]
			ad := decoder{b: list}
			for !ad.done() {
				_, pa, err := ad.next()
				if err != nil {
					return res, err
				}
				pd := decoder{b: pa}
				_, name, err := pd.next()
				if err != nil {
					return res, err
				}
				_, set, err := pd.next()
				if err != nil {
					return res, err
				}
				start := len(valBuf)
				vd := decoder{b: set}
				for !vd.done() {
					_, v, err := vd.next()
					if err != nil {
						return res, err
					}
					valBuf = append(valBuf, v)
				}
				attrBuf = append(attrBuf, rawAttr{name: name, vals: valBuf[start:len(valBuf):len(valBuf)]})
			}
			res.entries++
			if err := onEntry(dn, attrBuf); err != nil {
				return res, err
			}
		case protocolOpReference:
			res.referrals++
		case protocolOpDone:
			lr, err := parseResult(m.op)
			if err != nil {
				return res, err
			}
			res.resultCode = lr.code
			if lr.code != codeSuccess {
				return res, &ResultError{Op: "search", Code: lr.code, Message: lr.msg}
			}
			if m.controls != nil {
				if err := parsePagedControl(m.controls, &res); err != nil {
					return res, err
				}
			}
			return res, nil
		default:
			return res, fmt.Errorf("%w: unexpected response type %d during a search", ErrProtocol, m.opTag)
		}
	}
}

// parsePagedControl finds the paged results control among controls.
func parsePagedControl(controls []byte, res *pageResult) error {
	d := decoder{b: controls}
	for !d.done() {
		_, ctl, err := d.next()
		if err != nil {
			return err
		}
		cd := decoder{b: ctl}
		_, oid, err := cd.next()
		if err != nil {
			return err
		}
		if string(oid) != pagedResultsOID {
			continue
		}
		var value []byte
		for !cd.done() {
			t, v, err := cd.next()
			if err != nil {
				return err
			}
			if t == 0x04 {
				value = v
			}
		}
		vd := decoder{b: value}
		_, seq, err := vd.next()
		if err != nil {
			return fmt.Errorf("paged results control: %w", err)
		}
		sd := decoder{b: seq}
		if _, _, err := sd.next(); err != nil { // size estimate
			return fmt.Errorf("paged results control: %w", err)
		}
		_, cookie, err := sd.next()
		if err != nil {
			return fmt.Errorf("paged results control: %w", err)
		}
		res.paged = true
		res.cookie = append([]byte(nil), cookie...)
	}
	return nil
}
