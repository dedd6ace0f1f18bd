"""Ctrl-C while the command line is still loading (its imports take a tenth of a second)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from dagbatch.cli.exit_codes import ExitCode

#: Sends the process a real SIGINT as ``dagbatch.cli.main`` starts to load, then runs the
#: command as its console script does.
PROBE = """
import os, signal, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "dagbatch.cli.main":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["dagbatch", "--help"]
from dagbatch.__main__ import run
run()
"""


def test_ctrl_c_while_the_command_loads_is_an_interrupt_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == ExitCode.INTERRUPTED, done.stderr
    assert done.stderr == "interrupted\n"
    assert done.stdout == ""


def test_the_console_script_is_the_entry_that_catches_it() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "dagbatch"]
    assert script.value == "dagbatch.__main__:run"
    done = subprocess.run(
        [sys.executable, "-m", "dagbatch", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "version" in done.stdout
