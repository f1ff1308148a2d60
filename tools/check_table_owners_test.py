#!/usr/bin/env python3
"""Self-test of check_table_owners.py: planted writes outside their owner make it fail, in
every statement form it claims to catch; a clean tree passes."""

import contextlib
import io
import os
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_table_owners  # noqa: E402

OWNER_DOC = """\
# Architecture

<!-- table-owners:begin -->
| table | owner (the only writer) | who may call it |
|---|---|---|
| `messages`, `message_history` | `svc/ledger/` | everyone |
| `subjects` | `svc/registry*.cc` | everyone |
| `"Quoted"` | `svc/quoted.cc` | everyone |
| `stage` | `svc/campaigns.cc` | everyone |
| `*` (every table) | `db/migrations/` | the migrations |
| (not scanned) | `fixtures/` | test fixtures |
<!-- table-owners:end -->
"""

MIGRATION = """\
-- The schema. UPDATE messages SET in a comment is not a write.
CREATE TABLE subjects (id text PRIMARY KEY, blocked boolean);
CREATE TABLE messages (id text PRIMARY KEY, subject_id text REFERENCES subjects (id)
  ON DELETE CASCADE ON UPDATE CASCADE, status text);
CREATE TABLE message_history (message_id text, status text);
CREATE TABLE "Quoted" (id int);
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'refused';  -- INSERT INTO messages in a comment
END $$;
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON message_history
  FOR EACH ROW EXECUTE FUNCTION refuse();
UPDATE messages SET status = 'queued' WHERE status IS NULL;
"""

LEDGER = """\
#include <pqxx/pqxx>
// Every write of messages and their history lives here.
constexpr char kInsert[] = "INSERT INTO messages (id, status) VALUES ($1, 'queued')"
                           " ON CONFLICT (id) DO UPDATE SET status = excluded.status";
constexpr char kHistory[] = R"sql(
  INSERT INTO message_history (message_id, status) VALUES ($1, $2))sql";
constexpr char kClaim[] = "SELECT id FROM messages WHERE status = 'queued' FOR UPDATE SKIP LOCKED";
constexpr char kNoKey[] = "SELECT id FROM messages FOR NO KEY UPDATE OF messages";
constexpr char kExport[] = "COPY messages TO STDOUT";
constexpr char kExportQuery[] = "COPY (SELECT * FROM messages) TO STDOUT";
constexpr long kLimit = 1'000'000;
void Stream(pqxx::work& txn) { pqxx::stream_to s(txn, "messages", std::vector<std::string>{"id"}); }
"""

REGISTRY = """\
// The registry writes subjects.
constexpr char kBlock[] = "UPDATE subjects SET blocked = true WHERE id = $1";
constexpr char kNote[] = "don't update messages here";
"""

QUOTED = 'constexpr char kQ[] = "INSERT INTO \\"Quoted\\" (id) VALUES (1)";\n'

CAMPAIGNS = """\
constexpr char kStage[] = "CREATE TEMP TABLE stage (id text) ON COMMIT DROP";
void Load(pqxx::work& txn) { pqxx::stream_to s{txn, "stage"}; }
"""

CLEAN_TREE = {
    "docs/architecture.md": OWNER_DOC,
    "db/migrations/V001__schema.sql": MIGRATION,
    "svc/ledger/ledger.cc": LEDGER,
    "svc/registry_subjects.cc": REGISTRY,
    "svc/quoted.cc": QUOTED,
    "svc/campaigns.cc": CAMPAIGNS,
    "fixtures/arrange.cc": 'auto k = "UPDATE messages SET status = \'sent\'";\n',
    "build/generated.cc": 'auto k = "DELETE FROM messages";\n',
}

