"""``protoshell test --junit FILE``: the results as JUnit XML, the format CI
servers (Jenkins, GitLab, GitHub actions) read.

One ``<testsuite>`` with one ``<testcase>`` per transcript: ``name`` the
file's path, ``classname`` its folder with dots (how CI groups cases),
``time`` in seconds.  A mismatch is a ``<failure>`` whose ``message`` is
``file:line: why`` and whose text has the expected and the actual line; a
file that could not run (a network error: type "network"; a file that does not
parse or cannot be replayed: type "usage") is an
``<error>``; a file ``--fail-fast`` did not run is ``<skipped>``.  A file
that mismatches where its header expects passes, with a ``<system-out>``
that says so.  Written
with xml.etree, so whatever a server sent is escaped.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..status import ExitStatus
from .suite import FileResult

__all__ = ["junit_names", "junit_tree", "write_junit"]


def _classname(path: str) -> str:
    folder = os.path.dirname(os.path.normpath(path)).strip(os.sep + ".")
    dotted = ".".join(part for part in folder.split(os.sep) if part and part != "..")
    return f"protoshell.{dotted}" if dotted else "protoshell"


def junit_names(path: str) -> dict[str, str]:
    """A transcript's ``classname`` and ``name`` in a JUnit file (the
    pytest plugin names its cases the same way)."""
    return {"classname": _classname(path), "name": path}


def _case(result: FileResult) -> ET.Element:
    case = ET.Element("testcase", junit_names(result.path), time=f"{result.seconds:.3f}")
    m = result.mismatch
    if result.outcome == "pass":
        if result.note:  # a mismatch its header expects (expectation.py)
            ET.SubElement(case, "system-out").text = f"{m.where if m else result.path}: {result.note}\n"
    elif m is not None:
        failure = ET.SubElement(case, "failure", message=f"{m.where}: {m.reason}", type="mismatch")
        failure.text = f"{m.where}\nexpected: {m.expected}\n     got: {m.actual}\n{m.reason}\n"
    elif result.outcome == "fail":
        failure = ET.SubElement(case, "failure", message=f"{result.path}: {result.message}", type="mismatch")
        failure.text = result.message
    elif result.outcome == "error":
        kind = "usage" if result.status == ExitStatus.USAGE else "network"  # exit 2 or 3
        message = result.message if result.message.startswith(result.path) else f"{result.path}: {result.message}"
        error = ET.SubElement(case, "error", message=message, type=kind)
        error.text = message
    return case


def junit_tree(
    results: Sequence[FileResult],
    not_run: Sequence[str] = (),
    *,
    name: str = "protoshell test",
    why_not_run: str = "--fail-fast stopped at an earlier failure",
) -> ET.ElementTree:
    """The JUnit document for ``results`` (and the paths ``not_run``,
    skipped for ``why_not_run``)."""
    failures = sum(1 for r in results if r.outcome == "fail")
    errors = sum(1 for r in results if r.outcome == "error")
    total = sum(r.seconds for r in results)
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(results) + len(not_run)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(len(not_run)),
        time=f"{total:.3f}",
    )
    for result in results:
        suite.append(_case(result))
    for path in not_run:
        case = ET.SubElement(suite, "testcase", junit_names(path), time="0")
        ET.SubElement(case, "skipped", message=f"not run ({why_not_run})")
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    return tree


def write_junit(
    path: str,
    results: Sequence[FileResult],
    not_run: Sequence[str] = (),
    why_not_run: str = "--fail-fast stopped at an earlier failure",
) -> None:
    """Write the JUnit file; raises OSError if it cannot."""
    junit_tree(results, not_run, why_not_run=why_not_run).write(path, encoding="utf-8", xml_declaration=True)
