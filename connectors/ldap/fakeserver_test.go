package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// fakeLDAP is a scripted LDAP server for the failures a real slapd cannot
// be made to produce on cue (a page cut short, a server that stops
// answering mid-page, a dropped paging control). It accepts any simple
// bind and answers the n-th search of a connection (n from 1) with
// script(n, reply). The test's side of the protocol is encoded with the
// same BER library go-ldap uses; nothing here parses what the source reads.
type fakeLDAP struct {
	URL  string
	stop chan struct{}
}

// fakeReply writes the responses to one search request.
type fakeReply struct {
	conn net.Conn
	id   int64
	stop <-chan struct{}
}

func startFakeLDAP(t testing.TB, script func(page int, r fakeReply)) *fakeLDAP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLDAP{URL: "ldap://" + ln.Addr().String(), stop: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(f.stop)
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-f.stop; c.Close() }()
				f.serve(c, script)
			}()
		}
	}()
	return f
}

func (f *fakeLDAP) serve(c net.Conn, script func(int, fakeReply)) {
	page := 0
	for {
		req, err := ber.ReadPacket(c)
		if err != nil || len(req.Children) < 2 {
			return
		}
		id, _ := req.Children[0].Value.(int64)
		switch req.Children[1].Tag {
		case goldap.ApplicationBindRequest:
			if writeResult(c, id, goldap.ApplicationBindResponse, 0, "", nil) != nil {
				return
			}
		case goldap.ApplicationSearchRequest:
			page++
			script(page, fakeReply{conn: c, id: id, stop: f.stop})
		default: // unbind, abandon
			return
		}
	}
}

// stall holds the connection open without answering until the test ends.
func (r fakeReply) stall() { <-r.stop }

func writeResult(c net.Conn, id int64, tag ber.Tag, code int64, msg string, controls []goldap.Control) error {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, msg, ""))
	return writeMessage(c, id, op, controls)
}

func writeMessage(c net.Conn, id int64, op *ber.Packet, controls []goldap.Control) error {
	m := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	m.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, ctl := range controls {
			cs.AppendChild(ctl.Encode())
		}
		m.AppendChild(cs)
	}
	_, err := c.Write(m.Bytes())
	return err
}

// entry sends a SearchResultEntry; attrs are name, value pairs.
func (r fakeReply) entry(dn string, attrs ...string) {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for i := 0; i+1 < len(attrs); i += 2 {
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, attrs[i], ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, attrs[i+1], ""))
		a.AppendChild(set)
		list.AppendChild(a)
	}
	op.AppendChild(list)
	_ = writeMessage(r.conn, r.id, op, nil)
}

// person sends the entry of uid under dc=x.
func (r fakeReply) person(uid string) {
	r.entry("uid="+uid+",ou=研发,dc=x", "uid", uid, "cn", "员工"+uid)
}

// reference sends a search continuation reference.
func (r fakeReply) reference(url string) {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultReference, nil, "")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, url, ""))
	_ = writeMessage(r.conn, r.id, op, nil)
}

// done ends the page with code; a non-nil cookie adds the paged results
// control (an empty one: the last page).
func (r fakeReply) done(code int64, msg string, cookie []byte) {
	var controls []goldap.Control
	if cookie != nil {
		p := goldap.NewControlPaging(0)
		p.SetCookie(cookie)
		controls = append(controls, p)
	}
	_ = writeResult(r.conn, r.id, goldap.ApplicationSearchResultDone, code, msg, controls)
}

func fakeConfig(f *fakeLDAP) *Config {
	return &Config{
		URL:          URLList{f.URL},
		BindDN:       "cn=svc,dc=x",
		BindPassword: "secret",
		BaseDN:       "dc=x",
		Attributes:   []string{"uid", "cn", "member"},
		KeyAttribute: "uid",
		PageSize:     2,
		Timeout:      5 * time.Second,
	}
}

