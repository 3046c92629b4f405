// Package emulator is a WeCom (企业微信) contacts server that runs locally:
// the same paths, methods, query parameters, JSON field names and errcodes
// as https://qyapi.weixin.qq.com/cgi-bin/, with the invariants listed in
// wecom-api.md §8 (token rules, roles, the department tree, userid and
// mobile/email uniqueness, batch jobs, rate limits), plus fault injection.
//
// Tests mount it with httptest.NewServer(emu); the CLI `orgsync
// wecom-emulator` serves it for demos and rehearsals. WeCom calls live under
// /cgi-bin/; a small admin API (state dump, stats, faults, reset, token
// expiry) lives under /emulator/ and never collides with a WeCom path.
//
// # Choices where WeCom's docs are silent
//
// wecom-api.md marks several behaviours UNCONFIRMED. The emulator picks one
// answer for each, so client and emulator agree; where a client could
// reasonably depend on the other answer there is an Option.
//
//   - gettoken returns the same token until it expires or is expired or
//     invalidated (ExpireTokens, InvalidateTokens), with the remaining
//     lifetime as expires_in.
//   - Check order: token (41001, 40014, 42001), trusted IP (60020),
//     concurrency (45033), rate limit (45009), role (48002, 48009), then the
//     endpoint's own checks. Injected faults come before all of them.
//   - The root department's parentid is 0; department/list and simplelist
//     with an id include that department; siblings sort by larger order
//     first, then creation order; an omitted order is 0; an omitted id is
//     the largest id plus one. An unknown department id is 60003 everywhere
//     (never 60123).
//   - userids are matched ignoring case and stored as first written.
//     Mobiles are compared without spaces, dashes and a leading +86; emails
//     and biz_mail ignoring case.
//   - user/create without department puts the member in the root (the
//     current docs' 待设置部门 is not emulated); LegacyDepartmentRequired
//     makes it 60127. Unknown department ids are 60003 (never auto-created).
//   - New members have status 4 (not activated) until Activate or
//     POST /emulator/users/activate; then mobile updates are ignored.
//   - user/batchdelete with an unknown userid is 60111, naming it.
//   - user/list_id: limit defaults to 10000, outside 1..10000 is 40058;
//     rows are ordered by lower-cased userid, then the member's department
//     order; disabled and unactivated members are included.
//   - More than MaxDirectLeaders (5) direct leaders, or a main_department
//     not among department, is 40058.
//   - \uXXXX escapes in JSON bodies are accepted unless
//     RejectUnicodeEscapes (40033).
//   - Import files are read when the job is submitted: file-level errors
//     (40092, 302003, 302004, 302006, 302007) and the replaceuser deletion
//     guard (45026) are the submitting call's errcode; per-row errors are in
//     batch/getresult. Files are UTF-8 with or without a BOM; the header is
//     the first row naming the key column (帐号/账号, or 部门ID); syncuser
//     updates only the columns present, and for an existing member an
//     empty cell in a present text column clears that field unless
//     EmptyStringKeepsField (UNCONFIRMED; for a new member it is not
//     given); 禁用 is inverted (1 = disabled); 性别 takes 男/女 or 1/2;
//     lists (departments, orders, leader flags) use ';'; 直属上级 is read
//     only with ImportDirectLeaderColumn (the documented template has no
//     such column). A job takes JobDelay, plus its rows over
//     JobRowsPerSecond when that is set; one runs at a time (302008), and
//     only the last five results are kept (40089), for JobResultTTL when
//     that is set (UNCONFIRMED whether WeCom expires them by time). Jobs
//     are the corp's: any token of it reads their results.
//   - media/upload: type must be image, voice, video or file (40004); an
//     image must be .jpg or .png (40005); 5 bytes or fewer is 40006; over
//     the type's limit 45001; a missing or empty media part 44001.
//   - Rate-limit windows are aligned to the clock (whole minutes, whole
//     hours), so 45009 lasts until the window ends. There is no separate
//     per-IP limit: tests have one IP.
//
// # Zero values: requests as whole-struct SDKs send them
//
// Many SDKs serialise their whole request struct, with no omitempty
// (wecom-api.md §4.5), and the real server accepts such requests. The
// emulator reads them the same way:
//
//   - null, for any field, is the same as leaving the field out.
//   - main_department 0 is not given: the first department is the main one.
//   - enable absent leaves a member as is; enable 0 on user/update
//     disables (status 2), enable 1 enables.
//   - direct_leader [] clears the leaders; null or absent leaves them.
//   - order [] and is_leader_in_dept [] are not given (the length rule,
//     60132, applies to non-empty lists); member order 0 is the default.
//   - gender 0, "0" and "" (on create) are unset; gender is read as a
//     number or a string (1 and "1" are male). Every scalar is lenient the
//     same way: strings take numbers, integers numeric strings.
//   - new_userid "" is not given (no rename, no 301036).
//   - extattr {"attrs": null} or {} is not given ({"attrs": []} clears);
//     an external_profile holding only zero values is not given.
//   - Read-only and legacy fields (status, avatar, thumb_avatar, qr_code,
//     open_userid, english_name, isleader, hide_mobile, weixinid,
//     department_leader) and unknown keys are ignored, whatever their type.
//   - department/create: id 0 lets the server assign one; order 0 is the
//     default order; name_en "" is none.
//   - department/update: order 0 sets the default order (0).
//   - user/get_userid_by_email: email_type 0 is the default, 1.
//   - user/list_id keeps limit 0 an error (40058): the docs give 1..10000.
//
// Where the docs leave the meaning UNCONFIRMED there is an Option; its zero
// value, the default, is the stricter reading, so a client that works
// against the default works against both:
//
//   - enable 0 on user/create creates a disabled member, as the field is
//     documented; EnableZeroOnCreateIgnored creates it enabled.
//   - "" on a text field of user/update or department/update clears it
//     (60112 for a member's name, 60001 for a department's, which may not
//     be empty); EmptyStringKeepsField leaves the field as it is.
//   - parentid 0 on department/update is not given (no move);
//     ParentIDZeroLiteral makes it a parent id: 60004, there being no
//     department 0.
//   - department/simplelist and department/list with id=0 are the root's
//     subtree (as id=1); DeptListIDZeroWholeTree makes them the whole
//     visible tree. The two differ only for a scoped app secret.
package emulator
