#!/usr/bin/env python3
"""Self-test of check_requirement_ids.py: an id cited in a comment or a test name but
defined in no document fails the check; string literals are not citations."""

import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_requirement_ids  # noqa: E402

DOCS = {
    "docs/requirements.md": "# Requirements\n\n- E1 GET changes nothing.\n- S1 STOP stops.\n",
    "docs/security.md": "# Security\n\n### Slow clients (SEC-1)\n\nSEC-2 is mentioned only.\n",
    "docs/performance.md": "| id | what |\n|---|---|\n| B1 | checks/s |\n",
    "docs/inbound-sms.md": "## Keywords (S2)\n\n- S3 is not defined here: wrong document\n",
}


class CheckRequirementIdsTest(unittest.TestCase):
    def run_check(self, files):
        with tempfile.TemporaryDirectory() as root:
            for rel, text in {**DOCS, **files}.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                status = check_requirement_ids.main(["--root", root])
            return status, out.getvalue()

    def test_defined_citations_pass(self):
        code = ("// E1: a GET never writes (S1 too).\n"
                "TEST(Keywords, S1_StopStops) {}\n"
                "/* SEC-1 */ int b1 = 0;  // B1\n"
                'auto s = "%E0%A4 S9 L9";  // literals are data\n')
        status, out = self.run_check({"services/web/pages.cc": code})
        self.assertEqual(status, 0, out)
        self.assertIn("4 cited", out)

    def test_undefined_in_a_comment_fails(self):
        status, out = self.run_check({"services/web/pages.cc": "int x;\n// L7: destroyed\n"})
        self.assertEqual(status, 1, out)
        self.assertIn("services/web/pages.cc:2: L7 is cited but not defined in docs/requirements.md",
                      out)

    def test_undefined_in_a_test_name_fails(self):
        status, out = self.run_check({"tests/x_test.cc": "TEST(Sms, S1_S4_Twice) {}\n"})
        self.assertEqual(status, 1, out)
        self.assertIn("tests/x_test.cc:1: S4 is cited", out)

    def test_an_id_only_mentioned_or_in_another_document_fails(self):
        for ident, doc in (("SEC-2", "docs/security.md"), ("S2", "docs/requirements.md"),
                           ("S3", "docs/requirements.md"), ("B2", "docs/performance.md")):
            with self.subTest(ident):
                status, out = self.run_check({"common/a.h": "// %s\n" % ident})
                self.assertEqual(status, 1, out)
                self.assertIn("%s is cited but not defined in %s" % (ident, doc), out)


if __name__ == "__main__":
    unittest.main()
