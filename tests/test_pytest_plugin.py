"""The pytest plugin (protoshell/pytest_plugin.py), run as users run it: a
``python -m pytest`` subprocess on a folder of transcripts, with the
plugin found through its ``pytest11`` entry point, against a real SMTP
server (aiosmtpd, the lecture's) and a dead port."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers import HOST, free_port
from tests.integration.test_mail_targets import cli_env
from tests.replay.suite_files import SMTP_FAIL, SMTP_PASS, header
from tests.replay.support import running_lecture_smtp

ROOT = Path(__file__).resolve().parents[1]

USES_THE_FIXTURE = """\
def test_the_targets_are_given(protoshell_target):
    assert set(protoshell_target) == {"imap"}
    assert protoshell_target["imap"].startswith("imap://127.0.0.1:")
"""


def pytest_run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest`` in ``folder`` (outside this repository, so its
    conftest does not load); plugins that would change the report are off.
    This checkout first on the path: the entry point names a module, and
    without it the installed protoshell's plugin was the one tested."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-rA", *args],
        cwd=folder,
        env=cli_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def failure_section(out: str, name: str) -> list[str]:
    """The lines of the FAILURES section pytest printed for transcript ``name``."""
    after = out.split(f" transcript {name} ", 1)[1].split("\n", 1)[1]
    lines = []
    for line in after.splitlines():
        if line.startswith(("____", "====")):
            break
        lines.append(line.strip())
    return lines


@pytest.fixture
def lecture_smtp() -> Iterator[Any]:
    """aiosmtpd answering like the lecture's server (550 for Green@foo.com)."""
    with running_lecture_smtp() as server:
        yield server


@pytest.fixture
def folder(tmp_path: Path, lecture_smtp: Any) -> Path:
    (tmp_path / "ok.txt").write_text(header(lecture_smtp.url) + SMTP_PASS, encoding="utf-8")
    (tmp_path / "bad.txt").write_text(header(lecture_smtp.url) + SMTP_FAIL, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a transcript\n", encoding="utf-8")
    (tmp_path / "dead.txt").write_text(header(f"smtp://{HOST}:{free_port()}") + SMTP_PASS, encoding="utf-8")
    (tmp_path / "test_uses_fixture.py").write_text(USES_THE_FIXTURE, encoding="utf-8")
    return tmp_path


def test_each_transcript_is_an_item_a_mismatch_reports_file_line_expected_got(
    folder: Path, lecture_smtp: Any
) -> None:
    # dead.txt's header names a dead SMTP port; --protoshell-target is IMAP's.
    imap = f"imap://{HOST}:{free_port()}"
    r = pytest_run(folder, "--protoshell-target", imap, ".")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "2 failed, 2 passed" in out
    assert "PASSED ok.txt\n" in out  # one item per file, named after it (not ok.txt::ok.txt)
    assert "PASSED test_uses_fixture.py::test_the_targets_are_given" in out
    assert "notes.txt" not in out
    assert failure_section(out, "bad.txt") == [
        "bad.txt:8: expected status 250, the server answered 550",
        'expected: S: 250 <ok> & "fine"',
        "got: S: 550 No such user here",
    ]
    # No traceback, and nothing of protoshell's insides.
    assert "Traceback" not in out and "protoshell/" not in out and "engine.py" not in out
    assert "FAILED bad.txt - bad.txt:8: expected status 250" in out
    # A network error: one line.
    (line,) = failure_section(out, "dead.txt")
    assert line.startswith("dead.txt: connection refused by 127.0.0.1:")


def test_an_item_is_its_file_path_for_selection_and_junitxml(folder: Path, lecture_smtp: Any) -> None:
    """The node id is the path (``lessons/ok.txt``): it selects the file,
    ``--deselect`` takes it, and pytest's JUnit names the case as
    ``protoshell test --junit`` does."""
    (folder / "lessons").mkdir()
    (folder / "ok.txt").rename(folder / "lessons" / "ok.txt")
    imap = f"imap://{HOST}:{free_port()}"
    r = pytest_run(folder, "--protoshell-target", imap, "--collect-only", "-q", ".")
    assert r.stdout.splitlines()[:4] == ["bad.txt", "dead.txt", "lessons/ok.txt", "test_uses_fixture.py::test_the_targets_are_given"]
    r = pytest_run(folder, "--protoshell-target", imap, "-v", "lessons/ok.txt", "bad.txt", "--deselect", "bad.txt", "--junitxml", "j.xml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lessons/ok.txt PASSED" in r.stdout and "1 passed, 1 deselected" in r.stdout
    (case,) = ET.parse(folder / "j.xml").getroot().iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("protoshell.lessons", "lessons/ok.txt")


def test_without_the_option_nothing_changes(folder: Path) -> None:
    r = pytest_run(folder, "--collect-only", "-q", ".")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "test_uses_fixture.py::test_the_targets_are_given"
    assert "ok.txt" not in r.stdout and "bad.txt" not in r.stdout
    r = pytest_run(folder, ".")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 skipped" in r.stdout and "no --protoshell-target given" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--protoshell-target", "gopher://h"], "protoshell: unknown scheme 'gopher'"),
        # nan passed the "<= 0" check
        (["--protoshell-target", "smtp://h:1", "--protoshell-timeout", "nan"], "--protoshell-timeout must be more than 0"),
    ],
)
def test_a_bad_option_is_a_usage_error(folder: Path, args: list[str], message: str) -> None:
    r = pytest_run(folder, *args, ".")
    assert r.returncode == 4  # pytest's usage error
    assert message in r.stderr


AUTH_NEEDS_PASSWORD = """\
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250 foo.com
:auth plain bob
C: QUIT
S: 221 bye
"""


def test_a_hint_names_the_plugins_options_not_the_clis(tmp_path: Path, lecture_smtp: Any) -> None:
    """A recording with `:auth` run without a password: the hint must say
    what to add to the pytest command (`--protoshell-set`); `--set` is not
    a pytest option."""
    (tmp_path / "auth.txt").write_text(header(lecture_smtp.url) + AUTH_NEEDS_PASSWORD, encoding="utf-8")
    r = pytest_run(tmp_path, "--protoshell-target", lecture_smtp.url, ".")
    assert r.returncode == 1, r.stdout + r.stderr
    (line,) = failure_section(r.stdout, "auth.txt")
    assert line == "auth.txt:5: :auth needs the password: pass --protoshell-set password=SECRET"


def test_importing_the_plugin_loads_nothing_of_protoshell_replay() -> None:
    """pytest loads the plugin in every run (protoshell's own suite too):
    it must cost nothing when its option is not given."""
    code = (
        "import sys, protoshell.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('protoshell.replay')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
