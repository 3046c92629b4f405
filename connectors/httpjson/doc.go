// Package httpjson is the `type: http` source: it reads people from an HR
// system's HTTP JSON API (Feishu People / CoreHR, Beisen, DingTalk HR,
// SuccessFactors, Workday RaaS, Personio, BambooHR, an in-house API), page
// after page, and yields one Record per JSON object.
//
// # Contract
//
// Completeness is the contract (connectors.Source): List returns every
// record or an error naming the page and its URL, never a short batch that
// looks complete. It fails when a page still fails after its retries, an
// answer is not JSON, has no array at records_path or fails the
// success_path check, a page or a cursor repeats (the server loops or
// ignores the page parameter), the total at total_path disagrees with what
// was read or changes during the read, max_pages is reached with pages
// left, fewer than min_records were read, or the context ends. Every error
// wraps ErrRequest, ErrAnswer or ErrIncomplete:
//
//	page 7 (https://hr.example.com/api/v1/employees?page=7&page_size=100): request failed: HTTP 500 Internal Server Error after 5 attempts: {"msg":"internal error"}
//	page 3 (https://…/employees?page_token=c3): read is incomplete: the next page_token was already used by page 2: the server loops
//	page 10 (https://…?page=10): read is incomplete: read 990 records over 10 pages, but the answer says the total is 1000
//
// Pages are read back to back (a scroll cursor may expire within seconds).
// Page and offset pagination end at has_more_path/last_path when set, else
// when the count reaches the total, else at the first empty page: a short
// page is never taken for the last, since servers cap page sizes silently.
// With page or offset pagination set total_path where the API has one:
// people hired or removed between two pages shift the rest, and a total
// that changes during the read is what tells.
//
// # Records
//
// Each object of the records array is a Record. Its Names are the union of
// the top-level keys of every record of the read, sorted (so every record
// of a batch has the same Names; a key a record lacks is nil); Batch.Columns
// is left empty, since JSON has no fixed header. Values, at any depth, are what mapping expects:
//
//	"E001"              → "E001"
//	10000001, 00123 as "00123", 1.5 → "10000001", "00123", "1.5" (the JSON text: never 1.0000001e+07)
//	true / false        → "true" / "false"
//	null                → nil
//	{"name": "后端组"}   → map[string]any{"name": "后端组"}   (mapping: dept.name)
//	["a", 7]            → []any{"a", "7"}                      (mapping: tags[0])
//
// A record's Origin.Locator is the page's URL (credentials redacted) and
// "#page.index", both 1-based: https://hr.example.com/api/v1/employees?page=3&page_size=100#3.17.
// Batch.Location is the configured URL.
//
// # Paths
//
// records_path, total_path, next_path and the other *_path settings are
// dotted paths into the answer: data.items, d.results, items.0 or
// items[0]. A key with dots in it is found as it is ("@odata.nextLink",
// "data.page.token" where "page.token" is one key): at each object the
// longest run of dotted parts that is a key wins. ["@odata.nextLink"] and
// \. say the same explicitly. The empty path is the answer itself.
//
// # Configuration
//
//	url: https://hr.example.com/api/v1/employees  # required; http:// with credentials is warned about
//	method: GET                  # or POST (search APIs); POST sends body as JSON
//	body: {status: [active]}     # POST only
//	headers: {X-Tenant: acme}    # sent with every page request
//	query: {page_size: "100"}    # added to the first page's URL
//	records_path: data.items     # where the page's records are; "" = the answer is the array
//	total_path: data.total       # optional: the read must add up to it
//	success_path: code           # optional: every answer's status field (Feishu code, DingTalk errcode)
//	success_value: "0"           #   the value that means success (default "0")
//	message_path: msg            #   quoted when the check fails
//	max_pages: 10000             # default 10000
//	timeout: 30s                 # per request, the body included (default 30s)
//	rate: 10/s                   # N/s, N/m or N/h, for every request (retries and tokens too); default none
//	retry:                       # 429 (honouring Retry-After), 5xx and network errors; nothing else
//	  attempts: 5                #   per request, the first included (1: no retry)
//	  max_time: 2m               #   one page's attempts and waits together
//	  min_wait: 1s               #   exponential backoff bounds; a longer Retry-After
//	  max_wait: 30s              #   is honoured within max_time
//	min_records: 1000            # fewer fail the read
//	ca_file: /etc/orgsync/hr-ca.pem      # replaces the system roots
//	cert_file: /etc/orgsync/client.pem   # client certificate (mutual TLS), with key_file
//	key_file: /etc/orgsync/client.key
//	tls_server_name: hr.internal
//	insecure_skip_verify: false  # tests only; logged as a warning at every open
//
// auth (type: none by default). Every secret is given inline or as a file
// (…_file, which may start with $CREDENTIALS_DIRECTORY/ for systemd's
// LoadCredential=), never both; files are read again at every List, so a
// rotated secret is picked up without a restart:
//
//	{type: bearer, token_file: /etc/orgsync/hr.token}        # Authorization: Bearer …
//	{type: basic, username: orgsync, password_file: …}
//	{type: header, header: X-API-Key, value_file: …}         # an API key header
//	type: oauth2                 # client credentials grant (golang.org/x/oauth2/clientcredentials)
//	token_url: https://login.example.com/oauth2/token
//	client_id: orgsync
//	client_secret_file: $CREDENTIALS_DIRECTORY/hr-oauth
//	scopes: [hr.read]
//	params: {audience: hr-api}   # extra token request parameters
//
//	type: token_request          # POST a JSON body, read the token from the answer
//	url: https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal
//	body: {app_id: cli_a1b2c3, app_secret: {secret_file: $CREDENTIALS_DIRECTORY/feishu}}
//	token_path: tenant_access_token
//	expires_in_path: expire      # lifetime in seconds; without it the token lasts one List
//	header: Authorization        # where it goes (default), with
//	prefix: "Bearer "            # (default); or query_param: access_token
//
// OAuth2 and token_request tokens are cached until shortly before they
// expire; a 401 or 403 drops the token and the page is asked again once
// with a fresh one. A body value that is a secret is written {secret: …}
// or {secret_file: …}.
//
// pagination (type: none by default: one request). param is where the
// position goes, in the query or (in: body, POST only) the JSON body:
//
//	{type: page, param: page, size_param: page_size, size: 100, start: 1, has_more_path: data.has_more}
//	{type: offset, param: offset, size_param: limit, size: 100, start: 0}   # advances by the records received
//	{type: cursor, param: page_token, in: query, next_path: data.page_token, has_more_path: data.has_more}
//	{type: cursor, param: scrollId, in: body, next_path: scrollId, last_path: isLastData}
//	{type: next_url, next_path: "@odata.nextLink"}    # or d.__next; relative links are resolved
//	{type: link_header}                              # RFC 8288 Link: <…>; rel="next"
//
// last_path is has_more_path's opposite (a "this is the last page" flag).
// Links the server gives (next_url, link_header) and redirects must stay on
// the configured scheme and host: credentials go with them.
//
// # Secrets
//
// Tokens, passwords, client secrets and fetched tokens never appear in an
// error or a log line: URLs are shown without user info and with
// credential-like query parameters (access_token, token, key, secret,
// sign…; not the pagination parameter) redacted, every known secret is
// replaced wherever it appears, and answers are quoted only as a short
// redacted excerpt of an error status or a non-JSON page (a token answer
// only through its code/msg/error fields).
//
// # Examples
//
// Feishu CoreHR: a tenant_access_token from the app's id and secret, then
// the employee search, 100 per page with a page_token in the query:
//
//	sources:
//	  - name: hr
//	    type: http
//	    config:
//	      url: https://open.feishu.cn/open-apis/corehr/v2/employees/search
//	      method: POST
//	      query: {page_size: "100"}
//	      body: {fields: [person_info.name, work_email, department_id, employment_status]}
//	      auth:
//	        type: token_request
//	        url: https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal
//	        body: {app_id: cli_a1b2c3d4, app_secret: {secret_file: $CREDENTIALS_DIRECTORY/feishu}}
//	        token_path: tenant_access_token
//	        expires_in_path: expire
//	      pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
//	      records_path: data.items
//	      success_path: code
//	      message_path: msg
//	      rate: 10/s
//	      min_records: 1000
//
// A generic REST API with an OAuth2 client and numbered pages that report
// a total:
//
//	sources:
//	  - name: hr
//	    type: http
//	    config:
//	      url: https://hr.example.com/api/v1/employees
//	      query: {status: active}
//	      auth:
//	        type: oauth2
//	        token_url: https://login.example.com/oauth2/token
//	        client_id: orgsync
//	        client_secret_file: /etc/orgsync/hr-client-secret
//	        scopes: [employees.read]
//	      pagination: {type: page, size_param: per_page, size: 200}
//	      records_path: data
//	      total_path: meta.total
//	      timeout: 20s
//	      min_records: 1000
//
// and in the mapping, nested values by their path: `key: employee_id`,
// `user.name: name`, `department: dept.name`, `user.userid: custom_fields["工号"]`.
package httpjson
