"""``protoshell test``: a folder of transcripts of all four protocols against
real servers (aiosmtpd, Dovecot, ``protoshell serve --mail``, the embedded
HTTP server), sequentially and in parallel; the JUnit file; a broken
transcript (exit 2); a dead target (exit 3); --fail-fast; bad usage."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from protoshell.replay.suite_cli import test_main as protoshell_test
from tests.integration.servers import HOST, free_port

from .suite_files import (
    HTTP_FAIL,
    HTTP_PASS,
    PASSWORD_ARGS,
    SMTP_PASS,
    SUITE,
    Urls,
    header,
    write_suite,
)
from .support import Run, fake_env


def run(*args: str) -> Run:
    env, out, err = fake_env()
    timeout = [] if "--timeout" in args else ["--timeout", "5"]
    status = protoshell_test([*args, *timeout], env=env)
    return Run(status, out.getvalue(), err.getvalue())


def without_times(out: str) -> str:
    """The output without what changes from run to run: our times and
    Dovecot's (``NO ... (0.001 + 0.000 secs).``)."""
    return re.sub(r"\(\d+\.\d+ [^)]*secs\)", "(* secs)", re.sub(r", \d+ ms\)", ", * ms)", out))


@pytest.fixture
def suite(tmp_path: Path, lecture_smtp: Any, dovecot: Any, mail_services: Any, http_server: Any) -> tuple[Path, list[Path], str]:
    """(folder, its transcripts in order, the --target for HTTP)."""
    urls = Urls(
        smtp=lecture_smtp.url,
        pop3=dovecot.pop3_url,
        imap=dovecot.imap_url,
        mail_smtp=f"smtp://{HOST}:{mail_services.smtp_port}",
        mail_pop3=f"pop3://{HOST}:{mail_services.pop3_port}",
        mail_imap=f"imap://{HOST}:{mail_services.imap_port}",
        http=http_server.url,
    )
    root = tmp_path / "suite"
    paths = write_suite(root, urls, dead_http=f"http://{HOST}:{free_port()}")
    return root, paths, urls.http


def test_a_folder_sequential_and_parallel_give_the_same_results_in_the_same_order(
    suite: tuple[Path, list[Path], str],
) -> None:
    root, paths, http = suite
    one = run(str(root), "--target", http, *PASSWORD_ARGS, "--jobs", "1")
    four = run(str(root), "--target", http, *PASSWORD_ARGS, "--jobs", "4")
    assert one.status == four.status == 1, one.out + one.err
    assert one.err == four.err == ""
    assert without_times(one.out) == without_times(four.out)
    lines = one.out.splitlines()
    assert len(lines) == len(paths) + 1  # notes.txt (no header) is not a transcript
    for line, path in zip(lines, paths):
        name = str(path.relative_to(root))
        fail_line = SUITE[name][2]
        if fail_line:
            assert line.startswith(f"FAIL {path}:{fail_line} expected "), line
            assert " got " in line
        else:
            assert re.fullmatch(rf"PASS {re.escape(str(path))} \(\d+ steps, \d+ ms\)", line), line
    assert lines[-1] == "6 passed, 4 failed"


def test_the_failure_line_says_expected_and_got(suite: tuple[Path, list[Path], str]) -> None:
    root, _paths, http = suite
    r = run(str(root / "smtp-aiosmtpd-fail.txt"), str(root / "imap"), "--target", http, *PASSWORD_ARGS)
    first, second, third, fourth, last = r.out.splitlines()
    assert first == (
        f"FAIL {root}/smtp-aiosmtpd-fail.txt:8 expected 'S: 250 <ok> & \"fine\"' "
        "got 'S: 550 No such user here' (expected status 250, the server answered 550)"
    )
    assert second.startswith(f"FAIL {root}/imap/dovecot-fail.txt:6 expected 'S: a2 OK *' got ")
    assert "S: a2 NO Mailbox doesn't exist" in second
    assert third.startswith(f"PASS {root}/imap/dovecot-pass.txt (")
    assert fourth.startswith(f"PASS {root}/imap/mail-pass.txt (")
    assert last == "2 passed, 2 failed"
    assert r.status == 1


