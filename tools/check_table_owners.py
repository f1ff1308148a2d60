#!/usr/bin/env python3
"""Fails when a table is written outside the module that owns it.

The owner map is the machine-readable table between the `table-owners` markers in
docs/architecture.md, so the document and the check cannot drift apart. Each row names a
table, the path globs of its owner module and (for readers) who may call the owner; a row
for `*` lists writers allowed for every table (migrations, test fixtures).

What counts as a write, found case-insensitively and across line breaks in every SQL text:
  INSERT INTO t, UPDATE [ONLY] t [[AS] a] SET, DELETE FROM [ONLY] t, MERGE INTO t,
  COPY t [(cols)] FROM, TRUNCATE [TABLE] [ONLY] t[, t ...], and every pqxx stream_to (and
  tablewriter) target.
Table names may be schema-qualified and quoted. SQL texts are C++ string literals (adjacent
literals joined, raw strings included), .sql files, and the bodies of server-side
functions wherever they are defined. A function whose body writes a table makes every call
of it a write of that table; a trigger whose function writes a table makes the trigger's
own table's writers write it too, so both tables need the same owner.

Every table created anywhere (migrations, temporary tables in code) must have an owner row,
and every owner must match at least one file. Exit status 1 lists each finding as
file:line: message.
"""

import argparse
import fnmatch
import os
import re
import sys

CPP_EXTENSIONS = (".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".ipp", ".inc")
SQL_EXTENSIONS = (".sql",)
DEFAULT_DOC = "docs/architecture.md"
BEGIN_MARK = "<!-- table-owners:begin -->"
END_MARK = "<!-- table-owners:end -->"

IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
QNAME = r"(?:%s\s*\.\s*)?%s" % (IDENT, IDENT)
QNAME_CAPTURE = r"(?P<table>%s)" % QNAME

WRITE_PATTERNS = [
    ("INSERT", re.compile(r"\bINSERT\s+INTO\s+" + QNAME_CAPTURE, re.I)),
    (
        "UPDATE",
        re.compile(
            r"\bUPDATE\s+(?:ONLY\s+)?" + QNAME_CAPTURE
            + r"(?:\s*\*)?(?:\s+(?:AS\s+)?" + IDENT + r")?\s+SET\b",
            re.I,
        ),
    ),
    ("DELETE", re.compile(r"\bDELETE\s+FROM\s+(?:ONLY\s+)?" + QNAME_CAPTURE, re.I)),
    ("MERGE", re.compile(r"\bMERGE\s+INTO\s+(?:ONLY\s+)?" + QNAME_CAPTURE, re.I)),
    ("COPY", re.compile(r"\bCOPY\s+" + QNAME_CAPTURE + r"\s*(?:\([^)]*\)\s*)?FROM\b", re.I)),
]
TRUNCATE = re.compile(
    r"\bTRUNCATE\s+(?:TABLE\s+)?(?P<list>(?:ONLY\s+)?%s(?:\s*\*)?(?:\s*,\s*(?:ONLY\s+)?%s(?:\s*\*)?)*)"
    % (QNAME, QNAME),
    re.I,
)
# A write keyword whose target is not in the text (built at run time): it cannot be checked.
DYNAMIC_TARGET = re.compile(
    r"(?:\b(?P<before>\w+)\s+)?(?<![.\w])(?:INSERT\s+INTO|DELETE\s+FROM|MERGE\s+INTO|UPDATE|COPY|TRUNCATE)"
    r"(?:\s+(?:ONLY|TABLE))?\s*(?:$|\{[^}]*\}|%s)",
    re.I,
)
# UPDATE at the end of a text is usually a row lock or an upsert, not a table to come.
NOT_DYNAMIC_BEFORE = {"for", "key", "do"}
CREATE_TABLE = re.compile(
    r"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP|TEMPORARY|UNLOGGED\s+)?\s*TABLE\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?" + QNAME_CAPTURE,
    re.I,
)
CREATE_FUNCTION = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\s+(?P<name>%s)\s*\(" % QNAME, re.I
)
DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
CREATE_TRIGGER = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+(?P<name>%s)\b(?P<spec>.*?)"
    r"\bON\s+(?P<table>%s)\b.*?\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\s+(?P<func>%s)\s*\("
    % (IDENT, QNAME, QNAME),
    re.I | re.S,
)
# A stream_to (or libpqxx 6's tablewriter) being constructed (a bare mention, e.g. a
# parameter's type, is not a write).
STREAM_TO = re.compile(r"\b(?:stream_to|tablewriter)\s*(?:::\s*(?:table|raw_table)\s*)?(?:[A-Za-z_]\w*\s*)?[({]")
ROW_LINES = {}  # table -> line of its row in the owner document
SQL_KEYWORDS = {"set", "only", "select", "values", "default", "table"}


