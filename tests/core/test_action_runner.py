"""The agent's action runner without a cluster: kbmc's agent (``podagent.Runner``) hands commands to the shell
loop of the ``kbmc-actions`` container (``sidecar.RUNNER_SCRIPT``) through a shared directory.

Matrix: exit code, stdout and stderr apart, env values with spaces and quotes | a command past its timeout is
ended (timeout(1)) and reported as timed out | several in a row.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbmc.core.sidecar import ACTIONS_DIR, RUNNER_SCRIPT, Command
from kbmc.podagent import Runner


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    loop = subprocess.Popen(["sh", "-c", RUNNER_SCRIPT.replace(ACTIONS_DIR, str(tmp_path))])
    try:
        yield Runner(tmp_path)
    finally:
        loop.kill()
        loop.wait()


def test_exit_code_output_and_env(runner: Runner) -> None:
    command = Command(("sh", "-c", 'echo "$GREETING"; echo oops >&2; exit 3'), 5)
    assert runner.run(command, {"GREETING": "it's a b"}, threading.Event()) == (3, "it's a b\n", "oops\n")
    assert runner.run(Command(("true",), 5), {}, threading.Event()) == (0, "", "")


def test_a_command_past_its_timeout_is_ended(runner: Runner) -> None:
    code, _out, _err = runner.run(Command(("sleep", "30"), 1), {}, threading.Event())
    assert code is None, "timed out"
    assert runner.run(Command(("echo", "next"), 5), {}, threading.Event())[1] == "next\n", "the loop goes on"
