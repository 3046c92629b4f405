package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/orgsync/orgsync/internal/testservers"
	"github.com/orgsync/orgsync/state"
)

// The review page in a real headless Chromium (Debian's chromium). The
// read-only page through chromium's own --dump-dom and --screenshot; login
// and approve with the keyboard alone through the DevTools protocol
// (chromedp: the maintained Go client of that protocol, which this needs
// to send key events and read the focused element).

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// shotDir is where screenshots go: t.TempDir(), or $ORGSYNC_UI_SCREENSHOTS
// to keep them for a look.
func shotDir(t *testing.T) string {
	if d := os.Getenv("ORGSYNC_UI_SCREENSHOTS"); d != "" {
		return d
	}
	return t.TempDir()
}

func chromiumArgs(t *testing.T) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900"}
}

func TestTheReadOnlyPageInChromium(t *testing.T) {
	chromium := testservers.NeedTool(t, "chromium")
	h := newHeldEnv(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	dom, err := exec.CommandContext(ctx, chromium, append(chromiumArgs(t), "--dump-dom", h.srv.URL+"/ui/")...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{`id="held-1"`, `data-op="user_disable"`, `data-object="e015"`, "refused", `id="runs"`, "max_disables", `id="readonly"`} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("the DOM Chromium built has no %s", want)
		}
	}
	if bytes.Contains(dom, []byte("<button")) {
		t.Error("the read-only page has buttons")
	}

	shot := filepath.Join(shotDir(t), "readonly.png")
	cmd := exec.CommandContext(ctx, chromium, append(chromiumArgs(t), "--screenshot="+shot, h.srv.URL+"/ui/")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 1000 || !bytes.HasPrefix(png, pngMagic) {
		t.Fatalf("screenshot: %d bytes, err %v", len(png), err)
	}
}

// tabTo presses Tab until the element with id has the focus.
func tabTo(id string, max int) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for i := 0; i < max; i++ {
			active, err := chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`)(ctx, tg)
			if err != nil {
				return err
			}
			if active == id {
				return nil
			}
			if _, err := chromedp.KeyEvent(kb.Tab)(ctx, tg); err != nil {
				return err
			}
		}
		return fmt.Errorf("#%s never got the focus by Tab", id)
	})
}

func TestLoginAndApproveWithTheKeyboardAloneInChromium(t *testing.T) {
	chromium := testservers.NeedTool(t, "chromium")
	h := newHeldEnv(t, testToken)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	step := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	html := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatalf("read the DOM: %v", err)
		}
		return s
	}
	step("open the page", chromedp.Navigate(h.srv.URL+"/ui/"))
	step("wait for the login form", chromedp.WaitVisible(chromedp.ID("token")))
	if strings.Contains(html(), "user_disable") {
		t.Error("the page showed held changes before login")
	}
	step("Tab to the token field", tabTo("token", 10))
	step("type the token", chromedp.KeyEvent(testToken))
	step("Enter", chromedp.KeyEvent(kb.Enter))
	step("wait for the held changes", chromedp.WaitVisible(chromedp.ID("held-table")))
	if dom := html(); !strings.Contains(dom, `id="held-6"`) || !strings.Contains(dom, "e015") {
		t.Errorf("after login the page does not list the held changes:\n%s", dom)
	}
	step("Tab to Approve #1", tabTo("approve-1", 60))
	step("Enter", chromedp.KeyEvent(kb.Enter))
	step("wait for the outcome", chromedp.WaitVisible(chromedp.CSS(`#held-1[data-status="approved"]`)))
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("msg")))
	if err != nil || !strings.Contains(msg, "approved 1: #1 user_disable") {
		t.Fatalf("after Enter on Approve: %q %v", msg, err)
	}
	hc, err := h.d.eng.Store().GetHeld(context.Background(), 1)
	if err != nil || hc.Status != state.HeldApproved || hc.DecidedBy != WebActor {
		t.Fatalf("held #1 after the keyboard approval: %+v %v", hc, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil || len(shot) < 1000 || !bytes.HasPrefix(shot, pngMagic) {
		t.Fatalf("screenshot: %d bytes, err %v", len(shot), err)
	}
	if err := os.WriteFile(filepath.Join(shotDir(t), "approved.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}
