package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Options{RateLimitPerMinute: 3})
	// The fake clock starts on a minute boundary; stay inside the window.
	e.clock.Advance(10 * time.Second)
	t.Run("45009: the call over the limit, for the rest of the window", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			expect(t, e.get("department/simplelist"), 0)
		}
		expect(t, e.get("department/simplelist"), 45009)
		e.clock.Advance(49 * time.Second) // 59s into the minute
		expect(t, e.get("department/simplelist"), 45009)
	})
	t.Run("limits are per API", func(t *testing.T) {
		expect(t, e.post("user/list_id", m{}), 0)
	})
	t.Run("0: the next window starts afresh", func(t *testing.T) {
		e.clock.Advance(time.Second)
		expect(t, e.get("department/simplelist"), 0)
	})
	t.Run("45009 is counted in the stats", func(t *testing.T) {
		if n := e.emu.Stats().Errors["department/simplelist"][45009]; n != 2 {
			t.Fatalf("45009 count %d, want 2", n)
		}
	})
}

func TestRateLimitPerHour(t *testing.T) {
	e := newEnv(t, Options{RateLimitPerMinute: 2, RateLimitPerHour: 3})
	t.Run("45009: over the hourly limit, across minute windows, until the hour ends", func(t *testing.T) {
		expect(t, e.get("department/simplelist"), 0)
		expect(t, e.get("department/simplelist"), 0)
		e.clock.Advance(time.Minute)
		expect(t, e.get("department/simplelist"), 0)
		expect(t, e.get("department/simplelist"), 45009)
		e.clock.Advance(58 * time.Minute)
		expect(t, e.get("department/simplelist"), 45009)
		e.clock.Advance(time.Minute)
		expect(t, e.get("department/simplelist"), 0)
	})
}

func TestBadSecretBan(t *testing.T) {
	e := newEnv(t, Options{BadSecretBan: 2})
	get := func(secret string) resp {
		return e.raw(http.MethodGet, "/cgi-bin/gettoken?corpid="+testCorp+"&corpsecret="+secret, nil, "")
	}
	t.Run("45009: gettoken from an IP after repeated wrong secrets, even with the right one", func(t *testing.T) {
		expect(t, get("wrong"), 40001)
		expect(t, get("wrong"), 40001)
		expect(t, get("wrong"), 45009)
		expect(t, get(editSecret), 45009)
	})
	t.Run("0: the block ends with the hour", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		expect(t, get(editSecret), 0)
	})
}

func TestRateLimitUnlimited(t *testing.T) {
	e := newEnv(t, Options{RateLimitPerMinute: -1})
	for i := 0; i < 50; i++ {
		expect(t, e.get("department/simplelist"), 0)
	}
}

// faultTrace makes n calls and records what each got: an errcode, "5xx"
// or "drop".
func faultTrace(t *testing.T, seed int64, n int) []string {
	e := newEnv(t, Options{Seed: seed, Faults: Faults{Rate: 0.5}, RateLimitPerMinute: -1})
	// Without keep-alives: net/http silently retries an idempotent request
	// whose reused connection was closed, which would hide drops.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var out []string
	for i := 0; i < n; i++ {
		res, err := client.Get(e.srv.URL + "/cgi-bin/department/simplelist?access_token=" + e.token)
		if err != nil {
			out = append(out, "drop")
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			if len(b) != 0 {
				t.Fatalf("5xx with a body %q", b)
			}
			out = append(out, "5xx")
			continue
		}
		var r resp
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(r.code()))
	}
	return out
}

