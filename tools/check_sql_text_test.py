#!/usr/bin/env python3
"""Self-test of check_sql_text.py: planted pieced-together texts and enum numbers make it fail,
clean statements and excluded paths pass."""

import contextlib
import io
import os
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_sql_text  # noqa: E402

CLEAN = textwrap.dedent('''\
    #include "common/db/statement.h"
    // A comment may say channel = 1 outside SQL text.
    constexpr db::Statement kClean{"area.clean", R"sql(
      SELECT s.id
      FROM suppressions s
      WHERE s.channel IN ($2, $3)
        AND s.reason = ANY($4::smallint[])
        AND s.status = 'sent'
        AND s.topic <> '1'
        AND s.kind = $5  -- kind = 2 would be the phone
      LIMIT 1
    )sql"};
    inline constexpr db::Statement kShort{"area.short", "SELECT 1 FROM subjects WHERE id = $1"};
    const char* not_a_statement = "SELECT 1" " FROM x WHERE channel = 1";
    ''')


class CheckSqlTextTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = self.dir.name

    def tearDown(self):
        self.dir.cleanup()

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def findings(self, *excludes):
        return check_sql_text.check_tree(self.root, excludes)

    def test_clean_tree_passes(self):
        self.write("svc/clean.cc", CLEAN)
        self.assertEqual(self.findings(), [])
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(check_sql_text.main(["--root", self.root]), 0)

    def test_adjacent_literals_fail(self):
        self.write("svc/a.cc", CLEAN + textwrap.dedent('''\
            constexpr db::Statement kOld{
                "area.old",
                "SELECT id FROM subjects"
                " WHERE id = $1"};
            '''))
        found = self.findings()
        self.assertEqual(len(found), 1, found)
        self.assertIn("svc/a.cc:15:", found[0])
        self.assertIn("pieced together from 2 parts", found[0])

    def test_a_later_member_is_not_sql(self):
        self.write("svc/p.cc", textwrap.dedent('''\
            constexpr db::Statement kLock{"rows.lock", R"sql(
              SELECT 1 FROM address_gates WHERE address_key = ANY ($1::bytea[])
            )sql", /*plan_each_call=*/true};
            constexpr db::Statement kBad{"rows.bad", "SELECT 1 " "FROM t", true};
            '''))
        found = self.findings()
        self.assertEqual(len(found), 1, found)
        self.assertIn("svc/p.cc:4:", found[0])
        self.assertIn("pieced together from 2 parts", found[0])

    def test_macro_next_to_literal_fails(self):
        self.write("svc/m.h", textwrap.dedent('''\
            #define COMMON_SELECT "SELECT id FROM campaigns c"
            inline constexpr db::Statement kList{"campaigns.list",
                                                 COMMON_SELECT R"sql( WHERE c.id > $1)sql"};
            '''))
        found = self.findings()
        self.assertEqual(len(found), 1, found)
        self.assertIn("pieced together", found[0])

    def test_enum_numbers_fail_in_every_form(self):
        planted = {
            "a.kind = 1": "compares kind with the number 1",
            "channel <> 0": "compares channel with the number 0",
            "s.reason != 2": "compares reason with the number 2",
            "s.channel IN (0, 2)": "compares channel with the number(s) 0, 2",
            "p.channel IN (0, rs.channel)": "compares channel with the number(s) 0",
            "source NOT IN ($1, 3)": "compares source with the number(s) 3",
            "1 = m.status": "compares status with the number 1",
            "(channel = 1) = ($2 = 1)": "compares channel with the number 1",
            "STATE=3": "compares STATE with the number 3",
        }
        for i, (condition, message) in enumerate(planted.items()):
            with self.subTest(condition=condition):
                self.write("svc/e%d.cc" % i, textwrap.dedent('''\
                    constexpr db::Statement kPlanted{"area.planted", R"sql(
                      SELECT 1
                      FROM t
                      WHERE x = $1
                        AND %s
                    )sql"};
                    ''') % condition)
                found = [f for f in self.findings() if f.startswith("svc/e%d.cc" % i)]
                self.assertEqual(len(found), 1, found)
                self.assertIn("svc/e%d.cc:5: %s" % (i, message), found[0])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(check_sql_text.main(["--root", self.root]), 1)

    def test_plain_literal_with_enum_number_fails(self):
        self.write("svc/p.cc", 'constexpr db::Statement kP{"p", "SELECT 1 FROM m WHERE channel = 1"};\n')
        found = self.findings()
        self.assertEqual(len(found), 1, found)
        self.assertIn("svc/p.cc:1: compares channel with the number 1", found[0])

    def test_excluded_paths_are_skipped(self):
        self.write("svc/clean.cc", CLEAN)
        self.write("other/old.cc", 'constexpr db::Statement kOld{"o", "SELECT 1" " FROM x"};\n')
        self.write("svc/sub/old.cc", 'constexpr db::Statement kOld{"o", "SELECT 1" " FROM x"};\n')
        self.assertEqual(len(self.findings()), 2)
        self.assertEqual(self.findings("other", "svc/sub/"), [])
        self.assertEqual(len(self.findings("svc/sub/old.cc")), 1)
        os.environ["HERALD_SQL_TEXT_EXCLUDE"] = "other:svc/sub"
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(check_sql_text.main(["--root", self.root]), 0)
        finally:
            del os.environ["HERALD_SQL_TEXT_EXCLUDE"]

    def test_build_directories_are_not_scanned(self):
        self.write("build/gen.cc", 'constexpr db::Statement kOld{"o", "SELECT 1" " FROM x"};\n')
        self.assertEqual(self.findings(), [])


if __name__ == "__main__":
    unittest.main()