# Each planted violation: (file, content, table it writes). The file is outside the owner.
VIOLATIONS = {
    "insert, schema-qualified": ('auto q = "INSERT INTO public.messages (id) VALUES ($1)";', "messages"),
    "insert, quoted": ('auto q = "insert into \\"messages\\" (id) values ($1)";', "messages"),
    "insert, quoted schema and table": ('auto q = "INSERT INTO \\"public\\".\\"messages\\" DEFAULT VALUES";', "messages"),
    "insert, quoted mixed case": ('auto q = "INSERT INTO \\"Quoted\\" VALUES (1)";', "Quoted"),
    "insert across literals and lines": ('auto q = "INSERT\\n  INTO "\n    "message_history"\n    " (message_id) VALUES ($1)";', "message_history"),
    "insert after WITH": ('auto q = "WITH m AS (SELECT $1 AS id) INSERT INTO messages (id) SELECT id FROM m";', "messages"),
    "update with AS alias": ('auto q = "UPDATE messages AS m SET status = $2 WHERE m.id = $1";', "messages"),
    "update with bare alias": ('auto q = "UPDATE messages m SET status = $2";', "messages"),
    "update only, lower case": ('auto q = "update only messages set status = $2";', "messages"),
    "update in raw string": ('auto q = R"(\n  UPDATE\n    messages\n  SET status = $2)";', "messages"),
    "update in delimited raw string": ('auto q = R"sql(UPDATE subjects\nSET blocked = true)sql";', "subjects"),
    "delete only": ('auto q = "DELETE FROM ONLY messages WHERE id = $1";', "messages"),
    "delete with line break": ('auto q = "DELETE\\nFROM\\nmessage_history";', "message_history"),
    "copy from": ('auto q = "COPY messages FROM STDIN";', "messages"),
    "copy columns from": ('auto q = "COPY messages (id, status) FROM STDIN (FORMAT csv)";', "messages"),
    "merge": ('auto q = "MERGE INTO messages m USING s ON m.id = s.id WHEN MATCHED THEN DELETE";', "messages"),
    "truncate": ('auto q = "TRUNCATE TABLE subjects, messages";', "messages"),
    "stream_to": ('void F(pqxx::work& t) { pqxx::stream_to s(t, "messages", std::vector<std::string>{"id"}); }', "messages"),
    "stream_to braced": ('void F(pqxx::work& t) { pqxx::stream_to s{t, "message_history"}; }', "message_history"),
    "stream_to table path": ('void F(pqxx::work& t) { auto s = pqxx::stream_to::table(t, {"public", "messages"}, {"id"}); }', "messages"),
    "stream_to raw_table": ('void F(pqxx::work& t) { auto s = pqxx::stream_to::raw_table(t, "messages"); }', "messages"),
    "tablewriter": ('void F(pqxx::work& t) { pqxx::tablewriter w(t, "messages", c.begin(), c.end()); }', "messages"),
    "after a digit separator": ('long n = 1\'000; auto q = "UPDATE messages SET status = $1";', "messages"),
}


def write_tree(root, files):
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)