def test_junit_report(suite: tuple[Path, list[Path], str], tmp_path: Path) -> None:
    root, paths, http = suite
    report = tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    r = run(str(root), "--target", http, *PASSWORD_ARGS, "--jobs", "3", "--junit", str(report))
    assert r.status == 1
    suite_el = ET.parse(report).getroot()
    assert suite_el.tag == "testsuite"
    assert (suite_el.get("tests"), suite_el.get("failures"), suite_el.get("errors")) == ("10", "4", "0")
    cases = suite_el.findall("testcase")
    assert [c.get("name") for c in cases] == [str(p) for p in paths]
    for case, path in zip(cases, paths):
        assert float(case.get("time", "x")) >= 0
        fail_line = SUITE[str(path.relative_to(root))][2]
        failure = case.find("failure")
        if not fail_line:
            assert failure is None and case.find("error") is None
            continue
        assert failure is not None
        assert failure.get("message", "").startswith(f"{path}:{fail_line}: ")
        assert f"{path}:{fail_line}" in (failure.text or "")
    smtp_fail = cases[[str(p) for p in paths].index(str(root / "smtp-aiosmtpd-fail.txt"))]
    failure = smtp_fail.find("failure")
    assert failure is not None
    # What the transcript expected, escaped and read back intact.
    assert 'expected: S: 250 <ok> & "fine"' in (failure.text or "")
    assert "got: S: 550 No such user here" in (failure.text or "")
    assert smtp_fail.get("classname") == "protoshell." + ".".join(p for p in str(root).split("/") if p)


def test_a_transcript_that_does_not_parse_is_exit_2_with_file_and_line(
    tmp_path: Path, lecture_smtp: Any
) -> None:
    good = tmp_path / "a-good.txt"
    good.write_text(header(lecture_smtp.url) + SMTP_PASS, encoding="utf-8")
    broken = tmp_path / "b-broken.txt"
    broken.write_text(header(lecture_smtp.url) + "S: 220 *\nHELO nobody said which side\n", encoding="utf-8")
    report = tmp_path / "junit.xml"
    r = run(str(tmp_path), "--junit", str(report))
    assert r.status == 2, r.out + r.err
    lines = r.out.splitlines()
    assert lines[0].startswith(f"PASS {good} (")  # the other files still run
    assert lines[1].startswith(f"ERROR {broken}:3: ")
    assert lines[2] == "1 passed, 0 failed, 1 error"
    (case,) = [c for c in ET.parse(report).getroot() if c.get("name") == str(broken)]
    error = case.find("error")
    assert error is not None and error.get("type") == "usage"
    assert error.get("message", "").startswith(f"{broken}:3: ")


