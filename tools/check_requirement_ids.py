#!/usr/bin/env python3
"""Lists the requirement ids cited in code and tests and fails when one is not defined in a
document of the repository.

Ids are E1, S1, L1, J1, M1 ... CAP-1 ..., CALL-1 ... and FAIR-1 ... (docs/requirements.md), SEC-1 ... and TLS-1 ... (docs/security.md), REPL-1 ...
(docs/dispatch.md), the fault matrix's FAULT-1 ... (tests/fault_matrix/README.md) and the benchmarks B1 ...
(docs/performance.md); each family is defined in its document only. A citation is an id in a comment or an identifier
(a test named `S1_CaseIsIgnored` cites S1); string literals are data and are not read. An
id is defined where a document names it at the start of a list item or table row, in bold,
or in a heading.
"""

import argparse
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_table_owners import cpp_tokens, _bisect, _line_starts  # noqa: E402

FAMILIES = r"(?:CALL-\d{1,2}|FAIR-\d{1,2}|CAP-\d{1,2}|SEC-\d{1,2}|TLS-\d{1,2}|REPL-\d{1,2}|FAULT-\d{1,2}|[ESLJBCM]\d{1,2}[a-z]?)"
CITED = re.compile(r"(?<![A-Za-z0-9\-])(%s)(?![A-Za-z0-9])" % FAMILIES)
SOURCE_DIRS = ("common", "services", "tests", "bench", "proto", "tools")
SOURCE_EXTENSIONS = (".cc", ".h", ".proto")
# Each family of ids is defined in one document.
DEFINING_DOCS = (
    (re.compile(r"^[ESLJCM]\d"), "docs/requirements.md"),
    (re.compile(r"^CAP-"), "docs/requirements.md"),
    (re.compile(r"^CALL-"), "docs/requirements.md"),
    (re.compile(r"^FAIR-"), "docs/requirements.md"),
    (re.compile(r"^SEC-"), "docs/security.md"),
    (re.compile(r"^TLS-"), "docs/security.md"),
    (re.compile(r"^REPL-"), "docs/dispatch.md"),
    (re.compile(r"^FAULT-"), "tests/fault_matrix/README.md"),
    (re.compile(r"^B\d"), "docs/performance.md"),
)


def defining_doc(ident):
    for pattern, doc in DEFINING_DOCS:
        if pattern.match(ident):
            return doc
    return None


def cited_ids(root):
    """{id: [(path, line), ...]} of every citation in the source directories."""
    cited = collections.defaultdict(list)
    for top in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.endswith(SOURCE_EXTENSIONS):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, encoding="utf-8", errors="replace") as f:
                    src = f.read()
                starts = _line_starts(src)
                for piece in cpp_tokens(src):
                    if piece[0] == "lit":
                        continue
                    text, start = piece[1], piece[2]
                    if piece[0] == "code":
                        # Identifiers only: test names like S1_S2_StopStart.
                        words = re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", text)
                        for w in words:
                            for part in re.finditer(r"[^_]+", w.group(0)):
                                if re.fullmatch(FAMILIES, part.group(0)):
                                    line = _bisect(starts, start + w.start())
                                    cited[part.group(0)].append((rel, line))
                        continue
                    for m in CITED.finditer(text):
                        cited[m.group(1)].append((rel, _bisect(starts, start + m.start())))
    return cited


def defined_ids(root):
    """{id: (path, line)} of every definition in the family's document."""
    defined = {}
    lead = re.compile(r"^\s*(?:[-*]\s+|\|\s*|\d+\.\s+)(?:\*\*)?(%s)\b" % FAMILIES)
    bold = re.compile(r"\*\*(%s)\b" % FAMILIES)
    for rel in sorted({doc for _, doc in DEFINING_DOCS}):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("#"):
                    found = CITED.findall(line)
                else:
                    found = lead.findall(line) + bold.findall(line)
                for ident in found:
                    if defining_doc(ident) == rel:
                        defined.setdefault(ident, (rel, number))
    return defined


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--list", action="store_true", help="print every cited id and its definition")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    cited, defined = cited_ids(root), defined_ids(root)
    missing = 0
    for ident in sorted(cited, key=lambda i: (re.sub(r"\d.*", "", i), int(re.sub(r"\D", "", i)), i)):
        where = defined.get(ident)
        if where is None:
            for path, line in cited[ident]:
                print("%s:%d: %s is cited but not defined in %s"
                      % (path, line, ident, defining_doc(ident)))
            missing += 1
        elif args.list:
            print("%-7s %3d citation(s), defined in %s:%d" % (ident, len(cited[ident]), *where))
    if missing:
        print("%d requirement id(s) cited but not defined" % missing)
        return 1
    print("requirement ids: %d cited, every one defined" % len(cited))
    return 0


if __name__ == "__main__":
    sys.exit(main())
