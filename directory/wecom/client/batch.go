package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Media is the answer of media/upload. A media_id lives three days.
type Media struct {
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt string `json:"created_at"` // a Unix timestamp, as a string
}

// UploadMedia uploads a temporary file (mediaType "file" for batch CSVs,
// "image" for avatars) as the multipart field "media". The whole file is
// held in memory so that a retried POST can resend it.
func (c *Client) UploadMedia(ctx context.Context, mediaType, filename string, data []byte) (*Media, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="media"; filename="%s"; filelength=%d`,
		escapeQuotes(filename), len(data)))
	h.Set("Content-Type", "application/octet-stream")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, fmt.Errorf("wecom media/upload: %w", err)
	}
	if _, err := part.Write(data); err != nil {
		return nil, fmt.Errorf("wecom media/upload: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("wecom media/upload: %w", err)
	}
	var out Media
	err = c.call(ctx, request{
		api: "media/upload", method: http.MethodPost, query: url.Values{"type": {mediaType}},
		body: buf.Bytes(), ctype: mw.FormDataContentType(),
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }

// BatchCallback asks WeCom to notify a URL when a job ends.
type BatchCallback struct {
	URL            string `json:"url,omitempty"`
	Token          string `json:"token,omitempty"`
	EncodingAESKey string `json:"encodingaeskey,omitempty"`
}

// BatchJob is the body of batch/syncuser, batch/replaceuser and
// batch/replaceparty: an uploaded CSV's media_id.
type BatchJob struct {
	MediaID  string         `json:"media_id"`
	ToInvite *bool          `json:"to_invite,omitempty"` // user jobs only; default true
	Callback *BatchCallback `json:"callback,omitempty"`
}

func (c *Client) startJob(ctx context.Context, api string, job BatchJob) (string, error) {
	var out struct {
		JobID string `json:"jobid"`
	}
	if err := c.postJSON(ctx, api, job, &out); err != nil {
		return "", err
	}
	return out.JobID, nil
}

// SyncUsers starts batch/syncuser: an upsert by userid of the members in
// the CSV. Members missing from the file are left alone. Only one import
// job runs at a time (302008).
func (c *Client) SyncUsers(ctx context.Context, job BatchJob) (string, error) {
	return c.startJob(ctx, "batch/syncuser", job)
}

// ReplaceUsers starts batch/replaceuser.
//
// DANGER: it DELETES EVERY MEMBER WHO IS NOT IN THE FILE (with their Exmail
// mailboxes), irreversibly. WeCom's only guard (45026) lets through up to
// 20% of the corp (80% below 50 people). Never use it for incremental work;
// orgsync's sync never calls it.
func (c *Client) ReplaceUsers(ctx context.Context, job BatchJob) (string, error) {
	return c.startJob(ctx, "batch/replaceuser", job)
}

// ReplaceParties starts batch/replaceparty: the department tree becomes the
// file's; missing departments are deleted when empty.
func (c *Client) ReplaceParties(ctx context.Context, job BatchJob) (string, error) {
	return c.startJob(ctx, "batch/replaceparty", job)
}

// Job status values of batch/getresult.
const (
	JobStarted  = 1
	JobRunning  = 2
	JobFinished = 3
)

// JobResult is the answer of batch/getresult. Result is meaningful once
// Status is JobFinished; each row has its own errcode.
type JobResult struct {
	Status     int         `json:"status"`
	Type       string      `json:"type"` // sync_user, replace_user, replace_party
	Total      int         `json:"total"`
	Percentage int         `json:"percentage"`
	Result     []JobRowRes `json:"result"`
}

// JobRowRes is one row's outcome: UserID for user jobs; Action (bitmask:
// 1 created, 2 renamed, 4 moved, 8 re-ordered) and PartyID for party jobs.
type JobRowRes struct {
	UserID  string `json:"userid,omitempty"`
	Action  int    `json:"action,omitempty"`
	PartyID int    `json:"partyid,omitempty"`
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Errcodes of batch/getresult for a job WeCom no longer knows: it never
// had the id (40088), or it dropped the result (40089; it keeps the last
// five jobs' results).
const (
	CodeJobUnknown = 40088
	CodeJobPurged  = 40089
)

// IsJobGone reports whether err is batch/getresult's answer for a job
// whose result WeCom no longer has (or never had): waiting longer can't
// give it.
func IsJobGone(err error) bool { return IsCode(err, CodeJobUnknown, CodeJobPurged) }

// BatchResult reads a job's state (40088 unknown job, 40089 purged).
func (c *Client) BatchResult(ctx context.Context, jobID string) (*JobResult, error) {
	var out JobResult
	if err := c.get(ctx, "batch/getresult", url.Values{"jobid": {jobID}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// maxPollInterval caps the wait between two batch/getresult polls.
const maxPollInterval = 30 * time.Second

// WaitBatchResult polls batch/getresult until the job is finished, ctx
// ends, or maxWait (0 = no limit) has passed on the client's clock, when
// it returns an error wrapping ErrJobTimeout. It polls at once, then backs
// off: the time the job's percentage says is left, at least interval and
// doubling while it shows no progress, at most 30 s.
func (c *Client) WaitBatchResult(ctx context.Context, jobID string, interval, maxWait time.Duration) (*JobResult, error) {
	if interval <= 0 {
		interval = time.Second
	}
	start := c.clock.Now()
	wait := interval / 2
	for {
		res, err := c.BatchResult(ctx, jobID)
		if err != nil {
			return nil, err
		}
		if res.Status == JobFinished {
			return res, nil
		}
		elapsed := c.clock.Now().Sub(start)
		if maxWait > 0 && elapsed >= maxWait {
			return nil, fmt.Errorf("wecom batch/getresult: job %s at %d%% after %s: %w", jobID, res.Percentage, elapsed.Round(time.Second), ErrJobTimeout)
		}
		if p := res.Percentage; p > 0 && p < 100 {
			wait = time.Duration(float64(elapsed) * float64(100-p) / float64(p))
		} else {
			wait *= 2
		}
		wait = min(max(wait, interval), maxPollInterval)
		if maxWait > 0 {
			wait = min(wait, maxWait-elapsed)
		}
		if err := c.clock.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("wecom batch/getresult: waiting for job %s (%d%%): %w", jobID, res.Percentage, err)
		}
	}
}

// ErrJobTimeout: an import job did not finish within the wait given; it
// may still finish.
var ErrJobTimeout = errors.New("import job not finished in time")

// Sleep waits d on the client's clock (a fake one in tests), or until ctx
// ends: for callers that pace around import jobs.
func (c *Client) Sleep(ctx context.Context, d time.Duration) error { return c.clock.Sleep(ctx, d) }