class Text:
    """One SQL text with the source line of each character."""

    def __init__(self, path, chars, lines):
        self.path = path
        self.body = "".join(chars)
        self.lines = lines

    def line_at(self, offset):
        if not self.lines:
            return 1
        return self.lines[min(offset, len(self.lines) - 1)]


def normalize(name):
    """public.messages, "messages", MESSAGES -> messages; the schema is dropped."""
    parts = re.findall(IDENT, name)
    last = parts[-1] if parts else name
    if last.startswith('"'):
        return last[1:-1].replace('""', '"')
    return last.lower()


# ---------------------------------------------------------------------------------------
# C++: string literals (adjacent ones joined) and stream_to targets.


def _line_starts(src):
    starts = [0]
    for i, c in enumerate(src):
        if c == "\n":
            starts.append(i + 1)
    return starts


def _ident_before(src, i):
    j = i
    while j > 0 and (src[j - 1].isalnum() or src[j - 1] == "_"):
        j -= 1
    return src[j:i], j


def cpp_tokens(src):
    """Splits C++ source into ('code', text, start), ('comment', text, start) and
    ('lit', chars, lines, start, end) pieces; a literal's chars are its value, escapes
    decoded, each with its source line."""
    starts = _line_starts(src)
    line_of = lambda pos: _bisect(starts, pos)  # noqa: E731
    i, n = 0, len(src)
    code_start = 0
    while i < n:
        c = src[i]
        if c == "/" and i + 1 < n and src[i + 1] in "/*":
            if src[i + 1] == "/":
                j = src.find("\n", i)
                end = n if j < 0 else j
            else:
                j = src.find("*/", i + 2)
                end = n if j < 0 else j + 2
            yield ("code", src[code_start:i], code_start)
            yield ("comment", src[i:end], i)
            i = code_start = end
            continue
        if c == "'":
            word, _ = _ident_before(src, i)
            if word and word[0].isdigit():  # digit separator: 1'000
                i += 1
                continue
            j = i + 1
            while j < n and src[j] != "'" and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            i = j + 1
            continue
        if c == '"':
            word, wstart = _ident_before(src, i)
            if word in ("R", "u8R", "uR", "UR", "LR"):
                m = re.compile(r'"([^()\\ ]{0,16})\(').match(src, i)
                if not m:
                    i += 1
                    continue
                yield ("code", src[code_start:wstart], code_start)
                close = ")" + m.group(1) + '"'
                body_start = m.end()
                j = src.find(close, body_start)
                j = n if j < 0 else j
                chars = list(src[body_start:j])
                lines = [line_of(p) for p in range(body_start, j)]
                end = min(n, j + len(close))
                yield ("lit", chars, lines, wstart, end)
                i = code_start = end
                continue
            if word not in ("u8", "u", "U", "L"):
                wstart = i
            yield ("code", src[code_start:wstart], code_start)
            chars, lines = [], []
            j = i + 1
            while j < n and src[j] != '"' and src[j] != "\n":
                if src[j] == "\\" and j + 1 < n:
                    e = src[j + 1]
                    chars.append({"n": "\n", "t": "\t", "r": "\r"}.get(e, e))
                    lines.append(line_of(j))
                    j += 2
                    continue
                chars.append(src[j])
                lines.append(line_of(j))
                j += 1
            end = min(n, j + 1)
            yield ("lit", chars, lines, wstart, end)
            i = code_start = end
            continue
        i += 1
    yield ("code", src[code_start:n], code_start)


