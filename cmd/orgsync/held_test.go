package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/state"
)

func heldRows(t *testing.T, cfg string, args ...string) []state.HeldChange {
	t.Helper()
	out, code := run(t, append([]string{"held", "list", "-c", cfg, "--output", "json"}, args...)...)
	if code != ExitOK {
		t.Fatalf("held list: exit %d: %s", code, out)
	}
	var hs []state.HeldChange
	if err := json.Unmarshal([]byte(out), &hs); err != nil {
		t.Fatalf("held list --output json: %v\n%s", err, out)
	}
	return hs
}

func TestHeldCommandsReviewARefusedRunAndApproveItNow(t *testing.T) {
	en := newCLIEnv(t, 20)
	if out, code := run(t, "sync", "-c", en.cfg); code != ExitOK {
		t.Fatalf("first sync: %d %s", code, out)
	}
	en.writePeople(t, 14) // 6 leavers, over max_disables 10%
	if out, code := run(t, "sync", "-c", en.cfg); code != ExitRefused {
		t.Fatalf("leaver night: exit %d, want %d: %s", code, ExitRefused, out)
	}
	if hs := heldRows(t, en.cfg); len(hs) != 6 || hs[0].Op != "user_disable" || hs[0].Status != state.HeldHeld {
		t.Fatalf("queue after the refusal: %+v", hs)
	}
	out, code := run(t, "held", "list", "-c", en.cfg)
	if code != ExitOK || !strings.Contains(out, "user_disable") || !strings.Contains(out, "e015") || !strings.Contains(out, "refused") {
		t.Fatalf("held list: %d\n%s", code, out)
	}
	out, code = run(t, "held", "show", "-c", en.cfg, "1")
	if code != ExitOK || !strings.Contains(out, "reason:") || !strings.Contains(out, "before:") || !strings.Contains(out, "held      run") {
		t.Fatalf("held show: %d\n%s", code, out)
	}

	for _, bad := range [][]string{
		{"held", "approve", "-c", en.cfg},
		{"held", "approve", "-c", en.cfg, "1", "--all"},
		{"held", "approve", "-c", en.cfg, "x1"},
		{"held", "approve", "-c", en.cfg, "--kind", "user_frobnicate"},
		{"held", "show", "-c", en.cfg},
	} {
		if out, code := run(t, bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", bad, code, ExitUsage, out)
		}
	}
	if out, code := run(t, "held", "approve", "-c", en.cfg, "99"); code != ExitFailed || !strings.Contains(out, "no such held change") {
		t.Fatalf("approve an unknown id: %d %s", code, out)
	}

	out, code = run(t, "held", "approve", "-c", en.cfg, "--kind", "user_disable", "--now", "--note", "HR confirmed")
	if code != ExitOK {
		t.Fatalf("approve --now: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "approved 6 changes") {
		t.Fatalf("approve --now does not say what it approved:\n%s", out)
	}
	for _, h := range heldRows(t, en.cfg, "--all") {
		if h.Status != state.HeldApplied {
			t.Fatalf("%s %s is %s after --now, want applied", h.Op, h.Object, h.Status)
		}
		if h.DecidedBy != osActor() {
			t.Fatalf("decided by %q, want the OS user %q", h.DecidedBy, osActor())
		}
	}
	out, _ = run(t, "held", "show", "-c", en.cfg, "1")
	if !strings.Contains(out, "approved  "+osActor()+": HR confirmed") || !strings.Contains(out, "applied") {
		t.Fatalf("the log does not show who approved and that it was applied:\n%s", out)
	}
}

func TestHeldRejectKeepsAChangeOut(t *testing.T) {
	en := newCLIEnv(t, 20)
	run(t, "sync", "-c", en.cfg)
	en.writePeople(t, 14)
	run(t, "sync", "-c", en.cfg)
	if out, code := run(t, "held", "reject", "-c", en.cfg, "--all"); code != ExitOK || !strings.Contains(out, "rejected 6 changes") {
		t.Fatalf("reject --all: %d %s", code, out)
	}
	if out, code := run(t, "sync", "-c", en.cfg); code != ExitOK {
		t.Fatalf("sync after rejecting the disables: exit %d, want 0 (nothing left to do)\n%s", code, out)
	}
	if len(heldRows(t, en.cfg)) != 6 {
		t.Fatal("the rejected changes left the queue")
	}
	if out, code := run(t, "held", "approve", "-c", en.cfg, "--all"); code != ExitOK || !strings.Contains(out, "no held changes to approve") {
		t.Fatalf("approve --all with nothing held: %d %s", code, out)
	}
}

func TestHeldNamesTheDaemonsAPIWhileTheStoreIsInUse(t *testing.T) {
	en := newCLIEnv(t, 5)
	st, err := state.Open(context.Background(), filepath.Join(en.dir, "state.db")) // as the daemon holds it
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out, code := run(t, "held", "list", "-c", en.cfg)
	if code != ExitFailed || !strings.Contains(out, "/v1/held") || !strings.Contains(out, "/ui/") {
		t.Fatalf("exit %d, want %d naming the daemon's API and page:\n%s", code, ExitFailed, out)
	}
}