func TestFaultInjection(t *testing.T) {
	a := faultTrace(t, 42, 60)
	t.Run("the same seed gives the same fault sequence", func(t *testing.T) {
		b := faultTrace(t, 42, 60)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("\n%v\n%v", a, b)
		}
	})
	t.Run("every default kind occurs: -1, 6000, 45033, 5xx, drop, and successes", func(t *testing.T) {
		seen := map[string]bool{}
		for _, x := range a {
			seen[x] = true
		}
		for _, k := range []string{"0", "-1", "6000", "45033", "5xx", "drop"} {
			if !seen[k] {
				t.Errorf("%s never seen in %v", k, a)
			}
		}
	})
	t.Run("a different seed gives a different sequence", func(t *testing.T) {
		if fmt.Sprint(a) == fmt.Sprint(faultTrace(t, 7, 60)) {
			t.Fatal("seeds 42 and 7 agree")
		}
	})
	t.Run("gettoken is never faulted", func(t *testing.T) {
		e := newEnv(t, Options{Faults: Faults{Rate: 1}})
		for i := 0; i < 20; i++ {
			e.tokenFor(editSecret)
		}
	})
	t.Run("SetFaults switches faults at runtime; kinds restrict them", func(t *testing.T) {
		e := newEnv(t, Options{})
		expect(t, e.get("department/simplelist"), 0)
		e.emu.SetFaults(Faults{Rate: 1, Kinds: []string{FaultConflict}})
		expect(t, e.get("department/simplelist"), 6000)
		if st := e.emu.Stats(); st.Faults[FaultConflict] != 1 || st.Errors["department/simplelist"][6000] != 1 {
			t.Fatalf("stats %+v", st)
		}
		e.emu.SetFaults(Faults{})
		expect(t, e.get("department/simplelist"), 0)
	})
	t.Run("42001: token_expired kind expires the caller's token", func(t *testing.T) {
		e := newEnv(t, Options{Faults: Faults{Rate: 1, Kinds: []string{FaultTokenExpiry}}})
		expect(t, e.get("department/simplelist"), 42001)
		e.emu.SetFaults(Faults{})
		expect(t, e.get("department/simplelist"), 42001)
		expect(t, e.getWith(e.tokenFor(editSecret), "department/simplelist"), 0)
	})
	t.Run("invalid settings are refused", func(t *testing.T) {
		for _, f := range []Faults{{Rate: 2}, {Rate: 0.1, Kinds: []string{"meteor"}}} {
			if f.Validate() == nil {
				t.Errorf("%+v accepted", f)
			}
			if _, err := New(Options{Faults: f}, nil); err == nil {
				t.Errorf("New accepted %+v", f)
			}
		}
	})
}

func TestLatency(t *testing.T) {
	e := newEnv(t, Options{Latency: 80 * time.Millisecond})
	start := time.Now()
	expect(t, e.get("department/simplelist"), 0)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("call took %v, want at least the 80ms latency", d)
	}
}

func TestConcurrencyCap(t *testing.T) {
	e := newEnv(t, Options{MaxConcurrentPerAPI: 1, Latency: 300 * time.Millisecond, RateLimitPerMinute: -1})
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(e.srv.URL + "/cgi-bin/department/simplelist?access_token=" + e.token)
			if err != nil {
				codes[i] = -999
				return
			}
			defer res.Body.Close()
			var r resp
			b, _ := io.ReadAll(res.Body)
			_ = json.Unmarshal(b, &r)
			codes[i] = r.code()
		}()
	}
	wg.Wait()
	n45033 := 0
	for _, c := range codes {
		if c == 45033 {
			n45033++
		}
	}
	t.Run("45033: calls over the per-API concurrency cap", func(t *testing.T) {
		if n45033 == 0 {
			t.Fatalf("codes %v, want some 45033", codes)
		}
	})
}

// TestConcurrentWrites runs creates, updates, reads and deletes in parallel
// (meant for -race) and checks the indexes stay consistent.
func TestConcurrentWrites(t *testing.T) {
	e := newEnv(t, Options{RateLimitPerMinute: -1})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				r := e.postQuiet("user/create", m{"userid": id, "name": id, "mobile": fmt.Sprintf("139%04d%04d", w, i)})
				if r.code() != 0 {
					errs <- fmt.Errorf("create %s: %v", id, r)
					return
				}
				if i%2 == 0 {
					if r := e.postQuiet("user/batchdelete", m{"useridlist": []string{id}}); r.code() != 0 {
						errs <- fmt.Errorf("delete %s: %v", id, r)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(e.emu.State().Users); n != 80 {
		t.Fatalf("%d users, want 80", n)
	}
	if n := len(e.emu.dir.mobiles); n != 80 {
		t.Fatalf("mobile index has %d entries, want 80", n)
	}
}

// postQuiet is post without t.Fatal, for goroutines.
func (e *env) postQuiet(api string, body any) resp {
	b, _ := json.Marshal(body)
	res, err := http.Post(e.srv.URL+"/cgi-bin/"+api+"?access_token="+e.token, "application/json", bytes.NewReader(b))
	if err != nil {
		return resp{"errcode": float64(-999), "err": err.Error()}
	}
	defer res.Body.Close()
	var r resp
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		return resp{"errcode": float64(-999), "err": errors.New("decode").Error()}
	}
	return r
}
