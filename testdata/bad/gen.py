#!/usr/bin/env python3
"""Writes the bad-input corpus of issue 9 (testdata/bad/) and its manifest,
cases.yaml, which reliability/corpus_test.go runs through the real binary.

    python3 testdata/bad/gen.py      # from the repository root; rewrites the corpus

Three kinds of case:
  rows    rows/NAME.csv: valid rows around bad ones; `orgsync plan` must name
          the bad rows' file:line and still plan the valid rows (`valid`).
          `maybe` rows may be accepted (planned) or rejected (located).
  file    files/NAME.*: a broken whole file next to a good second source;
          the output must name the file, and the good source still plans.
  config  configs/NAME.yaml: `orgsync validate --offline` (or `run`) must
          exit 2 naming the config line.
Placeholders in configs: @GOOD@ (rows/_good.csv), @URL@, @DIR@ (a temp
dir), @SECRET_FILE@.
"""
import os
import json

ROOT = os.path.dirname(os.path.abspath(__file__))
HEADER = ["id", "name", "dept", "mobile", "email", "position", "status", "manager"]
cases = []


def q(v):
    if any(c in v for c in ',"\r\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def row(i, pre, **kw):
    r = {"id": f"{pre}{i}", "name": f"员工{pre}{i}", "dept": "总部/研发中心", "mobile": mobile_for(pre + "bad", i),
         "email": f"{pre}{i}@corp.example", "position": "工程师", "status": "在职", "manager": ""}
    r.update(kw)
    return r


def mobile_for(pre, i):
    # deterministic, unique per case prefix and row
    h = sum(ord(c) * (k + 1) for k, c in enumerate(pre)) % 9000 + 1000
    return f"139{h:04d}{i:04d}"


def rows_case(name, bad, note, valid_n=3, why="", maybe=(), exit=(0, 4), raw=None, extra_valid=()):
    """bad: list of row dicts placed after the first two valid rows."""
    pre = "".join(c for c in name if c.isalnum())[:10].lower()
    good = [row(i, pre) for i in range(1, valid_n + 1)]
    for i, g in enumerate(good):
        g["mobile"] = mobile_for(pre, i + 1)
    body = good[:2] + bad + good[2:]
    lines = [",".join(HEADER)]
    bad_lines = []
    for r in body:
        line = ",".join(q(r.get(h, "")) for h in HEADER) if isinstance(r, dict) else r
        lines.append(line)
        if r in bad:
            bad_lines.append(len(lines))
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8") if raw is None else raw
    path = f"rows/{name}.csv"
    write(path, data)
    where = "|".join(rf"{name}\.csv:{n}\b" for n in bad_lines) if bad_lines else rf"{name}\.csv"
    cases.append({"name": name, "kind": "rows", "file": path, "run": "plan", "exit": list(exit), "where": where,
                  "why": why, "valid": [g["id"].lower() for g in good] + list(extra_valid), "maybe": list(maybe), "note": note})


def write(path, data):
    full = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


# ---- rows ---------------------------------------------------------------

rows_case("blank_key", [row(9, "x", id="")], "issue 9 #5: an empty 工号 is rejected, its member protected", why="(?i)key")
rows_case("whitespace_key", [row(9, "x", id="   ")], "a key of spaces is a blank key", why="(?i)key")
rows_case("duplicate_key", [row(1, "duplicatek", name="重复的人")], "the same key twice", why="(?i)duplicate|twice|again")
rows_case("duplicate_key_case", [row(1, "DUPLICATEK", name="大写重复")], "keys that differ only in case are one WeCom userid",
          why="(?i)duplicate|twice|again|case")
rows_case("duplicate_mobile", [row(9, "dm", mobile=mobile_for("duplicatem", 1))],
          "issue 9: a duplicate mobile inside the file must be found before apply (60104)", why="(?i)mobile|duplicate")
m1 = mobile_for("duplicatem", 1)  # the first valid row's mobile (both cases share the prefix)
rows_case("duplicate_mobile_formats", [row(9, "dmf", mobile=f"+86 {m1[:3]} {m1[3:7]} {m1[7:]}")],
          "the same mobile written differently is still a duplicate", why="(?i)mobile|duplicate")
rows_case("duplicate_email", [row(9, "de", email="duplicatee1@corp.example")], "a duplicate email inside the file (60106)",
          why="(?i)email|duplicate")
rows_case("duplicate_email_case", [row(9, "dec", email="DuplicateE1@Corp.Example")], "emails differ only in case",
          why="(?i)email|duplicate")
# a leader missing from the file: the reports sync without a leader
rows_case("missing_leader", [], "issue 9: a leader missing from the file must not reject the reports", valid_n=0)
cases.pop()
good = [row(i, "ml", manager="NOBODY99") for i in range(1, 4)]
for i, g in enumerate(good):
    g["mobile"] = mobile_for("missinglea", i + 1)
lines = [",".join(HEADER)] + [",".join(q(r[h]) for h in HEADER) for r in good]
write("rows/missing_leader.csv", "\r\n".join(lines) + "\r\n")
cases.append({"name": "missing_leader", "kind": "rows", "file": "rows/missing_leader.csv", "run": "plan", "exit": [0, 4],
              "where": r"missing_leader\.csv:\d+|NOBODY99|nobody99", "why": "", "valid": ["ml1", "ml2", "ml3"], "maybe": [],
              "note": "issue 9: reports of a leader missing from the file sync without a leader, with a warning naming it"})


def leader_case(name, managers, note):
    pre = name.replace("_", "")[:6]
    rs = []
    for i, m in enumerate(managers, 1):
        r = row(i, pre, manager=f"{pre}{m}" if m else "")
        r["mobile"] = mobile_for(pre, i)
        rs.append(r)
    lines = [",".join(HEADER)] + [",".join(q(r[h]) for h in HEADER) for r in rs]
    write(f"rows/{name}.csv", "\r\n".join(lines) + "\r\n")
    ids = [r["id"].lower() for r in rs]
    cycle = [r["id"].lower() for r in rs if r["manager"]]
    cases.append({"name": name, "kind": "rows", "file": f"rows/{name}.csv", "run": "plan", "exit": [0, 4],
                  "where": rf"{name}\.csv:\d+|(?i)cycle", "why": "", "valid": [x for x in ids if x not in cycle],
                  "maybe": cycle, "note": note})


leader_case("manager_cycle_2", [2, 1, None], "A reports to B, B to A")
leader_case("manager_cycle_3", [2, 3, 1, None], "A→B→C→A")
leader_case("manager_self", [1, None, None], "a person is their own leader")

ctrl = [
    ("nul_in_name", "张\x00三", "issue 9: NUL in a name is never sent to WeCom"),
    ("esc_in_name", "\x1b[31m张三", "issue 9: ESC (terminal escape) in a name"),
    ("newline_in_name", "张\n三", "issue 9: a newline inside a quoted name"),
    ("cr_in_name", "张\r三", "a bare CR inside a quoted name"),
    ("del_in_name", "张\x7f三", "DEL in a name"),
    ("bidi_override_name", "\u202e三张", "a right-to-left override char that spoofs how a name reads"),
    ("zero_width_name", "张\u200b三", "a zero-width space inside a name"),
]
for name, val, note in ctrl:
    rows_case(name, [row(9, "c", name=val, mobile="13911110000")], note, why="(?i)name|control|character|invalid")

rows_case("emoji_name", [row(9, "emo", name="张三😀", mobile="13911110001")], "emoji in a name: accepted or rejected with its line",
          maybe=["emo9"])
rows_case("rtl_arabic_name", [row(9, "rtl", name="محمد علي", mobile="13911110002")], "an Arabic (RTL) name", maybe=["rtl9"])
rows_case("rtl_hebrew_dept", [row(9, "heb", dept="总部/מחלקה", mobile="13911110003")], "a Hebrew department name",
          maybe=["heb9"])
rows_case("name_1mb", [row(9, "big", name="长" * ((1 << 20) // 3), mobile="13911110004")], "a 1 MB name field",
          why="(?i)name|long|length|characters")
rows_case("position_1mb", [row(9, "bigp", position="x" * (1 << 20), mobile="13911110005")], "a 1 MB position field",
          why="(?i)position|long|length|characters")
rows_case("name_65_chars", [row(9, "n65", name="名" * 65, mobile="13911110006")], "a name over WeCom's 64 characters",
          why="(?i)name|long|length|characters")
rows_case("empty_name", [row(9, "en", name="", mobile="13911110007")], "a blank name", why="(?i)name|empty|blank|required")

mobiles = [
    ("mobile_spaces", "139 1111 0010", True, "spaces: normalised"),
    ("mobile_plus86_dash", "+86-13911110011", True, "+86 with a dash: normalised"),
    ("mobile_paren_86", "(+86)13911110012", True, "(+86) prefix: normalised"),
    ("mobile_0086", "0086 13911110013", True, "0086 prefix: normalised"),
    ("mobile_dashes", "139-1111-0014", True, "dashes: normalised"),
    ("mobile_us_e164", "+1 415 555 0100", True, "a US number in E.164"),
    ("mobile_fullwidth", "１３９１１１１００１６", None, "full-width digits: normalised or rejected"),
    ("mobile_too_short", "12345", False, "5 digits"),
    ("mobile_12_digits", "139111100171", False, "12 digits, no country code"),
    ("mobile_letters", "139-CALL-NOW", False, "letters"),
    ("mobile_extension", "13911110018 ext 12", None, "an extension: normalised or rejected"),
    ("mobile_landline", "010-62345678", None, "a landline in the mobile column"),
]
for name, val, ok, note in mobiles:
    pre = name.replace("_", "")[:10]
    if ok is True:
        rows_case(name, [row(9, "m", mobile=val)], "mobile format: " + note, extra_valid=["m9"])
        cases[-1]["where"] = ""  # nothing to locate: the row is valid
    elif ok is False:
        rows_case(name, [row(9, "m", mobile=val)], "mobile format: " + note, why="(?i)mobile|phone|number")
    else:
        rows_case(name, [row(9, "m", mobile=val)], "mobile format: " + note, maybe=["m9"])

rows_case("bad_email", [row(9, "be", email="not-an-email", mobile="13911110020")], "an email without @", why="(?i)email|mail")
rows_case("email_two_at", [row(9, "be2", email="a@@corp.example", mobile="13911110021")], "an email with two @",
          why="(?i)email|mail")
rows_case("dept_depth_16", [row(9, "d16", dept="/".join(f"层{i}" for i in range(1, 17)), mobile="13911110022")],
          "a department path 16 deep (WeCom allows 15)", why="(?i)depth|deep|level|15")
for name, seg in [("dept_colon", "研发:中心"), ("dept_star", "a*b"), ("dept_quote", 'a"b'), ("dept_pipe", "销售|市场"),
                  ("dept_angle", "<script>"), ("dept_question", "谁?")]:
    rows_case(name, [row(9, "dc", dept="总部/" + seg, mobile="13911110023")], f"department name with {seg!r}",
              why="(?i)department|character|name")
rows_case("dept_empty_segment", [row(9, "des", dept="总部//后端组", mobile="13911110024")], "an empty path segment",
          maybe=["des9"])
rows_case("dept_name_65_chars", [row(9, "dl", dept="总部/" + "部" * 65, mobile="13911110025")],
          "a department name over 64 characters", why="(?i)department|long|length|characters")
rows_case("userid_chinese", [row(9, "x", id="张三", mobile="13911110026")], "a key that makes an invalid WeCom userid",
          why="(?i)userid|character|invalid")
rows_case("userid_65_chars", [row(9, "x", id="u" * 65, mobile="13911110027")], "a userid over 64 characters",
          why="(?i)userid|long|length|characters")
rows_case("short_row", [], "a row with fewer columns than the header", valid_n=0)
cases.pop()


def raw_case(name, lines_, bad_line_nos, note, valid, why="", maybe=(), exit=(0, 4)):
    write(f"rows/{name}.csv", "\r\n".join(lines_) + "\r\n")
    where = "|".join(rf"{name}\.csv:{n}\b" for n in bad_line_nos)
    cases.append({"name": name, "kind": "rows", "file": f"rows/{name}.csv", "run": "plan", "exit": list(exit),
                  "where": where, "why": why, "valid": valid, "maybe": list(maybe), "note": note})


H = ",".join(HEADER)
ok = lambda i, p: f"{p}{i},员工{p}{i},总部,{mobile_for(p, i)},{p}{i}@corp.example,工程师,在职,"
raw_case("short_row", [H, ok(1, "sr"), "sr9,短行,总部", ok(2, "sr")], [3], "a row with fewer columns than the header",
         ["sr1", "sr2"], why="(?i)column|field|short")
raw_case("long_row", [H, ok(1, "lr"), ok(9, "lr") + ",extra,more", ok(2, "lr")], [3], "a row with more columns than the header",
         ["lr1", "lr2"], why="(?i)column|field|long")
raw_case("unterminated_quote", [H, ok(1, "uq"), ok(2, "uq"), 'uq9,"未闭合,总部,13911110030,uq9@corp.example,工程师,在职,'], [4],
         "an opening quote never closed (runs to end of file): the rows before it may be kept or the file failed",
         [], maybe=["uq1", "uq2"], why="(?i)quote", exit=(0, 1, 3, 4))
raw_case("bare_quote", [H, ok(1, "bq"), 'bq9,张"三,总部,13911110031,bq9@corp.example,工程师,在职,', ok(2, "bq")], [3],
         "a bare quote in an unquoted field", ["bq1", "bq2"], why="(?i)quote", exit=(0, 1, 3, 4))
raw_case("trailing_space_key", [H, ok(1, "ts"), " ts9 ,员工ts9,总部,13911110032,ts9@corp.example,工程师,在职,", ok(2, "ts")], [3],
         "a key with spaces around it: trimmed or rejected", ["ts1", "ts2"], maybe=["ts9"])
raw_case("blank_lines", [H, ok(1, "bl"), "", ok(2, "bl"), "", ok(3, "bl")], [], "blank lines between rows", ["bl1", "bl2", "bl3"])
write("rows/bom_utf8.csv", ("\ufeff" + "\r\n".join([H, ok(1, "bom"), ok(2, "bom")]) + "\r\n").encode("utf-8"))
cases.append({"name": "bom_utf8", "kind": "rows", "file": "rows/bom_utf8.csv", "run": "plan", "exit": [0, 4], "where": "",
              "why": "", "valid": ["bom1", "bom2"], "maybe": [], "note": "a UTF-8 BOM before the header: valid"})
write("rows/mixed_line_ends.csv", (H + "\r\n" + ok(1, "mle") + "\n" + ok(2, "mle") + "\r\n" + ok(3, "mle") + "\n").encode())
cases.append({"name": "mixed_line_ends", "kind": "rows", "file": "rows/mixed_line_ends.csv", "run": "plan", "exit": [0, 4],
              "where": "", "why": "", "valid": ["mle1", "mle2", "mle3"], "maybe": [], "note": "LF and CRLF mixed: valid"})
raw_case("latin1_byte_in_row", [H, ok(1, "lb"), ok(2, "lb"), ok(3, "lb")], [], "issue 9 #1: one Latin-1 byte in one row", [])
cases.pop()
data = ("\r\n".join([H, ok(1, "lb"), "lb9,Caf\udce9,总部,13911110033,lb9@corp.example,工程师,在职,", ok(2, "lb")]) + "\r\n")
write("rows/latin1_byte_in_row.csv", data.encode("utf-8", "surrogateescape"))
cases.append({"name": "latin1_byte_in_row", "kind": "rows", "file": "rows/latin1_byte_in_row.csv", "run": "plan",
              "exit": [0, 1, 3, 4], "where": r"latin1_byte_in_row\.csv(:3\b)?", "why": "(?i)encod|utf-?8|byte|decod",
              "valid": [], "maybe": [],
              "note": "issue 9 #1: one 0xE9 byte in a UTF-8 export (encoding auto): the file is never re-read as GB18030"})

# ---- whole files (next to a good second source) -------------------------


def file_case(name, ext, data, note, why="", where=None, options=""):
    path = f"files/{name}.{ext}"
    write(path, data)
    cases.append({"name": name, "kind": "file", "file": path, "options": options, "run": "plan", "exit": [0, 1, 3, 4],
                  "where": where or rf"{name}\.{ext}", "why": why, "valid": ["g1", "g2", "g3"], "maybe": [], "note": note})


file_case("binary_garbage", "csv", bytes((i * 73 + 41) % 256 for i in range(4096)), "random bytes")
file_case("nul_bytes", "csv", (H + "\r\n" + ok(1, "nb")).encode().replace(b",", b"\x00,") + b"\r\n", "NUL bytes throughout")
file_case("only_bom", "csv", b"\xef\xbb\xbf", "a BOM and nothing else", why="(?i)empty|no records|header|no people")
file_case("empty", "csv", b"", "a zero-byte file", why="(?i)empty|no records|header|no people")
file_case("header_duplicate_column", "csv", ("id,name,name,dept,mobile,email,position,status,manager\r\n" +
                                             "hd1,甲,乙,总部,13911110040,hd1@corp.example,工程师,在职,\r\n").encode(),
          "the header names a column twice", why="(?i)column|header|duplicate")
file_case("header_missing_key", "csv", ("name,dept,mobile,email,position,status,manager\r\n" +
                                        "甲,总部,13911110041,hk1@corp.example,工程师,在职,\r\n").encode(),
          "no key column", why="(?i)column|header|\\bid\\b|key")
file_case("xlsx_garbage", "xlsx", b"PK\x03\x04" + bytes(range(256)) * 4, "an .xlsx that is no workbook",
          why="(?i)zip|xlsx|workbook|format")
file_case("utf16_declared_utf8", "csv", ("\r\n".join([H, ok(1, "u16")]) + "\r\n").encode("utf-16-le"),
          "UTF-16 without BOM (declared utf-8 in its config)", why="(?i)encod|utf|byte|decod|NUL", options=", encoding: utf-8")
file_case("gbk_declared_utf8", "csv", ("\r\n".join([H, "gk1,张三,总部,13911110042,gk1@corp.example,工程师,在职,"]) + "\r\n").encode("gbk"),
          "a GBK file declared utf-8", why="(?i)encod|utf-?8|byte|decod", options=", encoding: utf-8")

write("rows/_good.csv", "\r\n".join([H, ok(1, "g"), ok(2, "g"), ok(3, "g")]) + "\r\n")

# ---- configs ------------------------------------------------------------

BASE = """sources:
  - name: hr
    type: csv
    config: {path: @GOOD@, settle: 0s}
mapping:
  key: id
  user:
    userid: lower(id)
    name: trim(name)
    department: dept
    position: position
    mobile: mobile
    email: lower(email)
    enabled: status != "离职"
target:
  type: wecom
  config:
    base_url: @URL@
    corp_id: wwreliability0001
    secret_file: @SECRET_FILE@
    root_department_id: 1
policy:
  mode: sync
  leavers: disable
state: {path: @DIR@/state.db}
"""


def config_case(name, note, edit, why="", run="validate", near=False):
    """edit(text) returns (new text, marker): the case must name the line
    holding marker, or the line of a block or list entry enclosing it (e.g.
    "sources.0 (hr, line 2)"); near: a YAML syntax error, where the parser
    may report the line before or after."""
    text, marker = edit(BASE)
    ls = text.split("\n")
    line = next(i + 1 for i, l in enumerate(ls) if marker in l)
    ok = {line}
    if near:
        ok |= {line - 1, line + 1}
    indent = len(ls[line - 1]) - len(ls[line - 1].lstrip(" -\t"))
    for i in range(line - 2, -1, -1):
        l = ls[i]
        ind = len(l) - len(l.lstrip(" -"))
        if l.lstrip().startswith("- ") and ind <= indent:  # the list entry holding it
            ok.add(i + 1)
            indent = len(l) - len(l.lstrip(" "))
        elif l.strip() and ind < indent:
            ok.add(i + 1)
            indent = ind
    alts = "|".join(str(n) for n in sorted(ok))
    write(f"configs/{name}.yaml", text)
    cases.append({"name": name, "kind": "config", "file": f"configs/{name}.yaml", "run": run, "exit": [2],
                  "where": rf"(line ({alts})\b|\.yaml:({alts})\b)", "why": why, "valid": [], "maybe": [], "note": note})


def repl(old, new, marker=None):
    return lambda t: (t.replace(old, new, 1), marker or new.strip().split("\n")[0])


config_case("rule_unknown_function", "issue 9: an unknown function in a rule",
            repl("name: trim(name)", "name: titlecase(name)"), why="(?i)titlecase|function|unknown|undefined")
config_case("rule_int_of_name", "issue 9: int(姓名) (a name is never a number)",
            repl("position: position", "position: int(name)"), why="(?i)int|type|number|string")
config_case("rule_userid_nil", "issue 9: userid: nil", repl("userid: lower(id)", "userid: nil"),
            why="(?i)userid|nil|empty|string")
config_case("rule_div_zero", "issue 9: 1/0 (plans position \"+Inf\")", repl("position: position", "position: 1/0"),
            why="(?i)position|division|zero|inf|number|string")
config_case("rule_syntax_error", "an unclosed parenthesis", repl("userid: lower(id)", "userid: lower(id"), why="(?i)userid|syntax|unexpected|parse")
config_case("rule_unknown_column", "a rule reading a column no source has",
            repl("position: position", "position: job_title"), why="(?i)job_title|column|unknown|undefined")
config_case("schedule_every_0s", "issue 9: schedule @every 0s runs every second",
            lambda t: (t + 'schedule: "@every 0s"\n', "schedule:"), why="(?i)schedule|interval|every|0s")
config_case("schedule_garbage", "a cron expression that is not one", lambda t: (t + 'schedule: "every day at 2"\n', "schedule:"),
            why="(?i)schedule|cron|parse")
config_case("unknown_top_key", "a typo'd top-level key", lambda t: (t + "polciy: {mode: sync}\n", "polciy"), why="(?i)polciy|unknown")
config_case("unknown_policy_key", "a typo'd policy key", repl("  leavers: disable", "  leaver: disable"), why="(?i)leaver|unknown")
config_case("unknown_mapping_field", "a WeCom field that does not exist", repl("    position: position", "    positon: position"),
            why="(?i)positon|unknown")
config_case("bad_mode", "policy.mode: mirror", repl("mode: sync", "mode: mirror"), why="(?i)mode|mirror")
config_case("bad_leavers", "policy.leavers: fire", repl("leavers: disable", "leavers: fire"), why="(?i)leavers|fire")
config_case("max_disables_150pct", "a percentage over 100", repl("  leavers: disable", "  leavers: disable\n  max_disables: 150%", "max_disables"),
            why="(?i)max_disables|percent|100")
config_case("max_deletes_negative", "a negative threshold", repl("  leavers: disable", "  leavers: disable\n  max_deletes: -3", "max_deletes"),
            why="(?i)max_deletes|negative")
config_case("delete_after_negative", "delete_after: -1h", repl("  leavers: disable", "  leavers: disable\n  delete_after: -1h", "delete_after"),
            why="(?i)delete_after|negative")
config_case("delete_after_garbage", "delete_after: soon", repl("  leavers: disable", "  leavers: disable\n  delete_after: soon", "delete_after"),
            why="(?i)delete_after|duration")
config_case("root_department_zero", "root_department_id: -5", repl("root_department_id: 1", "root_department_id: -5"),
            why="(?i)root_department")
config_case("source_unknown_type", "type: ftp", repl("type: csv", "type: ftp"), why="(?i)ftp|type")
config_case("source_duplicate_name", "two sources named hr",
            repl("    config: {path: @GOOD@, settle: 0s}\n", "    config: {path: @GOOD@, settle: 0s}\n  - name: hr  # the second one\n    type: csv\n    config: {path: @GOOD@, settle: 0s}\n", "# the second one"),
            why="(?i)duplicate|twice|hr")
config_case("source_unknown_option", "a csv option that does not exist",
            repl("config: {path: @GOOD@, settle: 0s}", "config: {path: @GOOD@, settle: 0s, encodng: gbk}"), why="(?i)encodng|unknown")
config_case("source_bad_encoding", "encoding: klingon", repl("config: {path: @GOOD@, settle: 0s}", "config: {path: @GOOD@, settle: 0s, encoding: klingon}"),
            why="(?i)encoding|klingon")
config_case("mapping_no_key", "no mapping.key", repl("  key: id\n", "", "mapping:"), why="(?i)key")
config_case("mapping_no_userid", "no userid rule", repl("    userid: lower(id)\n", "", "  user:"), why="(?i)userid")
config_case("yaml_duplicate_key", "the same key twice in a block", repl("  leavers: disable", "  leavers: disable\n  leavers: delete", "leavers: delete"),
            why="(?i)already|duplicate|leavers")
config_case("yaml_tab_indent", "a tab in the indentation", repl("  leavers: disable", "\tleavers: disable", "leavers"), why="(?i)tab|yaml|indent|found", near=True)
config_case("yaml_bad_indent", "a key indented wrongly", repl("  leavers: disable", "   leavers: disable", "leavers"), why="(?i)yaml|indent|mapping|did not find", near=True)
config_case("secret_and_secret_file", "both secret and secret_file",
            repl("    secret_file: @SECRET_FILE@", "    secret: inline-value\n    secret_file: @SECRET_FILE@", "secret"),
            why="(?i)secret")
config_case("state_path_missing_dir", "issue 9: state.path in a directory that does not exist (created silently today)",
            repl("state: {path: @DIR@/state.db}", "state: {path: @DIR@/no/such/dir/state.db}"), why="(?i)state|director|exist", run="plan")
config_case("base_url_not_url", "base_url: qyapi", repl("base_url: @URL@", "base_url: ://qyapi"), why="(?i)base_url|url")
config_case("table_departments_missing_file", "departments from a table file that does not exist",
            repl("    enabled: status != \"离职\"\n", "    enabled: status != \"离职\"\n  departments:\n    from: table\n    table: {file: @DIR@/nope.csv, code: code, name: name, parent: parent}\n", "table:"),
            why="(?i)nope\\.csv|no such file|table", run="plan")

# Duplicates: either occurrence may be the one rejected, so the first valid
# row (the other half of the pair) may go either way, and either line may be
# named.
for c in cases:
    if c["name"].startswith("duplicate_"):
        first = c["valid"].pop(0)
        c["maybe"].append(first)
        c["where"] = c["where"] + "|" + c["where"].replace(":4", ":2")

with open(os.path.join(ROOT, "cases.yaml"), "w", encoding="utf-8") as f:
    f.write("# The bad-input corpus of issue 9, written by gen.py (run it to regenerate; edit gen.py, not this).\n")
    f.write("# where: regexp for the location the output must name (file:line, or the config line).\n")
    f.write("# why: regexp for the reason. valid: userids the plan must still create. maybe: accepted or located.\n")
    for c in cases:
        f.write("- " + json.dumps(c, ensure_ascii=False) + "\n")
print(len(cases), "cases")
