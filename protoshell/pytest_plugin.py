"""pytest plugin: transcripts as test items (``pytest DIR --protoshell-target URL``).

Registered with the ``pytest11`` entry point, so installing protoshell is
enough.  It changes nothing for a run that does not pass
``--protoshell-target``: importing it loads nothing of protoshell's (the
replay machinery is imported when a transcript is collected), its
collection hook returns at once, and its fixture is only there for tests
that ask for it.

With the option, each transcript under the paths pytest is given (the same
rule as ``protoshell test``: ``*.txt`` files that start with the
``# protoshell transcript`` header, or any file named on the command line)
is one test item named after the file, replayed by the one engine against
the target of its protocol (``--protoshell-target`` once per protocol),
else its header's.  A mismatch fails the item with ``file:line``, expected
and got (no traceback of protoshell's internals); a network error fails it
with one line.  The fixture ``protoshell_target`` gives a test the
configured targets, ``{protocol: URL}``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .replay.suite import FileResult, SuiteOptions

__all__ = ["TranscriptFailed", "TranscriptItem", "protoshell_target"]

_OPTIONS_KEY: pytest.StashKey[SuiteOptions] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("protoshell", "protoshell: transcripts as test items")
    group.addoption(
        "--protoshell-target",
        action="append",
        default=[],
        metavar="URL",
        dest="protoshell_target",
        help="collect transcripts (*.txt with the protoshell header) as tests and replay them "
        "against URL (once per protocol; a file's header names the rest)",
    )
    group.addoption(
        "--protoshell-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="protoshell_set",
        help="a variable for every transcript ($NAME; password=... fills <redacted>)",
    )
    group.addoption("--protoshell-strict", action="store_true", dest="protoshell_strict", help="compare whole lines")
    group.addoption(
        "--protoshell-timeout", type=float, default=10.0, metavar="S", dest="protoshell_timeout",
        help="seconds to wait for an answer (default 10)",
    )
    group.addoption("--protoshell-cafile", metavar="FILE", dest="protoshell_cafile", help="trust these CA certificates")
    group.addoption(
        "--protoshell-insecure", action="store_true", dest="protoshell_insecure", help="do not verify TLS certificates"
    )


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("protoshell_target", None))


def pytest_configure(config: pytest.Config) -> None:
    if not _enabled(config):
        return
    from .replay.cli_entry import UsageError, parse_variables
    from .replay.results import ReplayOptions
    from .replay.suite import SuiteOptions, Targets

    timeout = config.getoption("protoshell_timeout")
    try:
        if not timeout > 0:  # nan too
            raise UsageError("--protoshell-timeout must be more than 0 seconds")
        options = SuiteOptions(
            Targets(config.getoption("protoshell_target")),
            ReplayOptions(
                strict=config.getoption("protoshell_strict"),
                timeout=timeout,
                insecure=config.getoption("protoshell_insecure"),
                cafile=config.getoption("protoshell_cafile"),
                variables=parse_variables(config.getoption("protoshell_set")),
            ),
        )
    except UsageError as exc:
        raise pytest.UsageError(f"protoshell: {exc}") from None
    config.stash[_OPTIONS_KEY] = options


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> TranscriptItem | None:
    """A transcript is collected as one item, straight under its folder:
    its node id is the file's path (``suite/ok.txt``, as ``-v``, ``--lf``,
    ``--deselect`` and the summary show it), not ``suite/ok.txt::ok.txt``
    as a file collector with one item in it would make it."""
    if file_path.suffix != ".txt" or _OPTIONS_KEY not in parent.config.stash:
        return None
    from .replay.suite import is_transcript_file

    if parent.session.isinitpath(file_path) or is_transcript_file(file_path):
        item: TranscriptItem = TranscriptItem.from_parent(parent, name=file_path.name, path=file_path, nodeid=_file_nodeid(parent, file_path))
        return item
    return None


def _file_nodeid(parent: pytest.Collector, path: Path) -> str:
    """The node id a ``pytest.File`` for ``path`` would get (as
    ``FSCollector`` makes it): the path relative to the rootdir, else to
    the argument it was found under, with ``/`` separators."""
    try:
        nodeid = str(path.relative_to(parent.config.rootpath))
    except ValueError:
        nodeid = os.path.relpath(path, parent.config.invocation_params.dir)
    return nodeid.replace(os.sep, "/")


# The runner's hints name `protoshell test`'s options ("pass --set password=SECRET");
# under pytest the same options are spelled so.
_PLUGIN_OPTION = re.compile(r"(?<![\w-])--(set|strict|timeout|cafile|insecure|target)\b")


def plugin_options(message: str) -> str:
    """A runner message with its option names as pytest takes them
    (``--set`` -> ``--protoshell-set``)."""
    return _PLUGIN_OPTION.sub(r"--protoshell-\1", message)


class TranscriptFailed(Exception):
    """An item's transcript did not pass; ``result`` says how."""

    def __init__(self, result: FileResult) -> None:
        super().__init__(result.line())
        self.result = result


class TranscriptItem(pytest.Item):
    """One transcript file, replayed by ``protoshell.replay.suite.run_file``."""

    def _shown_path(self) -> str:
        """The file's path as the report shows it: relative to where pytest
        was started, so ``file:line`` can be opened from there."""
        try:
            return os.path.relpath(self.path, self.config.invocation_params.dir)
        except ValueError:  # another drive (Windows)
            return str(self.path)

    def setup(self) -> None:
        self._name_junit_case()

    def _name_junit_case(self) -> None:
        """Under ``--junitxml``, name the case as ``protoshell test --junit``
        does (classname ``protoshell.FOLDER``, name the file's path), so a
        CI's history of a transcript does not change with the runner;
        pytest's own naming would give ``classname=""``,
        ``name="suite.ok.txt"``.  This is what the ``record_xml_attribute``
        fixture does, which only Python tests can ask for."""
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # another pytest: its own naming stays
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        from .replay.junit import junit_names

        reporter = xml.node_reporter(self.nodeid)
        for attribute, value in junit_names(self.nodeid).items():
            reporter.add_attribute(attribute, value)

    def runtest(self) -> None:
        from .replay.suite import run_file

        result = run_file(self._shown_path(), self.config.stash[_OPTIONS_KEY])
        if result.outcome != "pass":
            raise TranscriptFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        error = excinfo.value
        if not isinstance(error, TranscriptFailed):
            return str(super().repr_failure(excinfo, style=style))
        result = error.result
        m = result.mismatch
        if m is None:
            return plugin_options(result.line().removeprefix("FAIL ").removeprefix("ERROR "))
        return f"{m.where}: {plugin_options(m.reason)}\n  expected: {m.expected}\n       got: {m.actual}"

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, f"transcript {self.nodeid}"


@pytest.fixture
def protoshell_target(request: pytest.FixtureRequest) -> dict[str, str]:
    """The targets given with ``--protoshell-target``, ``{protocol: URL}``
    (``{"smtp": "smtp://127.0.0.1:2525"}``); the test is skipped when none
    was given."""
    options = request.config.stash.get(_OPTIONS_KEY, None)
    if options is None:
        pytest.skip("no --protoshell-target given")
    return options.targets.urls()
