// Package notify tells people about runs that need them: a run that
// failed, was refused by the safety guard, held changes back, or
// (optionally) changed anything. It posts to a WeCom group robot (markdown)
// a generic JSON webhook (the run report) and/or e-mail (SMTP with
// STARTTLS and authentication). Delivery is bounded by a
// timeout and never affects the run: errors are returned for the caller to
// log and count.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/logging"
)

// Events a notification can be sent on (notify.on).
const (
	OnFailed  = "failed"  // the run failed, or some changes failed
	OnRefused = "refused" // the guard refused the run
	OnHeld    = "held"    // disables/deletes were held back
	OnChanged = "changed" // anything was changed (off by default)
	// OnAttention: the run finished but needs an admin (held changes,
	// rejected records, a source missing or incomplete).
	OnAttention = "attention"
)

// DefaultOn is quiet when all is well and loud when it is not.
var DefaultOn = []string{OnFailed, OnRefused, OnHeld, OnAttention}

// DefaultRobotURL is WeCom's group robot endpoint; the key goes in ?key=.
const DefaultRobotURL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"

// DefaultTimeout bounds each delivery.
const DefaultTimeout = 10 * time.Second

// Config is the `notify:` block:
//
//	notify:
//	  on: [failed, refused, held, attention]   # add changed to hear about every run that changed something
//	  timeout: 10s
//	  wecom_robot:
//	    key_file: $CREDENTIALS_DIRECTORY/robot-key   # or key: ${ORGSYNC_ROBOT_KEY}
//	  webhook:
//	    url: https://hooks.example.com/orgsync
//	    token_file: /etc/orgsync/webhook-token       # optional: Authorization: Bearer
//	  mail:                                          # see MailConfig
//	    host: smtp.example.com
//	    username: orgsync@example.com
//	    password_file: $CREDENTIALS_DIRECTORY/smtp-password
//	    from: orgsync@example.com
//	    to: [it-ops@example.com]
type Config struct {
	On         []string        `yaml:"on"`
	Timeout    config.Duration `yaml:"timeout"`
	WeComRobot *RobotConfig    `yaml:"wecom_robot"`
	Webhook    *WebhookConfig  `yaml:"webhook"`
	Mail       *MailConfig     `yaml:"mail"`
}

// RobotConfig is a WeCom group robot (群机器人).
type RobotConfig struct {
	Key     config.Secret `yaml:"key"`
	KeyFile string        `yaml:"key_file"`
	// URL overrides the robot endpoint (a proxy; tests).
	URL string `yaml:"url"`
}

// WebhookConfig is a generic JSON webhook.
type WebhookConfig struct {
	URL       string        `yaml:"url"`
	Token     config.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
}

