"""Leaving the process without teardown: the status, atexit handlers and output survive."""

import subprocess
import sys
import textwrap

import pytest

from society.app.leave import exit_status


def _run(body: str) -> subprocess.CompletedProcess:
    script = "import atexit, sys, threading, time\nfrom society.app.leave import leave\n"
    return subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (256 + 3, 3)])
def test_exit_status_is_what_sys_exit_gives(code, status):
    assert exit_status(code) == status


def test_a_message_code_is_printed_and_gives_1(capsys):
    assert exit_status("bad thing") == 1
    assert capsys.readouterr().err == "bad thing\n"


def test_atexit_handlers_run_and_buffered_output_is_flushed(tmp_path):
    mark = tmp_path / "mark"
    done = _run(
        f"""
        atexit.register(lambda: open({str(mark)!r}, "w").write("ran"))
        sys.stdout.write("no newline, still buffered")
        sys.stderr.write("to stderr")
        leave(3)
        print("never")
        """
    )
    assert done.returncode == 3
    assert done.stdout == "no newline, still buffered"
    assert done.stderr == "to stderr"
    assert mark.read_text() == "ran"


def test_a_message_reaches_stderr_with_status_1():
    done = _run('leave("stopped: why")')
    assert (done.returncode, done.stderr) == (1, "stopped: why\n")


def test_with_another_thread_running_it_exits_normally_and_the_thread_finishes():
    done = _run(
        """
        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        leave(4)
        """
    )
    assert done.returncode == 4
    assert done.stdout == "thread finished\n"


def test_the_society_program_leaves_with_its_status_and_output(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nbogus = 1\n')
    done = subprocess.run(
        [sys.executable, "-m", "society", "run", str(bad), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {bad}: bogus: unknown key"
    listed = subprocess.run(
        [sys.executable, "-m", "society", "--help"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0
    assert "run" in listed.stdout
