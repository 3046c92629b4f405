package ldap

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// pipeConn is a net.Conn that reads canned server bytes and discards writes.
type pipeConn struct {
	net.Conn
	r *bytes.Reader
}

func (p *pipeConn) Read(b []byte) (int, error)       { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (p *pipeConn) Close() error                     { return nil }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

func ldapMsg(id int64, op *ber.Packet, controls ...*ber.Packet) []byte {
	m := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	m.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, c := range controls {
			cs.AppendChild(c)
		}
		m.AppendChild(cs)
	}
	return m.Bytes()
}

func entryOp(dn string, attrs map[string][]string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, protocolOpEntry, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for name, vals := range attrs {
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		a.AppendChild(set)
		list.AppendChild(a)
	}
	op.AppendChild(list)
	return op
}

func doneOp(code int64, msg string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, protocolOpDone, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, msg, ""))
	return op
}

func referenceOp(url string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, protocolOpReference, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, url, ""))
	return op
}

func searchOnce(t *testing.T, server []byte) (pageResult, []string, error) {
	t.Helper()
	c := newWireConn(&pipeConn{r: bytes.NewReader(server)}, time.Second)
	f, _ := goldap.CompileFilter("(objectClass=*)")
	var dns []string
	res, err := c.search(context.Background(), &searchReq{base: "dc=x", filter: f, pageSize: 2}, func(dn []byte, _ []rawAttr) error {
		dns = append(dns, string(dn))
		return nil
	})
	return res, dns, err
}

func TestWireSearch(t *testing.T) {
	paging := goldap.NewControlPaging(2)
	paging.SetCookie([]byte("next"))
	t.Run("reads entries, skips references and returns the paging cookie", func(t *testing.T) {
		var s []byte
		s = append(s, ldapMsg(1, entryOp("cn=a,dc=x", map[string][]string{"cn": {"a"}}))...)
		s = append(s, ldapMsg(1, referenceOp("ldap://other/dc=x"))...)
		s = append(s, ldapMsg(1, entryOp("cn=b,dc=x", nil))...)
		s = append(s, ldapMsg(1, doneOp(0, ""), paging.Encode())...)
		res, dns, err := searchOnce(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(dns) != 2 || res.referrals != 1 || !res.paged || string(res.cookie) != "next" {
			t.Fatalf("dns=%v res=%+v", dns, res)
		}
	})
	t.Run("a connection closed before SearchResultDone is an error", func(t *testing.T) {
		s := ldapMsg(1, entryOp("cn=a,dc=x", nil))
		_, _, err := searchOnce(t, s)
		if err == nil {
			t.Fatal("a search without its Done message succeeded")
		}
	})
	t.Run("a message cut in the middle is an error", func(t *testing.T) {
		s := ldapMsg(1, entryOp("cn=a,dc=x", map[string][]string{"cn": {"a"}}))
		_, _, err := searchOnce(t, s[:len(s)-3])
		if err == nil {
			t.Fatal("a truncated message succeeded")
		}
	})
	t.Run("a non-success result code is a ResultError", func(t *testing.T) {
		_, _, err := searchOnce(t, ldapMsg(1, doneOp(4, "size limit")))
		re, ok := err.(*ResultError)
		if !ok || re.Code != 4 {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("an answer to another message is a protocol error", func(t *testing.T) {
		_, _, err := searchOnce(t, ldapMsg(7, doneOp(0, "")))
		if err == nil {
			t.Fatal("accepted an answer with the wrong message id")
		}
	})
	t.Run("a notice of disconnection is an error", func(t *testing.T) {
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, protocolOpExtendResp, nil, "")
		op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 52, ""))
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "shutting down", ""))
		_, _, err := searchOnce(t, ldapMsg(0, op))
		if err == nil {
			t.Fatal("a notice of disconnection was ignored")
		}
	})
}

// FuzzWireSearch feeds arbitrary server bytes to the search reader: it must
// return (an error, usually) and never panic or loop.
func FuzzWireSearch(f *testing.F) {
	paging := goldap.NewControlPaging(2)
	f.Add(append(ldapMsg(1, entryOp("cn=a,dc=x", map[string][]string{"cn": {"a", "b"}})), ldapMsg(1, doneOp(0, ""), paging.Encode())...))
	f.Add(ldapMsg(1, referenceOp("ldap://x")))
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, server []byte) {
		c := newWireConn(&pipeConn{r: bytes.NewReader(server)}, time.Second)
		filter, _ := goldap.CompileFilter("(objectClass=*)")
		_, _ = c.search(context.Background(), &searchReq{base: "dc=x", filter: filter}, func([]byte, []rawAttr) error { return nil })
	})
}