// Decode reads the notify block strictly, with defaults; relative files
// resolve against the config file's directory.
func Decode(f *config.File) (Config, error) {
	var c Config
	decErr := config.DecodeBlock(&f.Notify, "notify", &c)
	if c.On == nil {
		c.On = DefaultOn
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
	if r := c.WeComRobot; r != nil {
		f.NormalizeSecretRef(&r.Key, &r.KeyFile)
		if r.URL == "" {
			r.URL = DefaultRobotURL
		}
	}
	if w := c.Webhook; w != nil {
		f.NormalizeSecretRef(&w.Token, &w.TokenFile)
	}
	if m := c.Mail; m != nil {
		m.applyDefaults(f)
	}
	return c, config.JoinProblems(decErr, c.Validate())
}

// Validate reports every problem in the block.
func (c Config) Validate() error {
	var probs config.Problems
	for _, on := range c.On {
		switch on {
		case OnFailed, OnRefused, OnHeld, OnChanged, OnAttention:
		default:
			probs = append(probs, fmt.Sprintf("notify.on: %q is not one of failed, refused, held, attention, changed", on))
		}
	}
	if c.Timeout < 0 {
		probs = append(probs, "notify.timeout: must not be negative")
	}
	if r := c.WeComRobot; r != nil {
		if r.Key.Empty() == (r.KeyFile == "") {
			probs = append(probs, "notify.wecom_robot: set key (e.g. key: ${ORGSYNC_ROBOT_KEY}) or key_file, exactly one")
		}
		if !httpURL(r.URL) {
			probs = append(probs, fmt.Sprintf("notify.wecom_robot.url: %q is not an http(s) URL", r.URL))
		}
	}
	if w := c.Webhook; w != nil {
		if !httpURL(w.URL) {
			probs = append(probs, fmt.Sprintf("notify.webhook.url: %q is not an http(s) URL", w.URL))
		}
		if !w.Token.Empty() && w.TokenFile != "" {
			probs = append(probs, "notify.webhook: set token or token_file, not both")
		}
	}
	if m := c.Mail; m != nil {
		probs = append(probs, m.validate()...)
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Notifier delivers notifications for finished runs.
type Notifier struct {
	cfg    Config
	client *http.Client
	host   string
}

// New builds a notifier. host names the machine in messages.
func New(cfg Config, host string) *Notifier {
	return &Notifier{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout.D()}, host: host}
}

// Enabled reports whether any channel is configured.
func (n *Notifier) Enabled() bool {
	return n.cfg.WeComRobot != nil || n.cfg.Webhook != nil || n.cfg.Mail != nil
}

// Events lists which of the configured events a run triggers (empty:
// nothing to send). A nil report is a run that failed before it was
// recorded.
func (n *Notifier) Events(rep *engine.Report) []string {
	var ev []string
	on := func(e string) bool { return slices.Contains(n.cfg.On, e) }
	if rep == nil {
		if on(OnFailed) {
			ev = append(ev, OnFailed)
		}
		return ev
	}
	if on(OnFailed) && (rep.Status == engine.StatusFailed || rep.Failed > 0) {
		ev = append(ev, OnFailed)
	}
	if on(OnRefused) && rep.Status == engine.StatusRefused {
		ev = append(ev, OnRefused)
	}
	if on(OnHeld) && rep.Held > 0 {
		ev = append(ev, OnHeld)
	}
	if on(OnAttention) && rep.Status == engine.StatusAttention {
		ev = append(ev, OnAttention)
	}
	if on(OnChanged) && !rep.DryRun && rep.Changes.Total() > 0 {
		ev = append(ev, OnChanged)
	}
	return ev
}

// ChannelError is a delivery failure on one channel.
type ChannelError struct {
	Channel string // "wecom_robot", "webhook" or "mail"
	Err     error
}

func (e *ChannelError) Error() string { return fmt.Sprintf("notify %s: %v", e.Channel, e.Err) }
func (e *ChannelError) Unwrap() error { return e.Err }

// Notify sends the run to every configured channel if it triggers an
// event, concurrently, each bounded by notify.timeout. runErr is the
// error RunOnce returned (shown when the report has none). It returns one
// *ChannelError per failed channel, joined; nil when all went out or
// nothing was due.
func (n *Notifier) Notify(ctx context.Context, rep *engine.Report, runErr error) error {
	events := n.Events(rep)
	if len(events) == 0 || !n.Enabled() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout.D())
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	send := func(channel string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, &ChannelError{Channel: channel, Err: err})
				mu.Unlock()
			}
		}()
	}
	if n.cfg.WeComRobot != nil {
		send("wecom_robot", func() error { return n.sendRobot(ctx, Markdown(rep, runErr, events, n.host)) })
	}
	if n.cfg.Webhook != nil {
		send("webhook", func() error { return n.sendWebhook(ctx, rep, runErr, events) })
	}
	if n.cfg.Mail != nil {
		send("mail", func() error { return n.sendMail(ctx, rep, runErr, events) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (n *Notifier) sendRobot(ctx context.Context, markdown string) error {
	r := n.cfg.WeComRobot
	key, err := config.ReadSecretRef(r.Key, r.KeyFile) // read per send: a rotated key is picked up
	if err != nil {
		return err
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("key", key.Reveal())
	u.RawQuery = q.Encode()
	body, _ := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": markdown}})
	resp, err := n.post(ctx, u.String(), body, "")
	if err != nil {
		return redactKey(err, key.Reveal())
	}
	var ans struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(resp, &ans); err != nil {
		return fmt.Errorf("robot answer is not JSON: %.200s", resp)
	}
	if ans.ErrCode != 0 {
		return fmt.Errorf("robot refused the message: errcode %d (%s)", ans.ErrCode, ans.ErrMsg)
	}
	return nil
}

// redactKey keeps the robot key (part of the URL) out of error messages.
func redactKey(err error, key string) error {
	if key == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), url.QueryEscape(key), "REDACTED"))
}

// WebhookPayload is the generic webhook's JSON body.
type WebhookPayload struct {
	Event  string         `json:"event"` // always "orgsync.run"
	Events []string       `json:"events"`
	Host   string         `json:"host"`
	Error  string         `json:"error,omitempty"`
	Report *engine.Report `json:"report"`
}

func (n *Notifier) sendWebhook(ctx context.Context, rep *engine.Report, runErr error, events []string) error {
	w := n.cfg.Webhook
	tok, err := config.ReadSecretRef(w.Token, w.TokenFile)
	if err != nil {
		return err
	}
	p := WebhookPayload{Event: "orgsync.run", Events: events, Host: n.host, Report: rep}
	if runErr != nil {
		p.Error = runErr.Error()
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = n.post(ctx, w.URL, body, tok.Reveal())
	return err
}

func (n *Notifier) post(ctx context.Context, u string, body []byte, bearer string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "orgsync")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	return b, nil
}

// maxMarkdown is WeCom's limit on a robot markdown message (bytes).
const maxMarkdown = 4096

// maxItems bounds the failures and held changes listed in a message.
const maxItems = 10

// Markdown renders a run for a WeCom group robot: the outcome, counts,
// held changes and failures with their hints. Mobiles and emails in error
// texts are masked: group chats are wide audiences.
func Markdown(rep *engine.Report, runErr error, events []string, host string) string {
	var b strings.Builder
	status := engine.StatusFailed
	if rep != nil {
		status = rep.Status
	}
	color := map[string]string{engine.StatusSucceeded: "info", engine.StatusFailed: "warning", engine.StatusRefused: "warning", engine.StatusAttention: "warning", engine.StatusInterrupted: "warning"}[status]
	fmt.Fprintf(&b, "**orgsync** on %s: <font color=\"%s\">%s</font>", host, color, status)
	if rep != nil && rep.RunID != 0 {
		fmt.Fprintf(&b, " (run %d)", rep.RunID)
	}
	b.WriteString("\n")
	if len(events) > 0 {
		fmt.Fprintf(&b, "> why you hear about it: %s\n", strings.Join(events, ", "))
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	if rep == nil {
		fmt.Fprintf(&b, "> error: %s\n", logging.Scrub(errText))
		return truncate(b.String())
	}
	if rep.Refusal != "" {
		fmt.Fprintf(&b, "> refused: %s\n", logging.Scrub(rep.Refusal))
	} else if rep.Error != "" {
		fmt.Fprintf(&b, "> error: %s\n", logging.Scrub(rep.Error))
	} else if errText != "" {
		fmt.Fprintf(&b, "> error: %s\n", logging.Scrub(errText))
	}
	var ops []string
	for _, op := range rep.Changes.Ops() {
		ops = append(ops, fmt.Sprintf("%s %d", op, rep.Changes[op]))
	}
	if len(ops) == 0 {
		ops = []string{"none"}
	}
	fmt.Fprintf(&b, "> changes: %s\n", strings.Join(ops, ", "))
	fmt.Fprintf(&b, "> held: <font color=\"comment\">%d</font>  failed: <font color=\"comment\">%d</font>  rejected records: %d  API calls: %d\n",
		rep.Held, rep.Failed, rep.RejectedRecords, rep.APICalls)
	for _, p := range rep.SourceProblems {
		fmt.Fprintf(&b, "> source problem: %s\n", logging.Scrub(p))
	}
	if len(rep.HeldChanges) > 0 {
		b.WriteString("\n**held**\n")
		for i, h := range rep.HeldChanges {
			if i == maxItems {
				fmt.Fprintf(&b, "- … and %d more\n", rep.Held-maxItems)
				break
			}
			fmt.Fprintf(&b, "- %s %s: %s\n", h.Op, h.Object, logging.Scrub(h.Reason))
		}
	}
	if len(rep.Failures) > 0 {
		b.WriteString("\n**failures**\n")
		for i, f := range rep.Failures {
			if i == maxItems {
				fmt.Fprintf(&b, "- … and %d more (orgsync history -c FILE)\n", rep.Failed-maxItems)
				break
			}
			fmt.Fprintf(&b, "- %s %s: %s\n", f.Op, f.Object, logging.Scrub(f.Error))
		}
	}
	return truncate(b.String())
}

func truncate(s string) string {
	if len(s) <= maxMarkdown {
		return s
	}
	const tail = "\n…"
	cut := maxMarkdown - len(tail)
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + tail
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
