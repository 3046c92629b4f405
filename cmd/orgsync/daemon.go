package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/orgsync/orgsync/daemon"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/logging"
	"github.com/orgsync/orgsync/state"
)

func newDaemonCmd(g *globals) *cobra.Command {
	var cfgPath string
	var shutdownTimeout time.Duration
	var check bool
	cmd := &cobra.Command{
		Use:   "daemon -c FILE",
		Short: "Run as a service: scheduled syncs, HTTP health/metrics/status, notifications, systemd integration",
		Long: `daemon keeps running and syncs on the configured schedule. It holds the
state store open and locked ('orgsync sync' on the same state refuses to run
meanwhile: use 'orgsync trigger'), never runs two syncs at once, and serves
HTTP for monitoring.

Configuration (besides sources, mapping, target, policy, state):

  schedule:
    cron: "CRON_TZ=Asia/Shanghai 0 2 * * *"  # or @daily, @hourly, "@every 15m"
    jitter: 5m          # start up to 5m after the tick
    run_on_start: false # also run once at start
    run_timeout: 4h     # cancel a longer run (it stops at a change boundary)
  server:
    listen: 127.0.0.1:9469
    token_file: $CREDENTIALS_DIRECTORY/api-token   # or token: ${ORGSYNC_API_TOKEN}
  log:
    level: info         # debug, info, warn, error
    format: auto        # console on a terminal, json otherwise; or logfmt
    pii: false          # mobiles, emails and names are masked in logs
                        # (--log-level / --log-format override level and format)
  notify:
    on: [failed, refused, held]   # add changed to hear about every change
    wecom_robot: {key_file: $CREDENTIALS_DIRECTORY/robot-key}
    webhook: {url: https://hooks.example.com/orgsync}
    mail:                          # SMTP; STARTTLS required unless tls: implicit
      host: smtp.example.com       # port 587 (starttls), 465 (implicit)
      username: orgsync@example.com
      password_file: $CREDENTIALS_DIRECTORY/smtp-password
      from: orgsync@example.com
      to: [it-ops@example.com]

High availability (state.driver: postgres only):

  ha:
    enabled: true
    lease: 15s          # a leader unheard of this long is replaced (min 3s)
    name: ${HOSTNAME}   # this daemon in the lease, status and logs
    advertise_url: http://10.0.0.5:9469   # given to callers of a standby

  Daemons on one database elect a leader through a lease row in it; only
  the leader syncs. A standby serves /healthz, /readyz, /metrics and
  /v1/status ("role": "standby", who leads) and answers POST /v1/sync and
  held decisions with 409 naming the leader and its advertise_url. It
  takes over within one lease of the leader's last renewal (kill -9, a
  lost host, a pause) and runs at once to settle what the old leader left
  pending. Every store write checks the run's epoch in its transaction:
  a leader that lost the lease and wakes up cannot write, and steps down.
  'orgsync sync' by hand is refused while a daemon leads.
  The WeCom trap: each host's egress IP must be one of the app's trusted
  IPs (企业可信IP) and have used the secret before, or after a failover
  every call meets errcode 60020 (IP not trusted) or the detail reads
  48009 (a new IP); or give the hosts one NAT egress.

Signals:
  SIGTERM, SIGINT  stop: no new runs; the run in flight is cancelled and
                   stops at its next change boundary with every call
                   journaled; exit 0 within --shutdown-timeout (default 30s)
  SIGHUP           reload the config file; an invalid one is rejected with
                   its problems in the log and the running one stays. A new
                   config waits for the run in flight. server.listen and
                   log.format changes need a restart.
  SIGUSR1          run now (skipped if a run is in flight)

HTTP endpoints (server.listen):
  GET  /healthz        200 while the process serves
  GET  /readyz         200 once the config is loaded and the state store is
                       open; 503 during a reload's swap and while stopping.
                       A failed last run does not make it unready: watch
                       orgsync_last_success_timestamp_seconds instead. A
                       standby (ha) is ready too: it serves status and
                       names the leader; orgsync_leader says which leads.
  GET  /metrics        Prometheus; every series below exists from the start
                       (the last-run ones restored from the state store):
                       orgsync_build_info{version,revision,goversion},
                       orgsync_run_in_progress,
                       orgsync_runs_total{result}, orgsync_runs_skipped_total{reason},
                       orgsync_runs_restored,
                       orgsync_last_run_status{status},
                       orgsync_last_run_timestamp_seconds,
                       orgsync_last_success_timestamp_seconds,
                       orgsync_next_run_timestamp_seconds,
                       orgsync_run_duration_seconds (histogram),
                       orgsync_changes_total{kind,result},
                       orgsync_held_changes, orgsync_held_changes_by_kind{kind},
                       orgsync_rejected_records, orgsync_source_records{source},
                       orgsync_config_last_reload_successful,
                       orgsync_config_last_reload_success_timestamp_seconds,
                       orgsync_config_reloads_total{result},
                       orgsync_notification_errors_total{channel},
                       orgsync_wecom_api_calls_total{api,errcode},
                       orgsync_wecom_api_request_duration_seconds{api} (histogram),
                       orgsync_wecom_rate_limit_waits_total{api},
                       orgsync_wecom_rate_limit_wait_seconds_total,
                       orgsync_wecom_rate_limit_bans_total{api},
                       orgsync_wecom_retries_total{api},
                       orgsync_wecom_rate_limit_learned_per_minute{api}
                       (after a 45009: rate_per_minute is set too high),
                       orgsync_leader (1 leading, 0 standby; 1 without ha),
                       orgsync_leadership_changes_total,
                       orgsync_fenced_writes_total
                       (orgsync_source_records appears with the first run,
                       orgsync_wecom_rate_limit_learned_per_minute with the
                       first 45009, and
                       an errcode other than 0 with its first answer; alert
                       rules and a Grafana dashboard are in
                       /usr/share/doc/orgsync/monitoring)
  GET  /v1/status      JSON: running run, next run, last 10 runs, held changes
  GET  /v1/runs/{id}   the stored report of a run (as 'sync --output json')
  POST /v1/sync        run now; needs "Authorization: Bearer TOKEN"
                       (server.token); 401 without it, 403 if no token is
                       configured, 409 if a run is in flight or this daemon
                       is a standby (the answer names the leader);
                       ?wait=true waits and returns the report
  GET  /v1/held        the queue of held and refused changes (?all=true, ?kind=OP);
                       /v1/held/{id} with its audit trail
  POST /v1/held/{id}/approve|reject, /v1/held/approve|reject?kind=OP|all=true
                       decide (bearer token); an approved change is made by the
                       next run if the plan still makes exactly that change
  GET  /ui/            the review page: recent runs, held changes with approve
                       and reject per change and per kind, the thresholds
                       (token login; read-only without a token)
  The /v1/ GETs need the token too when one is configured.

systemd: the daemon reports READY=1 once serving, STATUS= with the last
run's outcome (shown by 'systemctl status orgsync'), RELOADING=1 (with
MONOTONIC_USEC=) and then READY=1 around a reload, STOPPING=1, and
WATCHDOG=1 every WatchdogSec/2 when the unit sets WatchdogSec. With
Type=notify-reload (systemd 253 and later; the package sets it there)
'systemctl reload' waits for the reload to be applied or rejected; with
Type=notify (older systemd) it returns at once and the outcome is in the
log, in STATUS= and in orgsync_config_last_reload_successful.

Logs: on a terminal, console lines; otherwise JSON (or --log-format logfmt).
Under journald each line carries its priority, so 'journalctl -u orgsync
-p warning' shows the warnings and errors alone.

Exit codes: 0 stopped cleanly; 1 the state store is locked by another
process, the listen address is taken, or the run in flight did not stop
within --shutdown-timeout (the next run settles what it left pending);
2 configuration error at start.`,
		Example: `  orgsync daemon -c /etc/orgsync/orgsync.yaml
  orgsync daemon -c /etc/orgsync/orgsync.yaml --check   # validate every block, then exit

  # the unit the package installs, abridged (/usr/lib/systemd/system/orgsync.service;
  # change it with 'systemctl edit orgsync')
  [Service]
  Type=notify
  ExecStart=/usr/bin/orgsync daemon -c /etc/orgsync/orgsync.yaml
  ExecReload=/bin/kill -HUP $MAINPID
  WatchdogSec=120s
  TimeoutStopSec=45s
  DynamicUser=yes
  StateDirectory=orgsync
  LoadCredential=wecom-secret:/etc/orgsync/wecom.secret
  # in orgsync.yaml: secret_file: $CREDENTIALS_DIRECTORY/wecom-secret

  systemctl reload orgsync          # SIGHUP: reload the config
  systemctl kill -s USR1 orgsync    # run now
  orgsync trigger -c /etc/orgsync/orgsync.yaml --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return withExit(ExitUsage, errors.New("no config: pass -c FILE"))
			}
			s, err := daemon.Load(cfgPath)
			if err != nil {
				return withExit(ExitUsage, err)
			}
			log, ctl, err := logging.NewDynamic(g.logOptions(cmd, s.Log))
			if err != nil {
				return withExit(ExitUsage, err)
			}
			if check {
				if _, err := engine.Build(s.File, log); err != nil {
					return withExit(ExitUsage, s.File.LocateAll(err))
				}
				fmt.Fprintf(g.stdout, "config %s: ok for the daemon (schedule %q, listen %s, notify on %v)\n", cfgPath, s.Schedule.Cron, s.Server.Listen, s.Notify.On)
				return nil
			}
			defer func() { _ = log.Sync() }()
			err = daemon.Run(context.Background(), daemon.Options{
				ConfigPath: cfgPath, Settings: s, Log: log, LogControls: ctl,
				ShutdownTimeout: shutdownTimeout, Version: version, Revision: buildRevision(),
			})
			switch {
			case err == nil:
				return nil
			case errors.Is(err, daemon.ErrConfig):
				return withExit(ExitUsage, err)
			case errors.Is(err, state.ErrLocked), errors.Is(err, daemon.ErrStopTimeout):
				log.Error("daemon stopped with an error", zap.Error(err))
				return withExit(ExitFailed, errors.New(""))
			default:
				return withExit(ExitFailed, err)
			}
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&check, "check", false, "check the whole config, including schedule, server, log and notify, then exit (0 ok, 2 problems)")
	cmd.Flags().DurationVar(&shutdownTimeout, "shutdown-timeout", daemon.DefaultShutdownTimeout, "on SIGTERM, how long to wait for the run in flight to stop at a change boundary (keep systemd's TimeoutStopSec above it)")
	return cmd
}
