package main

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/orgsync/orgsync/daemon"
)

// newHealthcheckCmd is the container health check: distroless images have
// no shell, curl or wget, so the binary probes its own daemon.
func newHealthcheckCmd(g *globals) *cobra.Command {
	var addr string
	var ready bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [--addr HOST:PORT] [--ready]",
		Short: "Exit 0 if the daemon answers /healthz (or /readyz): a HEALTHCHECK for images without a shell",
		Long: `healthcheck GETs http://ADDR/healthz (with --ready, /readyz) of a running
'orgsync daemon' and exits 0 on 200, 1 otherwise, printing why. It reads no
config: ADDR defaults to ` + daemon.DefaultListen + `, where the daemon listens
by default (a daemon on 0.0.0.0:9469 is reached there too).`,
		Example: `  # Dockerfile
  HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/bin/orgsync", "healthcheck"]
  orgsync healthcheck --addr 127.0.0.1:9469 --ready`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			url := "http://" + addr + path
			client := &http.Client{Timeout: timeout}
			resp, err := client.Get(url)
			if err != nil {
				return withExit(ExitFailed, fmt.Errorf("healthcheck %s: %w", url, err))
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return withExit(ExitFailed, fmt.Errorf("healthcheck %s: HTTP %d: %s", url, resp.StatusCode, body))
			}
			fmt.Fprintf(g.stdout, "%s: %s", url, body)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", daemon.DefaultListen, "the daemon's server.listen address")
	cmd.Flags().BoolVar(&ready, "ready", false, "check /readyz (config loaded, state store open) instead of /healthz")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}
