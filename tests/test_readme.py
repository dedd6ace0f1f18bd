"""The README is the user's first contact: its example workflow and the output it shows
must stay true."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dagbatch.cli.main import main

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
    shown = README.split("It prints:", 1)[1].split("```", 2)[1].strip().splitlines()
    result = CliRunner().invoke(
        main, ["compile", str(ROOT / "examples" / "mapreduce.py"), "--out", str(tmp_path / "plan")]
    )
    assert result.exit_code == 0
    printed = result.stderr.splitlines()
    # all but the last line, which names the output directory
    assert printed[: len(shown) - 1] == shown[:-1]
    assert printed[len(shown) - 1].endswith("(plan.json, job.json, 101 batch file(s))")


def test_the_readme_lists_the_compiler_passes_in_code_order() -> None:
    from dagbatch.compiler.pipeline import PASSES

    table = README.split("## How compile works", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ")][1:]
    listed = [(row[2].strip().strip("`"), row[3].strip().strip("`")) for row in rows]
    assert listed == [(fn.__name__, fn.__module__.rsplit(".", 1)[1] + ".py") for fn in PASSES]


def test_the_quick_start_what_if_prints_what_the_readme_shows(tmp_path: Path) -> None:
    block = README.split("--simulate --fail 17\n```", 1)[1].split("```", 2)[1]
    shown = [line.rstrip() for line in block.strip().splitlines()]
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(ROOT / "examples" / "mapreduce.py"),
            "--simulate",
            "--fail",
            "17",
            "--workdir",
            str(tmp_path / "run"),
            "-q",
        ],
    )
    assert result.exit_code == 4, result.stdout
    printed = [line.rstrip() for line in result.stdout.strip().splitlines()]
    for line in shown:
        if line.startswith("tasks "):  # the elapsed time varies
            assert line.split(";")[0] in printed[1]
        elif line == "...":  # rows left out of the README
            continue
        else:
            assert line in printed, line
