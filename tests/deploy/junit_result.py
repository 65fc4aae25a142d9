"""A unittest result that also writes a JUnit XML report.

Bazel reads a test's report from $XML_OUTPUT_FILE, and .ci/test counts the
<testcase> elements in it. Without one, Bazel writes a single <testcase> for
the whole target, so each test method here becomes its own <testcase>:
passed (self-closing), failed (<failure>), error (<error>) or skipped
(status="notrun", which .ci/test does not count as passed).
"""

import os
import sys
import time
import traceback
import unittest
from xml.sax.saxutils import escape, quoteattr


class JUnitResult(unittest.TextTestResult):
    """Records every test's outcome and duration for write_junit()."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # test id -> [outcome, message, details, seconds]; in run order.
        self._cases = {}
        self._started = {}

    def _record(self, test, outcome, message="", details=""):
        test_id = test.id()
        seconds = time.monotonic() - self._started.get(test_id, time.monotonic())
        case = self._cases.get(test_id)
        # A failing subtest or cleanup must not be hidden by a later success.
        if case is not None and case[0] in ("failure", "error"):
            return
        self._cases[test_id] = [outcome, message, details, seconds]

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        super().startTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failure", str(err[1]), self._format(err))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", str(err[1]), self._format(err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "passed")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "failure", "unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            outcome = "failure" if issubclass(err[0], test.failureException) else "error"
            self._record(test, outcome, "%s: %s" % (subtest.id(), err[1]),
                         self._format(err))

    @staticmethod
    def _format(err):
        return "".join(traceback.format_exception(*err))

    def write_junit(self, path, suite_name):
        """Writes the report: one <testcase> per test, each on its own line."""
        failures = sum(1 for c in self._cases.values() if c[0] == "failure")
        errors = sum(1 for c in self._cases.values() if c[0] == "error")
        skipped = sum(1 for c in self._cases.values() if c[0] == "skipped")
        total = sum(c[3] for c in self._cases.values())
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<testsuites tests="%d" failures="%d" errors="%d" time="%.3f">'
            % (len(self._cases), failures, errors, total),
            '  <testsuite name=%s tests="%d" failures="%d" errors="%d" '
            'skipped="%d" time="%.3f">'
            % (quoteattr(suite_name), len(self._cases), failures, errors,
               skipped, total),
        ]
        for test_id, (outcome, message, details, seconds) in self._cases.items():
            if " " in test_id:
                # A class or module fixture that failed, e.g.
                # "setUpClass (__main__.FooTest)": not a method of its own.
                classname, name = suite_name, test_id
            else:
                classname, _, name = test_id.rpartition(".")
            # "__main__.FooTest" -> "<suite>.FooTest".
            if classname.startswith("__main__."):
                classname = suite_name + classname[len("__main__"):]
            attributes = "name=%s classname=%s time=\"%.3f\"" % (
                quoteattr(name), quoteattr(classname), seconds)
            if outcome == "passed":
                lines.append("    <testcase %s/>" % attributes)
                continue
            if outcome == "skipped":
                lines.append('    <testcase %s status="notrun">' % attributes)
                lines.append("      <skipped message=%s/>" % quoteattr(message))
            else:
                lines.append("    <testcase %s>" % attributes)
                lines.append("      <%s message=%s>%s</%s>" % (
                    outcome, quoteattr(message), escape(details), outcome))
            lines.append("    </testcase>")
        lines += ["  </testsuite>", "</testsuites>", ""]
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write("\n".join(lines))


def main(module_name, suite_name):
    """Runs the tests of `module_name`, writes the report, exits 0 or 1.

    Honours Bazel's --test_filter (TESTBRIDGE_TEST_ONLY) as a substring of
    the test id.
    """
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_name])
    only = os.environ.get("TESTBRIDGE_TEST_ONLY", "")
    if only:
        def keep(s):
            kept = unittest.TestSuite()
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    kept.addTest(keep(t))
                elif only in t.id():
                    kept.addTest(t)
            return kept
        suite = keep(suite)
    print("python: %s %s" % (sys.executable, sys.version.split()[0]),
          file=sys.stderr)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2,
                                     resultclass=JUnitResult)
    result = runner.run(suite)
    xml_path = os.environ.get("XML_OUTPUT_FILE")
    if xml_path:
        result.write_junit(xml_path, suite_name)
    if result.testsRun == 0:
        print("no test ran", file=sys.stderr)
        sys.exit(1)
    sys.exit(0 if result.wasSuccessful() else 1)