def test_a_dead_target_is_exit_3_and_an_error(tmp_path: Path, lecture_smtp: Any) -> None:
    failing = tmp_path / "a-fail.txt"
    failing.write_text(header(lecture_smtp.url) + SMTP_PASS.replace("550 No such", "250 No such"), encoding="utf-8")
    dead = tmp_path / "b-dead.txt"
    port = free_port()
    dead.write_text(header(f"smtp://{HOST}:{port}") + SMTP_PASS, encoding="utf-8")
    report = tmp_path / "junit.xml"
    r = run(str(tmp_path), "--junit", str(report), "--jobs", "2")
    assert r.status == 3, r.out + r.err  # a network error outranks a mismatch
    lines = r.out.splitlines()
    assert lines[0].startswith(f"FAIL {failing}:11 ")
    assert lines[1].startswith(f"ERROR {dead}: ") and f"{HOST}:{port}" in lines[1]
    assert lines[2] == "0 passed, 1 failed, 1 error"
    root = ET.parse(report).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "1")
    (case,) = [c for c in root if c.get("name") == str(dead)]
    error = case.find("error")
    assert error is not None and error.get("type") == "network"
    assert f"{HOST}:{port}" in error.get("message", "")


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_fail_fast_stops_at_the_first_failure_in_input_order(tmp_path: Path, lecture_smtp: Any, jobs: str) -> None:
    ok = header(lecture_smtp.url) + SMTP_PASS
    bad = header(lecture_smtp.url) + SMTP_PASS.replace("550 No such", "250 No such")
    for name, text in (("a.txt", ok), ("b.txt", bad), ("c.txt", ok), ("d.txt", ok), ("e.txt", bad)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    report = tmp_path / "junit.xml"
    r = run(str(tmp_path), "--fail-fast", "--jobs", jobs, "--junit", str(report))
    assert r.status == 1
    lines = r.out.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["PASS", "FAIL"]
    assert lines[1].startswith(f"FAIL {tmp_path}/b.txt:11 ")
    assert lines[2:] == ["1 passed, 1 failed, 3 not run"]
    root = ET.parse(report).getroot()
    assert (root.get("tests"), root.get("skipped")) == ("5", "3")


def test_target_per_protocol_overrides_the_header_and_a_lone_target_serves_a_headerless_file(
    tmp_path: Path, lecture_smtp: Any, http_server: Any
) -> None:
    headerless = tmp_path / "lecture.txt"  # named explicitly: counts without the header
    headerless.write_text(SMTP_PASS, encoding="utf-8")
    r = run(str(headerless), "--target", lecture_smtp.url)
    assert r.status == 0, r.out + r.err
    assert r.out.splitlines()[-1] == "1 passed, 0 failed"
    # Two protocols: each file goes to its own (the HTTP one's header names a dead port).
    http = tmp_path / "http.txt"
    http.write_text(header(f"http://{HOST}:{free_port()}") + HTTP_FAIL.replace("200 OK", "404 Not Found"), encoding="utf-8")
    r = run(str(headerless), str(http), "--target", lecture_smtp.url, "--target", http_server.url)
    assert r.status == 0, r.out + r.err
    assert r.out.splitlines()[-1] == "2 passed, 0 failed"
    # A folder search does not pick up a file without the header.
    r = run(str(tmp_path), "--target", lecture_smtp.url, "--target", http_server.url)
    assert r.out.splitlines() == [r.out.splitlines()[0], "1 passed, 0 failed"]
    assert r.out.startswith(f"PASS {http} (")


def test_a_target_no_file_runs_against_is_a_warning(tmp_path: Path, lecture_smtp: Any) -> None:
    """``--target imap://...`` for a folder of SMTP files: they run against
    their headers' server, and the run says the target went unused."""
    path = tmp_path / "smtp.txt"
    path.write_text(header(lecture_smtp.url) + SMTP_PASS, encoding="utf-8")
    imap = f"imap://{HOST}:{free_port()}"
    r = run(str(path), "--target", imap)
    assert r.status == 0, r.out + r.err
    assert r.err == f"protoshell: warning: --target {imap} was not used: no transcript here speaks its protocol\n"
    r = run(str(path), "--target", imap, "--target", lecture_smtp.url)
    assert (r.status, r.err) == (0, f"protoshell: warning: --target {imap} was not used: no transcript here speaks its protocol\n")
    r = run(str(path), "--target", lecture_smtp.url)
    assert (r.status, r.err) == (0, "")


def test_the_junit_file_is_checked_before_the_run_and_its_folders_made(tmp_path: Path, lecture_smtp: Any) -> None:
    path = tmp_path / "smtp.txt"
    path.write_text(header(lecture_smtp.url) + SMTP_PASS, encoding="utf-8")
    # A folder: refused at once, nothing replayed.
    r = run(str(path), "--junit", str(tmp_path))
    assert (r.status, r.out) == (2, "")
    assert r.err == f"protoshell: --junit {tmp_path} is a folder: give a file name ({tmp_path}/junit.xml)\n"
    # reports/ does not exist yet (a fresh CI checkout): made, as pytest --junitxml does.
    report = tmp_path / "reports" / "ci" / "junit.xml"
    r = run(str(path), "--junit", str(report))
    assert r.status == 0, r.out + r.err
    assert ET.parse(report).getroot().get("tests") == "1"
    # A parent that is a file: one line, before the run.
    r = run(str(path), "--junit", str(path / "junit.xml"))
    assert (r.status, r.out) == (2, "")
    assert r.err.startswith(f"protoshell: cannot write {path}/junit.xml: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "smtp://h:1", "--target", "smtp://h:2", "."], "two --target URLs for SMTP"),
        (["no-such-folder"], "no such file or folder: no-such-folder"),
        (["--jobs", "0", "."], "--jobs must be 1 or more"),
        (["--target", "gopher://h", "."], "unknown scheme"),
        (["--set", "no equals", "."], "--set wants NAME=VALUE"),
        (["--timeout", "nan", "."], "--timeout must be more than 0"),  # was a ValueError traceback
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    r = run(*args)
    assert r.status == 2
    assert r.out == ""
    assert r.err.startswith("protoshell: ") and message in r.err and r.err.count("\n") == 1


def test_a_folder_without_transcripts_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("just notes\n", encoding="utf-8")
    r = run(str(tmp_path))
    assert r.status == 2
    assert "no transcripts in" in r.err


def test_protoshell_test_is_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from protoshell.cli import main

    assert main(["test", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: protoshell test" in out and "--junit FILE" in out and "--fail-fast" in out
    assert main(["--help"]) == 0
    listed = re.search(r"protoshell \{([a-z,]+)\} --help", capsys.readouterr().out)
    assert listed and "test" in listed.group(1).split(",")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_nothing_is_shared_between_files_but_the_set_values(tmp_path: Path, lecture_smtp: Any, jobs: str) -> None:
    """A file's :set and captures stay in that file: the next one starts from --set alone."""
    session = "S: 220 *\nC: HELO bar.com\nS: 250 *\nC: MAIL FROM:<Smith@bar.com>\nS: 250 OK\nC: RCPT TO:<$who>\n"
    (tmp_path / "a.txt").write_text(
        header(lecture_smtp.url) + "S: 220 $greeting *\n:set who Green@foo.com\n" + session[len("S: 220 *\n") :]
        + "S: 550 *\nC: QUIT\nS: 221 *\n",
        encoding="utf-8",
    )
    (tmp_path / "b.txt").write_text(header(lecture_smtp.url) + session + "S: 250 OK\nC: QUIT\nS: 221 *\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text(header(lecture_smtp.url) + "S: 220 *\nC: HELO $greeting\nS: 250 *\n", encoding="utf-8")
    r = run(str(tmp_path), "--set", "who=Jones@foo.com", "--jobs", jobs)
    lines = r.out.splitlines()
    assert lines[0].startswith("PASS ") and lines[1].startswith("PASS "), r.out + r.err
    assert lines[2].startswith(f"ERROR {tmp_path}/c.txt:3: $greeting is not captured"), r.out
    assert r.status == 2


def test_strict_reaches_every_file(tmp_path: Path, lecture_smtp: Any) -> None:
    """By status the reply matches; --strict compares its text, in each file."""
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(header(lecture_smtp.url) + "S: 220 *\nC: QUIT\nS: 221 Bye now\n", encoding="utf-8")
    assert run(str(tmp_path), "--jobs", "2").status == 0
    r = run(str(tmp_path), "--jobs", "2", "--strict")
    assert r.status == 1
    assert [line.split(" ", 2)[:2] for line in r.out.splitlines()[:2]] == [
        ["FAIL", f"{tmp_path}/a.txt:4"],
        ["FAIL", f"{tmp_path}/b.txt:4"],
    ], r.out


def test_ctrl_c_still_writes_the_junit_file(tmp_path: Path, http_server: Any) -> None:
    """A CI job cancelled half-way keeps what it found: exit 130, one line on stderr, and the
    JUnit file with the files that ran and the rest skipped as interrupted (none was written)."""
    (tmp_path / "a.txt").write_text(header(http_server.url) + HTTP_PASS, encoding="utf-8")
    (tmp_path / "b.txt").write_text(header(http_server.url) + ":sleep 30\n" + HTTP_PASS, encoding="utf-8")
    report = tmp_path / "junit.xml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "protoshell", "test", str(tmp_path), "--jobs", "1", "--junit", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.startswith(f"PASS {tmp_path}/a.txt"), first
        time.sleep(0.3)  # b.txt is sleeping
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.decode().splitlines() == ["protoshell: interrupted after 1 of 2 files"]
    suite = ET.parse(report).getroot()
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("2", "1", "0")
    skipped = suite.findall("testcase/skipped")
    assert [s.get("message") for s in skipped] == ["not run (interrupted (Ctrl-C))"]