func TestScriptedServer(t *testing.T) {
	t.Run("reads every page and skips continuation references", func(t *testing.T) {
		f := startFakeLDAP(t, func(page int, r fakeReply) {
			switch page {
			case 1:
				r.person("a")
				r.reference("ldap://other.example/dc=x")
				r.person("b")
				r.done(0, "", []byte("c1"))
			case 2:
				r.person("c")
				r.done(0, "", []byte{})
			}
		})
		b, err := openSource(t, fakeConfig(f)).List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var uids []string
		for _, r := range b.Records {
			uids = append(uids, r.String("uid"))
		}
		if got := strings.Join(uids, ","); got != "a,b,c" {
			t.Fatalf("uids %s, want a,b,c", got)
		}
		if got := b.Records[0].String("ou_path"); got != "研发" {
			t.Fatalf("ou_path %q", got)
		}
	})

	t.Run("a server that ignores paging returns everything in one page", func(t *testing.T) {
		f := startFakeLDAP(t, func(page int, r fakeReply) {
			r.person("a")
			r.person("b")
			r.person("c")
			r.done(0, "", nil)
		})
		b, err := openSource(t, fakeConfig(f)).List(context.Background())
		if err != nil || len(b.Records) != 3 {
			t.Fatalf("err=%v batch=%v", err, b)
		}
	})

	failures := []struct {
		name   string
		script func(page int, r fakeReply)
		want   string
	}{
		{
			name: "a connection closed in the middle of a page fails the read",
			script: func(page int, r fakeReply) {
				r.person("a")
				r.person("b")
				r.conn.Close()
			},
			want: "page 1",
		},
		{
			name: "a connection closed between pages fails the read",
			script: func(page int, r fakeReply) {
				if page == 1 {
					r.person("a")
					r.person("b")
					r.done(0, "", []byte("c1"))
					r.conn.Close()
				}
			},
			want: "page 2",
		},
		{
			name: "a page that drops the paging control fails the read",
			script: func(page int, r fakeReply) {
				r.person("p" + string(rune('0'+page)))
				if page == 1 {
					r.done(0, "", []byte("c1"))
				} else {
					r.done(0, "", nil)
				}
			},
			want: "dropped the paged results control",
		},
		{
			name: "a non-success result on a later page fails the read",
			script: func(page int, r fakeReply) {
				if page == 1 {
					r.person("a")
					r.done(0, "", []byte("c1"))
					return
				}
				r.done(goldap.LDAPResultBusy, "try later", nil)
			},
			want: "Busy",
		},
		{
			name: "an entry that cannot be read fails the read while later pages arrive",
			script: func(page int, r fakeReply) {
				if page == 1 {
					// A ranged attribute must start at 0.
					r.entry("uid=a,dc=x", "uid", "a", "member;range=5-9", "uid=b,dc=x")
				} else {
					r.person("p" + string(rune('0'+page)))
				}
				r.done(0, "", []byte("more"))
			},
			want: "starts at range 5",
		},
		{
			name: "a server that stops answering mid-page fails the read at the timeout",
			script: func(page int, r fakeReply) {
				r.person("a")
				r.stall()
			},
			want: "timeout",
		},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeLDAP(t, tt.script)
			c := fakeConfig(f)
			c.Timeout = 300 * time.Millisecond
			t0 := time.Now()
			b, err := openSource(t, c).List(context.Background())
			if err == nil {
				t.Fatalf("read %d records without error", len(b.Records))
			}
			if !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want an ErrRead mentioning %q", err, tt.want)
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}

	t.Run("cancelling while the server is silent returns at once", func(t *testing.T) {
		f := startFakeLDAP(t, func(_ int, r fakeReply) { r.stall() })
		c := fakeConfig(f)
		c.Timeout = time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		t0 := time.Now()
		_, err := openSource(t, c).List(ctx)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRead) {
			t.Fatalf("err = %v, want a cancelled ErrRead", err)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Fatalf("took %s after cancelling", d)
		}
	})
}

// A server that accepts connections and never answers: cancelling the
// context must end a List stuck in the bind (or StartTLS) at once, not at
// the timeout.
func TestCancelDuringBind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }() // held open, never answered
		}
	}()
	for _, startTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("start_tls=%v", startTLS), func(t *testing.T) {
			c := validConfig()
			c.URL = URLList{"ldap://" + ln.Addr().String()}
			c.StartTLS = startTLS
			c.Timeout = 10 * time.Second // well past the 5s this test allows
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			t0 := time.Now()
			_, err := openSource(t, c).List(ctx)
			if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRead) {
				t.Fatalf("err = %v, want a cancelled ErrRead", err)
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Fatalf("took %s after cancelling", d)
			}
		})
	}
}