def _bisect(starts, pos):
    lo, hi = 0, len(starts)
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if starts[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo + 1


def cpp_texts(path, src):
    """The SQL texts (joined adjacent literals) of a C++ file, and its stream_to targets."""
    pieces = [p for p in cpp_tokens(src) if p[0] != "comment"]
    texts = []
    chars, lines = None, None
    for piece in pieces:
        if piece[0] == "lit":
            if chars is None:
                chars, lines = [], []
            chars.extend(piece[1])
            lines.extend(piece[2])
        elif piece[1].strip() and chars is not None:
            texts.append(Text(path, chars, lines))
            chars = None
    if chars is not None:
        texts.append(Text(path, chars, lines))

    # stream_to targets: the first literal of the call, or the last one of a {"schema",
    # "table"} path given in braces.
    streams = []
    starts = _line_starts(src)
    for idx, piece in enumerate(pieces):
        if piece[0] != "code":
            continue
        for m in STREAM_TO.finditer(piece[1]):
            line = _bisect(starts, piece[2] + m.start())
            code = piece[1][m.start():]
            found, braced, k = [], False, idx + 1
            while True:
                if not found:
                    cut = code.find(";")
                    head = code if cut < 0 else code[:cut]
                    # stream_to{txn, "t"} braces the call; {"schema", "t"} is a path.
                    braced = braced or "{" in head.replace("{", "", 1) or (
                        "{" in head and "(" in head)
                    if cut >= 0:
                        break
                elif not braced or "}" in code or ";" in code:
                    break
                if k >= len(pieces):
                    break
                if pieces[k][0] == "lit":
                    found.append("".join(pieces[k][1]))
                    code = ""
                else:
                    code = pieces[k][1]
                k += 1
            target = (found[-1] if braced else found[0]) if found else None
            streams.append((line, target))
    return texts, streams


# ---------------------------------------------------------------------------------------
# SQL: comments removed (quote-aware), dollar-quoted function bodies found.


def strip_sql_comments(text):
    """Blanks -- and /* */ comments, keeping string contents and every newline."""
    out = list(text.body)
    i, n = 0, len(out)
    s = text.body
    while i < n:
        c = s[i]
        if c == "'":
            j = i + 1
            while j < n:
                if s[j] == "'" and j + 1 < n and s[j + 1] == "'":
                    j += 2
                    continue
                if s[j] == "'":
                    break
                j += 1
            i = j + 1
            continue
        if c == "-" and s.startswith("--", i):
            while i < n and s[i] != "\n":
                out[i] = " "
                i += 1
            continue
        if c == "/" and s.startswith("/*", i):
            j = s.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        i += 1
    text.body = "".join(out)
    return text


def function_bodies(body):
    """(name, body_start, body_end) of each CREATE FUNCTION/PROCEDURE with a $tag$ body."""
    found = []
    for m in CREATE_FUNCTION.finditer(body):
        tag = DOLLAR_TAG.search(body, m.end())
        if not tag:
            continue
        close = body.find(tag.group(0), tag.end())
        if close < 0:
            continue
        found.append((normalize(m.group("name")), tag.end(), close))
    return found


def writes_in(body):
    """(offset, verb, table) of each write, and offsets of writes with run-time targets."""
    writes = []
    for verb, pattern in WRITE_PATTERNS:
        for m in pattern.finditer(body):
            table = normalize(m.group("table"))
            if table in SQL_KEYWORDS:
                continue
            writes.append((m.start(), verb, table))
    for m in TRUNCATE.finditer(body):
        for name in re.split(r"\s*,\s*", m.group("list")):
            name = re.sub(r"^ONLY\s+", "", name.strip(), flags=re.I).rstrip("* ")
            writes.append((m.start(), "TRUNCATE", normalize(name)))
    dynamic = [m.start() for m in DYNAMIC_TARGET.finditer(body)
               if (m.group("before") or "").lower() not in NOT_DYNAMIC_BEFORE]
    return sorted(writes), dynamic


# ---------------------------------------------------------------------------------------
# The owner map.


def parse_owner_map(doc_path):
    with open(doc_path, encoding="utf-8") as f:
        content = f.read()
    if BEGIN_MARK not in content or END_MARK not in content:
        raise SystemExit("%s: no %s ... %s block" % (doc_path, BEGIN_MARK, END_MARK))
    first_line = content[: content.index(BEGIN_MARK)].count("\n") + 1
    block = content.split(BEGIN_MARK, 1)[1].split(END_MARK, 1)[0]
    owners, everyone, unscanned = {}, [], []
    for number, row in enumerate(block.splitlines()):
        row = row.strip()
        if not row.startswith("|") or set(row) <= set("|-: "):
            continue
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) < 2 or cells[0].lower() == "table":
            continue
        tables = re.findall(r"`([^`]+)`", cells[0]) or [cells[0]]
        globs = re.findall(r"`([^`]+)`", cells[1])
        if cells[0].lower().startswith("(not scanned)"):
            unscanned.extend(globs)
            continue
        for table in tables:
            if table == "*":
                everyone.extend(globs)
            else:
                name = normalize(table) if not table.startswith('"') else table[1:-1]
                owners[name] = globs
                ROW_LINES[name] = first_line + number
    return owners, everyone, unscanned


def matches(path, globs):
    for g in globs:
        if g.endswith("/"):
            if path.startswith(g):
                return True
        elif fnmatch.fnmatchcase(path, g):
            return True
    return False


# ---------------------------------------------------------------------------------------


def source_files(root, unscanned):
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if d.startswith(".") or d == "node_modules":
                continue
            if rel_dir == "." and d.startswith("build"):
                continue  # build trees hold generated copies, e.g. the embedded migrations
            if os.path.exists(os.path.join(full, "CMakeCache.txt")):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.endswith(CPP_EXTENSIONS + SQL_EXTENSIONS):
                rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
                if not matches(rel, unscanned):
                    yield rel


