package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// newHRAPIEmulatorCmd serves a JSON file of people as a paged HR API, in
// the shape of Feishu CoreHR's employee list: a local stand-in to rehearse
// a `type: http` source against, and the demo's second source.
func newHRAPIEmulatorCmd(g *globals) *cobra.Command {
	var listen, records, tokenFile string
	var pageSize int
	cmd := &cobra.Command{
		Use:   "hr-api-emulator --records people.json [--listen ADDR] [--token-file F]",
		Short: "Serve a JSON array of people as a paged HR HTTP API, to rehearse a type: http source",
		Long: `hr-api-emulator serves the objects of a JSON array as the answers of an HR
system's employee list, page after page, shaped like Feishu CoreHR's:

  GET /api/v1/employees?page_size=N&page_token=T
  {"code":0,"msg":"success","data":{"items":[…],"page_token":"…","has_more":true,"total":T}}

With --token-file every request must carry "Authorization: Bearer <token>"
(401 otherwise). A source for it:

  type: http
  config:
    url: http://ADDR/api/v1/employees
    query: {page_size: "100"}
    auth: {type: bearer, token_file: TOKEN_FILE}
    pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
    records_path: data.items
    total_path: data.total
    success_path: code

The file is read again at every first page, so editing it changes what the
next read sees.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if records == "" {
				return withExit(ExitUsage, errors.New("--records FILE is required: a JSON array of objects"))
			}
			if pageSize < 1 || pageSize > 1000 {
				return withExit(ExitUsage, fmt.Errorf("--page-size %d: want 1..1000", pageSize))
			}
			var token string
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return withExit(ExitUsage, err)
				}
				token = strings.TrimSpace(string(b))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return withExit(ExitFailed, fmt.Errorf("listen: %w", err))
			}
			srv := &http.Server{Handler: hrAPI(records, token, pageSize), ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(g.stdout, "HR API emulator listening on http://%s/api/v1/employees (records from %s)\n", ln.Addr(), records)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return withExit(ExitFailed, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8961", "address to listen on (host:port; port 0 picks a free one)")
	f.StringVar(&records, "records", "", "JSON file holding an array of people objects")
	f.StringVar(&tokenFile, "token-file", "", "require this bearer token (read from the file)")
	f.IntVar(&pageSize, "page-size", 100, "records per page when the request gives no page_size")
	return cmd
}

// hrAPI answers the employee list. Page tokens are the offsets of the
// page they start, so a read sees one consistent file only if it is not
// edited mid-read (as with a real HR system).
func hrAPI(file, token string, defaultSize int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/employees", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":99991663,"msg":"invalid access token"}`))
			return
		}
		b, err := os.ReadFile(file)
		var all []json.RawMessage
		if err == nil {
			err = json.Unmarshal(b, &all)
		}
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = fmt.Fprintf(w, `{"code":1,"msg":%q}`, "records file: "+err.Error())
			return
		}
		size := defaultSize
		if s := r.URL.Query().Get("page_size"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 1000 {
				size = n
			}
		}
		from := 0
		if t := r.URL.Query().Get("page_token"); t != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(t, "p"))
			if err != nil || n < 0 || n > len(all) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"code":1254000,"msg":"invalid page_token"}`))
				return
			}
			from = n
		}
		to := min(from+size, len(all))
		page := struct {
			Items     []json.RawMessage `json:"items"`
			PageToken string            `json:"page_token,omitempty"`
			HasMore   bool              `json:"has_more"`
			Total     int               `json:"total"`
		}{Items: all[from:to], HasMore: to < len(all), Total: len(all)}
		if page.HasMore {
			page.PageToken = "p" + strconv.Itoa(to)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "msg": "success", "data": page})
	})
	return mux
}