class CheckTableOwnersTest(unittest.TestCase):
    def run_check(self, extra):
        with tempfile.TemporaryDirectory() as root:
            files = dict(CLEAN_TREE)
            files.update(extra)
            files = {rel: text for rel, text in files.items() if text is not None}
            write_tree(root, files)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                status = check_table_owners.main(["--root", root])
            return status, out.getvalue()

    def test_clean_tree_passes(self):
        status, out = self.run_check({})
        self.assertEqual(status, 0, out)

    def test_each_planted_write_fails(self):
        for name, (code, table) in VIOLATIONS.items():
            with self.subTest(name):
                status, out = self.run_check({"svc/elsewhere.cc": code + "\n"})
                self.assertEqual(status, 1, out)
                self.assertIn("svc/elsewhere.cc:", out)
                self.assertRegex(out, r"\b%s\b.* outside its owner" % table)

    def test_reports_the_line_of_the_write(self):
        code = '// one\n// two\nauto q =\n    "SELECT 1;"\n    " UPDATE messages SET status = $1";\n'
        status, out = self.run_check({"svc/elsewhere.cc": code})
        self.assertEqual(status, 1, out)
        self.assertIn("svc/elsewhere.cc:5: UPDATE messages outside its owner (svc/ledger/)", out)

    def test_sql_file_outside_migrations_fails(self):
        status, out = self.run_check({"svc/queries/fix.sql": "-- a fix\nUPDATE messages\n  SET status = 'sent';\n"})
        self.assertEqual(status, 1, out)
        self.assertIn("svc/queries/fix.sql:2: UPDATE messages outside its owner", out)

    def test_function_body_outside_owner_fails(self):
        code = textwrap.dedent('''\
            auto f = R"(CREATE OR REPLACE FUNCTION mark_sent(id text) RETURNS void AS $body$
              BEGIN UPDATE messages SET status = 'sent' WHERE messages.id = id; END
            $body$ LANGUAGE plpgsql)";
            ''')
        status, out = self.run_check({"svc/elsewhere.cc": code})
        self.assertEqual(status, 1, out)
        self.assertIn("svc/elsewhere.cc:2: UPDATE messages outside its owner", out)

    def test_calling_a_migration_function_that_writes_fails(self):
        migration = ("CREATE FUNCTION settle(m text) RETURNS void LANGUAGE sql AS $$\n"
                     "  INSERT INTO message_history (message_id, status) VALUES (m, 'sent')\n$$;\n")
        clean = {"db/migrations/V002__settle.sql": migration,
                 "svc/ledger/settle.cc": 'auto q = "SELECT settle($1)";\n'}
        status, out = self.run_check(clean)
        self.assertEqual(status, 0, out)
        clean["svc/elsewhere.cc"] = 'auto q = "SELECT public.settle($1)";\n'
        status, out = self.run_check(clean)
        self.assertEqual(status, 1, out)
        self.assertIn("svc/elsewhere.cc:1: CALL message_history (through settle()) outside its owner",
                      out)

    def test_trigger_writing_another_owners_table_fails(self):
        migration = ("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                     "BEGIN UPDATE messages SET status = 'held'; RETURN NEW; END $$;\n"
                     "CREATE TRIGGER subjects_touch AFTER UPDATE ON subjects\n"
                     "  FOR EACH ROW EXECUTE FUNCTION touch();\n")
        status, out = self.run_check({"db/migrations/V002__touch.sql": migration})
        self.assertEqual(status, 1, out)
        self.assertIn("trigger subjects_touch on subjects writes messages through touch()", out)

    def test_stream_to_without_a_literal_target_fails(self):
        code = 'void F(pqxx::work& t, std::string n) { pqxx::stream_to s(t, n); }\n'
        status, out = self.run_check({"svc/elsewhere.cc": code})
        self.assertEqual(status, 1, out)
        self.assertIn("stream_to target is not a string literal", out)

    def test_table_built_at_run_time_fails(self):
        for code in ('std::string Q(std::string t) { return "DELETE FROM " + t; }',
                     'std::string Q(std::string t) { return "UPDATE " + t + " SET x = 1"; }',
                     'std::string Q(std::string t) { return "COPY " + t + " FROM STDIN"; }',
                     'auto q = fmt::format("INSERT INTO {} VALUES ($1)", t);',
                     'auto q = Format("TRUNCATE TABLE %s", t);'):
            with self.subTest(code):
                status, out = self.run_check({"svc/elsewhere.cc": code + "\n"})
                self.assertEqual(status, 1, out)
                self.assertIn("built at run time", out)

    def test_row_locks_and_upserts_ending_a_literal_are_not_run_time_tables(self):
        code = ('auto a = "SELECT id FROM messages WHERE id = $1 FOR UPDATE";\n'
                'auto b = "SELECT id FROM messages FOR NO KEY UPDATE";\n'
                'auto c = std::string("SELECT 1 FROM messages FOR UPDATE") + " SKIP LOCKED";\n'
                'constexpr db::Statement kSet{"messages.update", "SELECT 1"};\n')
        status, out = self.run_check({"svc/elsewhere.cc": code})
        self.assertEqual(status, 0, out)

    def test_table_without_owner_fails(self):
        status, out = self.run_check(
            {"db/migrations/V002__audit.sql": "CREATE TABLE audit (id int);\n"})
        self.assertEqual(status, 1, out)
        self.assertIn("table audit has no owner row", out)
        status, out = self.run_check(
            {"svc/elsewhere.cc": 'auto q = "CREATE TEMPORARY TABLE scratch (id int)";\n'})
        self.assertEqual(status, 1, out)
        self.assertIn("table scratch has no owner row", out)

    def test_write_to_unknown_table_fails(self):
        status, out = self.run_check({"svc/elsewhere.cc": 'auto q = "INSERT INTO audit VALUES (1)";\n'})
        self.assertEqual(status, 1, out)
        self.assertIn("INSERT audit: table has no owner", out)

    def test_owner_matching_no_file_fails(self):
        tree = {"svc/quoted.cc": None}
        status, out = self.run_check(tree)
        self.assertEqual(status, 1, out)
        self.assertIn("owner of Quoted (svc/quoted.cc) matches no source file", out)

    def test_comments_and_reads_are_not_writes(self):
        code = textwrap.dedent('''\
            // UPDATE messages SET status = 'sent'
            /* DELETE FROM messages */
            // pqxx::stream_to s(txn, "messages");
            auto d = "SELECT 1" /* "UPDATE messages SET x = 1" */ " FROM messages";
            auto a = "SELECT * FROM messages FOR UPDATE";
            auto b = "SELECT status FROM messages -- UPDATE messages SET x = 1\\n WHERE id = $1";
            auto c = "COPY messages TO STDOUT";
            ''')
        status, out = self.run_check({"svc/elsewhere.cc": code})
        self.assertEqual(status, 0, out)


if __name__ == "__main__":
    unittest.main()