def check(root, doc):
    owners, everyone, unscanned = parse_owner_map(os.path.join(root, doc))
    findings = []
    texts = []  # every SQL text, comments blanked
    stream_targets = []  # (path, line, table or None)
    created = {}  # table -> (path, line)
    files = list(source_files(root, unscanned))

    for rel in files:
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            src = f.read()
        if rel.endswith(SQL_EXTENSIONS):
            lines = []
            line = 1
            for ch in src:
                lines.append(line)
                if ch == "\n":
                    line += 1
            texts.append(strip_sql_comments(Text(rel, list(src), lines)))
        else:
            sql, streams = cpp_texts(rel, src)
            texts.extend(strip_sql_comments(t) for t in sql)
            stream_targets.extend((rel, line, target) for line, target in streams)

    def owner_of(table):
        return owners.get(table)

    def report(path, line, message):
        findings.append((path, line, message))

    def check_write(path, line, verb, table, via=""):
        if matches(path, everyone):
            return
        globs = owner_of(table)
        if globs is None:
            report(path, line, "%s %s%s: table has no owner in %s" % (verb, table, via, doc))
        elif not matches(path, globs):
            report(path, line, "%s %s%s outside its owner (%s)" % (verb, table, via,
                                                                   ", ".join(globs)))

    # Server-side functions: which tables each writes; their bodies are checked in place.
    function_writes = {}
    for text in texts:
        for name, start, end in function_bodies(text.body):
            writes, _ = writes_in(text.body[start:end])
            if writes:
                function_writes.setdefault(name, set()).update(t for _, _, t in writes)

    for text in texts:
        body = text.body
        for m in CREATE_TABLE.finditer(body):
            created.setdefault(normalize(m.group("table")), (text.path, text.line_at(m.start())))
        bodies = function_bodies(body)
        in_function = lambda off: any(s <= off < e for _, s, e in bodies)  # noqa: E731
        writes, dynamic = writes_in(body)
        for off, verb, table in writes:
            path = text.path
            if in_function(off) and matches(path, everyone):
                # A function defined in a migration still writes for whoever calls it: its
                # body is checked through its calls (below), not exempt here.
                continue
            check_write(path, text.line_at(off), verb, table)
        for off in dynamic:
            if not matches(text.path, everyone):
                report(text.path, text.line_at(off),
                       "write whose table is built at run time: name the table in the SQL text")
        for name, tables in function_writes.items():
            bare = re.escape(name)
            for m in re.finditer(r"(?<![\w$.])(?:[\w$]+\s*\.\s*)?%s\s*\(" % bare, body, re.I):
                before = body[max(0, m.start() - 40):m.start()]
                if re.search(r"\b(?:FUNCTION|PROCEDURE)\s+$", before, re.I):
                    continue
                if re.search(r"\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\s+$", before, re.I):
                    continue  # a trigger: checked below
                for table in sorted(tables):
                    check_write(text.path, text.line_at(m.start()), "CALL", table,
                                " (through %s())" % name)
        for m in CREATE_TRIGGER.finditer(body):
            func = normalize(m.group("func"))
            on_table = normalize(m.group("table"))
            for table in sorted(function_writes.get(func, ())):
                if owner_of(table) != owner_of(on_table) or owner_of(table) is None:
                    report(text.path, text.line_at(m.start()),
                           "trigger %s on %s writes %s through %s(): the two tables need one owner"
                           % (normalize(m.group("name")), on_table, table, func))

    for path, line, target in stream_targets:
        if target is None:
            if not matches(path, everyone):
                report(path, line, "stream_to target is not a string literal: name the table")
            continue
        check_write(path, line, "COPY (stream_to)", normalize(target))

    for table, (path, line) in sorted(created.items()):
        if table not in owners:
            report(path, line, "table %s has no owner row in %s" % (table, doc))
    for table, globs in sorted(owners.items()):
        if not any(matches(f, globs) for f in files):
            report(doc, ROW_LINES.get(table, 1), "owner of %s (%s) matches no source file" % (table, ", ".join(globs)))
    return sorted(set(findings)), owners


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."),
                        help="the source tree (default: this script's checkout)")
    parser.add_argument("--doc", default=DEFAULT_DOC,
                        help="the document holding the owner table, relative to --root")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    findings, owners = check(root, args.doc)
    for path, line, message in findings:
        print("%s:%d: %s" % (path, line, message))
    if findings:
        print("%d write(s) outside their owner; owners are listed in %s" % (len(findings),
                                                                          args.doc))
        return 1
    print("table owners: %d tables, every write inside its owner" % len(owners))
    return 0


if __name__ == "__main__":
    sys.exit(main())
