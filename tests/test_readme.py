"""The README is the user's first contact: its example workflow and the output it shows
must stay true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dagbatch.cli.main import main
from dagbatch.emulator.server import EmulatorServer
from tests.submit_helpers import env_for

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_example_workflow_compiles(tmp_path: Path) -> None:
    source = README.split("## A workflow file", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    workflow = tmp_path / "workflow.py"
    workflow.write_text(source)
    result = CliRunner().invoke(main, ["compile", str(workflow), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.stderr
    assert "tasks            103" in result.stderr


def test_the_quick_start_prints_what_the_readme_shows(tmp_path: Path) -> None:
    shown = README.split("It prints this summary on stderr", 1)[1].split("```", 2)[1]
    shown = shown.strip().splitlines()
    result = CliRunner().invoke(
        main, ["compile", str(ROOT / "examples" / "mapreduce.py"), "--out", str(tmp_path / "plan")]
    )
    assert result.exit_code == 0
    printed = result.stderr.splitlines()
    # all but the last line, which names the output directory
    assert printed[: len(shown) - 1] == shown[:-1]
    assert printed[len(shown) - 1].endswith("(plan.json, job.json, 101 batch file(s))")


def test_the_first_run_prints_what_the_readme_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start's `dagbatch run examples/pipeline.py`: its report as the README shows
    it, times aside and the rows its '...' stands for."""
    block = README.split("ends with a report (times vary):", 1)[1].split("```", 2)[1]
    shown = block.strip().splitlines()
    monkeypatch.chdir(tmp_path)  # the run directory is .dagbatch/... under the working dir
    result = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "pipeline.py"), "-q"])
    assert result.exit_code == 0, result.output
    printed = result.stdout.strip().splitlines()
    timeless = re.compile(r"\d+\.\d+ ?s\b")
    cut = shown.index("...")
    assert [timeless.sub("T", line) for line in printed[:cut]] == [
        timeless.sub("T", line) for line in shown[:cut]
    ]
    tail = len(shown) - cut - 1
    assert [timeless.sub("T", line) for line in printed[-tail:]] == [
        timeless.sub("T", line) for line in shown[-tail:]
    ]


def test_the_readme_lists_the_compiler_passes_in_code_order() -> None:
    from dagbatch.compiler.pipeline import PASSES

    table = README.split("## How compile works", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ")][1:]
    listed = [(row[2].strip().strip("`"), row[3].strip().strip("`")) for row in rows]
    assert listed == [(fn.__name__, fn.__module__.rsplit(".", 1)[1] + ".py") for fn in PASSES]


def test_the_readme_lists_every_exit_code_and_no_other() -> None:
    from dagbatch.cli.exit_codes import ExitCode

    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = [int(line.split("|")[1]) for line in table.splitlines() if line[2:3].isdigit()]
    assert listed == sorted(code.value for code in ExitCode)


def _what_if(workdir: Path, fail: str) -> Result:
    """``dagbatch run examples/mapreduce.py --simulate --fail FAIL -q``, in ``workdir``."""
    example = str(ROOT / "examples" / "mapreduce.py")
    args = ["run", example, "--simulate", "--fail", fail, "--workdir", str(workdir), "-q"]
    return CliRunner().invoke(main, args)


def test_the_quick_start_what_if_prints_what_the_readme_shows(tmp_path: Path) -> None:
    block = README.split("--simulate --fail 17\n```", 1)[1].split("```", 2)[1]
    shown = [line.rstrip() for line in block.strip().splitlines()]
    result = _what_if(tmp_path / "run", "17")
    assert result.exit_code == 4, result.stdout
    printed = [line.rstrip() for line in result.stdout.strip().splitlines()]
    for line in shown:
        if line.startswith("tasks "):  # the elapsed time varies
            assert line.split(";")[0] in printed[1]
        elif line == "...":  # rows left out of the README
            continue
        else:
            assert line in printed, line


def test_the_python_example_runs_as_the_readme_says(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The 'Using dagbatch from Python' block, run as a script in a fresh interpreter against
    the emulator on 127.0.0.1: every line it prints is what its comments say."""
    section = README.split("## Using dagbatch from Python", 1)[1]
    source = section.split("```python", 1)[1].split("```", 1)[0]
    (tmp_path / "example.py").write_text(source)
    result = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env={**os.environ, **env_for(emulator)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    promised = [
        line.split("#", 1)[1].strip()
        for line in source.splitlines()
        if line.startswith("print(") and "#" in line
    ]
    assert len(promised) == 3
    assert result.stdout.splitlines() == promised
    assert sorted(emulator.store.task_ids("demo")) == ["1", "2", "3", "prep"]


def test_the_quick_start_run_report_reads_as_the_readme_shows(tmp_path: Path) -> None:
    """The report of `dagbatch run examples/pipeline.py`: it starts with the job's line (no
    blank line first), and the finish line agrees with it (the job stays active)."""
    block = README.split("ends with a report (times vary):", 1)[1].split("```", 2)[1]
    shown = [line for line in block.strip().splitlines() if ".dagbatch/" not in line]
    result = CliRunner().invoke(
        main, ["run", str(ROOT / "examples" / "pipeline.py"), "--workdir", str(tmp_path), "-q"]
    )
    assert result.exit_code == 0, result.stdout
    printed = result.stdout.splitlines()
    assert printed[0] == shown[0] == "job pipeline-nightly: active"
    assert shown[1].split(";")[0] in printed[1]  # the elapsed time varies
    for line in shown[2:]:
        if line != "...":
            assert line in printed, line


def test_the_readme_shows_the_folded_row_dagbatch_run_prints(tmp_path: Path) -> None:
    """The run section's example of many tasks that never ran for one cause."""
    section = README.split("### `dagbatch run ", 1)[1].split("\n### ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith("10,001 tasks "))
    result = _what_if(tmp_path, "prepare=2")
    assert result.exit_code == 4, result.stdout
    printed = result.stdout.splitlines()
    header = next(n for n, line in enumerate(printed) if line.startswith("TASK "))
    assert printed[header + 1].startswith("prepare ")  # the failed task first, as shown
    assert printed[header + 2] == row


def test_the_python_examples_type_check_strictly(tmp_path: Path) -> None:
    """The README's Python blocks under `mypy --strict`: the API's annotations say what the
    examples do (a str plan directory, an exit code alone for a what-if task); they once
    refused both."""
    blocks = [
        README.split(heading, 1)[1].split("```python", 1)[1].split("```", 1)[0]
        for heading in ("## Using dagbatch from Python", "#### From Python")
    ]
    for k, block in enumerate(blocks):
        (tmp_path / f"example{k}.py").write_text(block)
    (tmp_path / "mypy.ini").write_text(
        f"[mypy]\nstrict = True\nmypy_path = {ROOT}\ncache_dir = {tmp_path / 'cache'}\n\n"
        "[mypy-networkx.*]\nignore_missing_imports = True\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "example0.py", "example1.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_says_it_is_typed() -> None:
    """PEP 561: without py.typed in the installed package, a user's type checker reads none
    of dagbatch's annotations."""
    assert (ROOT / "dagbatch" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["dagbatch"]
