#!/usr/bin/env python3
"""Checks that the SQL of every db::Statement reads like SQL.

Scans the C++ sources under --root for db::Statement initialisers and fails when
  * a statement's text is pieced together: adjacent string literals ("SELECT ..." " FROM ...")
    or a macro next to a literal. Write one raw literal, R"sql( ... )sql", one clause a line;
  * the text compares an enum-like column (channel, kind, reason, status, source, state) with a
    bare number (`a.kind = 1`, `s.channel IN (0, 2)`, `p.channel <> 0`). Bind the number as a
    parameter from the named C++ enum or constant instead, so the SQL says what it means.

Paths given with --exclude (or in HERALD_SQL_TEXT_EXCLUDE, separated by ':') are skipped: a
prefix of the path relative to the root.

Exit status 0 when clean, 1 on findings (one `path:line: message` a line), 2 on bad usage.
"""

import argparse
import os
import re
import sys

ENUM_COLUMNS = ("channel", "kind", "reason", "status", "source", "state")
SOURCE_SUFFIXES = (".cc", ".h", ".cpp", ".hpp")
SKIP_DIRS = {".git", "third_party", "node_modules"}

# The start of an initialiser: `db::Statement kName{`, `Statement kName{` or `Statement{`.
STATEMENT_START = re.compile(r"\b(?:db::)?Statement(?:\s+\w+)?\s*\{")
# A bare number compared with an enum-like column, optionally qualified (`s.reason`).
COLUMN = r"\b(?:\w+\.)?(?P<col>" + "|".join(ENUM_COLUMNS) + r")\b"
NUMBER_COMPARE = re.compile(COLUMN + r"\s*(?:=|<>|!=)\s*(?P<num>\d+)\b", re.I)
NUMBER_COMPARED = re.compile(r"\b(?P<num>\d+)\s*(?:=|<>|!=)\s*" + COLUMN, re.I)
IN_LIST = re.compile(COLUMN + r"\s+(?:NOT\s+)?IN\s*\((?P<items>[^()]*)\)", re.I)


class Piece:
    """One part of a statement's SQL expression: a string literal or another token."""

    def __init__(self, kind, text, start):
        self.kind = kind  # "literal" or "other"
        self.text = text  # a literal's contents; an other token's source text
        self.start = start  # offset in the file


def read_literal(src, i):
    """Reads the C++ string literal starting at src[i]; returns (contents, end) or None."""
    m = re.match(r'(?:u8|u|U|L)?R"([^()\\\s]{0,16})\(', src[i:])
    if m:
        close = ")" + m.group(1) + '"'
        body_start = i + m.end()
        end = src.find(close, body_start)
        if end < 0:
            return None
        return src[body_start:end], end + len(close)
    m = re.match(r'(?:u8|u|U|L)?"', src[i:])
    if not m:
        return None
    j = i + m.end()
    out = []
    while j < len(src) and src[j] != '"':
        if src[j] == "\\" and j + 1 < len(src):
            nxt = src[j + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}.get(nxt, nxt))
            j += 2
        else:
            out.append(src[j])
            j += 1
    return "".join(out), j + 1


def skip_space_and_comments(src, i):
    while i < len(src):
        if src[i].isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = len(src) if end < 0 else end + 1
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            i = len(src) if end < 0 else end + 2
        else:
            break
    return i


def parse_initialiser(src, i):
    """Parses `{ "name", <sql pieces> [, options] }` from just after the brace; returns the SQL
    pieces (a comma ends them: what follows is a later member, e.g. plan_each_call)."""
    i = skip_space_and_comments(src, i)
    name = read_literal(src, i)
    if not name:
        return None
    i = skip_space_and_comments(src, name[1])
    if i >= len(src) or src[i] != ",":
        return None
    i += 1
    pieces = []
    while True:
        i = skip_space_and_comments(src, i)
        if i >= len(src) or src[i] == "}" or (src[i] == "," and pieces):
            return pieces
        lit = read_literal(src, i)
        if lit:
            pieces.append(Piece("literal", lit[0], i))
            i = lit[1]
            continue
        m = re.match(r"\w+|.", src[i:], re.S)
        pieces.append(Piece("other", m.group(0), i))
        i += m.end()


def strip_sql_noise(sql):
    """Blanks SQL string literals and comments (keeping offsets), so `'1'` or `-- kind = 1`
    are not read as comparisons."""
    out = list(sql)
    i = 0
    while i < len(sql):
        if sql[i] == "'":
            end = sql.find("'", i + 1)
            end = len(sql) - 1 if end < 0 else end
            for k in range(i + 1, end):
                if out[k] != "\n":
                    out[k] = " "
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            for k in range(i, end):
                out[k] = " "
            i = end
        else:
            i += 1
    return "".join(out)


def enum_number_findings(sql):
    """Yields (offset in sql, message) for each bare number compared with an enum column."""
    clean = strip_sql_noise(sql)
    for pattern in (NUMBER_COMPARE, NUMBER_COMPARED):
        for m in pattern.finditer(clean):
            yield m.start(), "compares %s with the number %s" % (m.group("col"), m.group("num"))
    for m in IN_LIST.finditer(clean):
        numbers = [x.strip() for x in m.group("items").split(",") if x.strip().isdigit()]
        if numbers:
            yield m.start(), "compares %s with the number(s) %s" % (m.group("col"),
                                                                     ", ".join(numbers))


def line_of(src, offset):
    return src.count("\n", 0, offset) + 1


def check_source(rel, src):
    """Returns the findings of one C++ file as `path:line: message` strings."""
    findings = []
    for m in STATEMENT_START.finditer(src):
        pieces = parse_initialiser(src, m.end())
        if not pieces:
            continue
        line = line_of(src, m.start())
        if len(pieces) > 1:
            findings.append(
                "%s:%d: statement text is pieced together from %d parts; write one raw literal "
                'R"sql( ... )sql"' % (rel, line, len(pieces)))
        for p in pieces:
            if p.kind != "literal":
                continue
            # A raw literal's text starts right after its opening; a plain one after the quote.
            body = src.find(p.text, p.start) if p.text else -1
            body = p.start if body < 0 else body
            for offset, message in enum_number_findings(p.text):
                findings.append("%s:%d: %s; bind it from the named enum or constant" %
                                (rel, line_of(src, body + offset), message))
    return findings


def source_files(root, excludes):
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not d.startswith("build") and not d.startswith(".") and
            not excluded(os.path.normpath(os.path.join(rel_dir, d)), excludes))
        for name in sorted(filenames):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if not excluded(rel, excludes):
                yield rel


def excluded(rel, excludes):
    return any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in excludes)


def check_tree(root, excludes=()):
    excludes = [os.path.normpath(e) for e in excludes if e]
    findings = []
    for rel in source_files(root, excludes):
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            findings += check_source(rel, f.read())
    return findings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the tree to scan")
    parser.add_argument("--exclude", action="append", default=[],
                        help="a path prefix (relative to the root) to skip; repeatable")
    args = parser.parse_args(argv)
    excludes = list(args.exclude)
    excludes += [e for e in os.environ.get("HERALD_SQL_TEXT_EXCLUDE", "").split(":") if e]
    if not os.path.isdir(args.root):
        print("check_sql_text: no such directory: %s" % args.root, file=sys.stderr)
        return 2
    findings = check_tree(args.root, excludes)
    for f in findings:
        print(f)
    if findings:
        print("check_sql_text: %d finding(s); see tools/check_sql_text.py for the rules" %
              len(findings), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
