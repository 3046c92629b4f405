package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

// newWecomEmulatorCmd serves the WeCom emulator: a local stand-in for
// qyapi.weixin.qq.com for tests, the demo, and admins rehearsing a config.
func newWecomEmulatorCmd(g *globals) *cobra.Command {
	var (
		listen, corpID, corpName, data, creator string
		secrets, readSecrets, appSecrets        []string
		faultKinds, trustedIPs                  []string
		restricted, legacyDept, strictNames     bool
		rejectEscapes                           bool
		enableZeroIgnored, emptyKeeps           bool
		parentZeroLiteral, listZeroWholeTree    bool
		importLeaderColumn                      bool
		rateLimit, rateLimitHour, maxSeats      int
		badSecretBan                            int
		latency, tokenTTL, jobDelay             time.Duration
		faultRate, jobRowsPerSecond             float64
		seed                                    int64
	)
	cmd := &cobra.Command{
		Use:   "wecom-emulator",
		Short: "Run a local WeCom contacts API server for tests, demos and rehearsals",
		Long: `wecom-emulator serves the WeCom (企业微信) contacts API on a local address:
the same paths (/cgi-bin/gettoken, /cgi-bin/user/*, /cgi-bin/department/*,
/cgi-bin/media/upload, /cgi-bin/batch/*), methods, parameters, JSON fields
and errcodes as https://qyapi.weixin.qq.com, with the real server's rules:
case-insensitive userids, unique mobiles and emails, the department tree
limits, async import jobs, per-API rate limits. Point orgsync (or any WeCom
SDK) at the printed URL instead of https://qyapi.weixin.qq.com.

Besides the WeCom paths it has an admin API:
  GET  /emulator/state              every department and member as JSON
  GET  /emulator/stats              calls per API and errcode, write count
  POST /emulator/stats/reset        zero the stats
  GET  /emulator/faults             the fault settings; POST to change them,
                                    e.g. {"rate":0.1,"kinds":["busy","drop"]}
  POST /emulator/reset              empty the directory (root department only)
  POST /emulator/tokens/expire      every issued token answers 42001
  POST /emulator/tokens/invalidate  every issued token answers 40014
  POST /emulator/users/activate?userid=ID   mark a member as activated
  POST /emulator/save               write the state to --data now

With --data the directory is loaded at start and saved on exit (SIGINT,
SIGTERM) and on POST /emulator/save. With no --secret and no --read-secret
the emulator accepts one Contacts-Sync edit secret, "` + emulator.DefaultSecret + `".`,
		Example: `  # an emulator for the demo, state kept in a file
  orgsync wecom-emulator --listen 127.0.0.1:8960 --corp-id wwdemo --secret s3cret --data wecom.json

  # rehearse against a server that behaves like WeCom from a new IP, with
  # the real rate limit lowered and 5% injected faults
  orgsync wecom-emulator --restricted-reads --rate-limit 600 --fault-rate 0.05 --faults busy,conflict,http5xx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return withExit(ExitUsage, err)
			}
			opts := emulator.Options{
				CorpID: corpID, CorpName: corpName, RestrictedReads: restricted,
				RateLimitPerMinute: rateLimit, RateLimitPerHour: rateLimitHour, BadSecretBan: badSecretBan, Latency: latency, DataFile: data, TokenTTL: tokenTTL,
				Faults: emulator.Faults{Rate: faultRate, Kinds: faultKinds}, Seed: seed,
				LegacyDepartmentRequired: legacyDept, RejectUnicodeEscapes: rejectEscapes,
				JobDelay: jobDelay, JobRowsPerSecond: jobRowsPerSecond, ImportDirectLeaderColumn: importLeaderColumn, TrustedIPs: trustedIPs, CreatorUserID: creator, MaxSeats: maxSeats,
				EnableZeroOnCreateIgnored: enableZeroIgnored, EmptyStringKeepsField: emptyKeeps,
				ParentIDZeroLiteral: parentZeroLiteral, DeptListIDZeroWholeTree: listZeroWholeTree,
			}
			if !cmd.Flags().Changed("seed") {
				opts.Seed = time.Now().UnixNano()
			}
			if strictNames {
				opts.DeptNameMaxChars = 32
			}
			for _, s := range secrets {
				opts.Secrets = append(opts.Secrets, emulator.SecretSpec{Secret: s, Role: emulator.RoleContactsSyncEdit})
			}
			for _, s := range readSecrets {
				opts.Secrets = append(opts.Secrets, emulator.SecretSpec{Secret: s, Role: emulator.RoleContactsSyncRead})
			}
			for _, s := range appSecrets {
				opts.Secrets = append(opts.Secrets, emulator.SecretSpec{Secret: s, Role: emulator.RoleApp})
			}
			if len(opts.Secrets) == 0 {
				opts.Secrets = []emulator.SecretSpec{{Secret: emulator.DefaultSecret, Role: emulator.RoleContactsSyncEdit}}
			}
			emu, err := emulator.New(opts, log.Named("wecom_emulator"))
			if err != nil {
				return withExit(ExitUsage, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return withExit(ExitFailed, fmt.Errorf("listen: %w", err))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serveEmulator(ctx, g, log, emu, ln, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8960", "address to listen on (host:port; port 0 picks a free one)")
	f.StringVar(&corpID, "corp-id", emulator.DefaultCorpID, "the corp id gettoken accepts")
	f.StringVar(&corpName, "corp-name", emulator.DefaultCorpName, "name of the root department (id 1)")
	f.StringArrayVar(&secrets, "secret", nil, "a Contacts-Sync secret with edit rights (repeatable; default "+emulator.DefaultSecret+")")
	f.StringArrayVar(&readSecrets, "read-secret", nil, "a read-only Contacts-Sync secret: writes get 48002 (repeatable)")
	f.StringArrayVar(&appSecrets, "app-secret", nil, "a self-built app secret: reads only, writes and user/list_id get 48002 (repeatable)")
	f.StringVar(&data, "data", "", "JSON file to load the directory from at start and save it to on exit")
	f.BoolVar(&restricted, "restricted-reads", false, "post-2022 new-IP mode: user/get, user/list, user/simplelist, department/list and department/get answer 48009 to Contacts-Sync secrets")
	f.IntVar(&rateLimit, "rate-limit", 0, "calls per API per minute before 45009 for the rest of the minute (0 = 10000, WeCom's limit; negative = unlimited)")
	f.IntVar(&rateLimitHour, "rate-limit-hour", 0, "calls per API per clock hour before 45009 for the rest of the hour (0 = 150000, WeCom's limit; negative = unlimited)")
	f.IntVar(&badSecretBan, "bad-secret-ban", 0, "after this many gettoken calls with a wrong secret from one IP in an hour, block that IP's gettoken with 45009 for the rest of the hour (0 = off)")
	f.DurationVar(&latency, "latency", 0, "delay added to every WeCom call, e.g. 50ms")
	f.Float64Var(&faultRate, "fault-rate", 0, "probability (0..1) that a WeCom call (not gettoken) gets an injected fault")
	f.StringSliceVar(&faultKinds, "faults", nil, "fault kinds for --fault-rate, comma-separated: busy (-1), conflict (6000), http5xx (502/503), drop (connection closed), drop_after (the call applies, then the connection is closed), concurrency (45033), token_expired (42001); default all but token_expired and drop_after")
	f.Int64Var(&seed, "seed", 0, "seed for fault injection, to repeat a fault sequence (default: random)")
	f.DurationVar(&tokenTTL, "token-ttl", emulator.DefaultTokenTTL, "access token lifetime (expires_in)")
	f.DurationVar(&jobDelay, "job-delay", emulator.DefaultJobDelay, "how long a batch import job takes before status 3, besides its rows (--job-rows-per-second)")
	f.Float64Var(&jobRowsPerSecond, "job-rows-per-second", 0, "how many rows a batch import job works through per second: a job of n rows takes --job-delay + n / this (0 = --job-delay whatever the size)")
	f.BoolVar(&importLeaderColumn, "import-leader-column", false, "the member import file's 直属上级 column sets direct_leader (UNCONFIRMED: the documented template has no such column); otherwise it is ignored")
	f.BoolVar(&legacyDept, "legacy-department-required", false, "user/create without department fails with 60127 (older docs); otherwise the user goes to the root")
	f.BoolVar(&strictNames, "strict-department-names", false, "limit department names to 32 characters (older docs) instead of 64")
	f.BoolVar(&rejectEscapes, "reject-unicode-escapes", false, `reject JSON bodies containing \uXXXX escapes with 40033`)
	f.BoolVar(&enableZeroIgnored, "enable-zero-on-create-ignored", false, "user/create with enable 0 creates an enabled member (UNCONFIRMED); otherwise a disabled one")
	f.BoolVar(&emptyKeeps, "empty-string-keeps-field", false, `"" in a text field of user/update or department/update leaves the field as is (UNCONFIRMED); otherwise it clears it`)
	f.BoolVar(&parentZeroLiteral, "parentid-zero-literal", false, "department/update with parentid 0 is a parent id like any other, 60004 (UNCONFIRMED); otherwise it is not given (no move)")
	f.BoolVar(&listZeroWholeTree, "department-id-zero-whole-tree", false, "department/list and simplelist with id=0 return the whole visible tree (UNCONFIRMED); otherwise the root's subtree")
	f.StringSliceVar(&trustedIPs, "trusted-ip", nil, "only these caller IPs may call APIs; others get 60020 (repeatable or comma-separated)")
	f.StringVar(&creator, "creator", "", "userid of the corp creator, who cannot be deleted (301005)")
	f.IntVar(&maxSeats, "max-seats", 0, "member quota; creating more gives 45024 (0 = unlimited)")
	return cmd
}

// serveEmulator serves until ctx ends, then shuts down and persists.
func serveEmulator(ctx context.Context, g *globals, log *zap.Logger, emu *emulator.Server, ln net.Listener, opts emulator.Options) error {
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	secret := opts.Secrets[0].Secret
	fmt.Fprintf(g.stdout, "WeCom emulator listening on http://%s (corp_id=%s, secret=%s)\n", ln.Addr(), opts.CorpID, secret)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("emulator shutdown", zap.Error(err))
	}
	if err := emu.Close(); err != nil {
		return withExit(ExitFailed, fmt.Errorf("save emulator state: %w", err))
	}
	if opts.DataFile != "" {
		log.Info("emulator state saved", zap.String("data_file", opts.DataFile))
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return withExit(ExitFailed, fmt.Errorf("serve: %w", serveErr))
	}
	return nil
}
