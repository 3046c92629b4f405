package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/orgsync/orgsync/daemon"
	"github.com/orgsync/orgsync/engine"
)

func newTriggerCmd(g *globals) *cobra.Command {
	var cfgPath, output string
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "trigger -c FILE [--wait]",
		Short: "Ask the running daemon to sync now (POST /v1/sync)",
		Long: `trigger asks the daemon configured by FILE to start a run now. It reads
server.listen and the API token (server.token / server.token_file) from the
same config and POSTs to http://LISTEN/v1/sync; a wildcard listen address is
reached on 127.0.0.1.

With ha.enabled, a standby answers with the leader's advertise_url and
trigger asks the leader instead.

Without --wait it returns as soon as the run started. With --wait it waits for
the run to end, prints its report and exits like 'orgsync sync'.

Exit codes: 0 started (or, with --wait, succeeded); 1 a run is already in
progress, the daemon is unreachable, or the run failed or was interrupted;
2 usage or config error; 3 (--wait) the run was refused by the guard; 4
(--wait) the run finished but needs attention.`,
		Example: `  orgsync trigger -c /etc/orgsync/orgsync.yaml
  orgsync trigger -c /etc/orgsync/orgsync.yaml --wait --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return withExit(ExitUsage, errors.New("no config: pass -c FILE"))
			}
			s, err := daemon.Load(cfgPath)
			if err != nil {
				return withExit(ExitUsage, err)
			}
			url, err := daemon.TriggerURL(s.Server.Listen)
			if err != nil {
				return withExit(ExitUsage, err)
			}
			query := ""
			if wait {
				query = "?wait=true"
			}
			var resp *http.Response
			var body []byte
			// A standby (ha.enabled) answers 409 with the leader's
			// advertise_url: ask the leader, once.
			for attempt := 0; ; attempt++ {
				req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, url+query, nil)
				if err != nil {
					return withExit(ExitUsage, err)
				}
				if !s.Token.Empty() {
					req.Header.Set("Authorization", "Bearer "+s.Token.Reveal())
				}
				client := &http.Client{Timeout: timeout}
				resp, err = client.Do(req)
				if err != nil {
					return withExit(ExitFailed, fmt.Errorf("reach the daemon at %s: %w (is 'orgsync daemon' running?)", url, err))
				}
				body, _ = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
				resp.Body.Close()
				leader := resp.Header.Get("X-Orgsync-Leader-URL")
				if resp.StatusCode != http.StatusConflict || leader == "" || attempt > 0 {
					break
				}
				url = strings.TrimRight(leader, "/") + "/v1/sync"
				fmt.Fprintf(g.stderr, "that daemon is a standby; asking the leader at %s\n", url)
			}
			var ans daemon.SyncResponse
			if err := json.Unmarshal(body, &ans); err != nil {
				return withExit(ExitFailed, fmt.Errorf("daemon answered HTTP %d: %.200s", resp.StatusCode, body))
			}
			if resp.StatusCode/100 != 2 {
				return withExit(ExitFailed, fmt.Errorf("daemon answered HTTP %d: %s", resp.StatusCode, ans.Error))
			}
			if !wait {
				fmt.Fprintln(g.stdout, "run started; follow it with 'journalctl -u orgsync -f' or GET /v1/status")
				return nil
			}
			rep := ans.Report
			if rep == nil {
				return withExit(ExitFailed, fmt.Errorf("the run failed before it was recorded: %s", ans.RunErr))
			}
			if output == "json" {
				writeJSON(g.stdout, rep)
			} else {
				printReport(g.stdout, rep)
			}
			switch rep.Status {
			case engine.StatusSucceeded:
				return nil
			case engine.StatusRefused:
				return withExit(ExitRefused, errors.New(rep.Refusal))
			case engine.StatusAttention:
				return withExit(ExitAttention, fmt.Errorf("the run finished but needs attention: %s", strings.Join(rep.Attention, "; ")))
			default:
				return withExit(ExitFailed, errors.New(cmp.Or(rep.Error, ans.RunErr, "the run failed")))
			}
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end and print its report")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "with --wait: text or json (the run report)")
	cmd.Flags().DurationVar(&timeout, "timeout", 6*time.Hour, "give up waiting after this long")
	return cmd
}
