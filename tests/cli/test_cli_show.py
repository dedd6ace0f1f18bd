"""`dagbatch show` as a user runs it: sources, formats, files, live state from the emulator,
and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
MAPREDUCE = str(ROOT / "examples" / "mapreduce.py")
BROKEN = Path(__file__).parents[1] / "fixtures" / "broken"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_show_workflow_prints_the_folded_text() -> None:
    code, out, _ = run("show", MAPREDUCE)
    assert code == 0
    assert "[n2] 1..10000 ×10,000 *" in out
    assert "taskIdRange 1..10000" in out
    assert "widest level: 10,000 tasks at level 1" in out
    assert "critical path: 3 tasks in a row" in out


def test_show_html_file_with_three_nodes(tmp_path: Path) -> None:
    out_file = tmp_path / "plan.html"
    code, _, err = run("show", MAPREDUCE, "--format", "html", "--out", str(out_file))
    assert code == 0, err
    html = out_file.read_text(encoding="utf-8")
    assert len(re.findall(r'<g class="node ', html)) == 3
    assert "taskIdRange 1..10000" in html
    assert f"wrote {out_file}" in err


def test_format_follows_the_file_suffix(tmp_path: Path) -> None:
    for suffix, start in ((".svg", "<?xml"), (".dot", "digraph"), (".mmd", "%% dagbatch")):
        out_file = tmp_path / f"plan{suffix}"
        assert run("show", MAPREDUCE, "--out", str(out_file))[0] == 0
        assert out_file.read_text(encoding="utf-8").startswith(start)
    # --format that contradicts the suffix is obeyed, with a warning naming both
    out_file = tmp_path / "plan.svg"
    code, _, err = run("show", MAPREDUCE, "--format", "dot", "--out", str(out_file))
    assert code == 0 and out_file.read_text(encoding="utf-8").startswith("digraph")
    assert f"warning: writing dot into {out_file}, whose suffix says svg" in err
    code, _, err = run("show", MAPREDUCE, "--format", "svg", "--out", str(out_file))
    assert code == 0 and "warning" not in err


def test_an_image_file_name_is_refused_not_filled_with_text(tmp_path: Path) -> None:
    """--out x.png wrote the text picture into a file named .png (exit 0): refused before
    anything is compiled, with the formats there are; so is run --picture y.pdf."""
    code, _, err = run("show", MAPREDUCE, "--out", str(tmp_path / "x.png"))
    assert code == 2 and "asks for a PNG image, which dagbatch does not draw" in err
    assert "write x.svg" in err and not (tmp_path / "x.png").exists()
    code, _, err = run("run", MAPREDUCE, "--simulate", "--picture", str(tmp_path / "y.pdf"))
    assert code == 2 and "asks for a PDF image" in err and not (tmp_path / "y.pdf").exists()
    assert not (tmp_path / ".dagbatch").exists()  # nothing ran
    # A format given outright is written as asked (with the mismatch warned about).
    code, _, err = run("show", MAPREDUCE, "--format", "svg", "--out", str(tmp_path / "z.png"))
    assert code == 0 and "warning: writing svg into" in err
    assert (tmp_path / "z.png").read_text().startswith("<?xml")


def test_plan_dir_and_workflow_draw_the_same(tmp_path: Path) -> None:
    wide = str(ROOT / "examples" / "wide_fanin.py")
    assert run("compile", wide, "--out", str(tmp_path / "plan"), "-q")[0] == 0
    code, from_dir, _ = run("show", str(tmp_path / "plan"), "--format", "dot")
    assert code == 0
    assert from_dir == run("show", wide, "--format", "dot")[1]
    assert "shape=hexagon" in from_dir


def test_renumber_option_reaches_the_compile() -> None:
    wide = str(ROOT / "examples" / "wide_fanin.py")
    code, out, _ = run("show", wide, "--over-limit", "renumber")
    assert code == 0 and "taskIdRange 1..3000" in out and "(0 barriers)" in out


def test_max_nodes_and_no_fold() -> None:
    code, _, err = run("show", MAPREDUCE, "--no-fold")
    assert code == 2 and "without folding (--no-fold) draws at most 500 tasks" in err
    pipeline = str(ROOT / "examples" / "pipeline.py")
    code, out, _ = run("show", pipeline, "--no-fold")
    assert code == 0 and "[n8]" in out and "clean-amer" in out
    code, _, _ = run("show", MAPREDUCE, "--max-nodes", "1")
    assert code == 2


def test_usage_and_invalid_workflow_exit_codes(tmp_path: Path) -> None:
    code, _, err = run("show", str(tmp_path / "nothing.py"))
    assert code == 2 and "no such plan directory or workflow file" in err
    (tmp_path / "notaplan").mkdir()
    code, _, err = run("show", str(tmp_path / "notaplan"))
    assert code == 2 and "not a plan directory" in err
    code, _, err = run("show", str(BROKEN / "cycle.py"))
    assert code == 1 and "cycle" in err
    code, _, err = run("show", MAPREDUCE, "--job-id", "mapreduce", env={"AZURE_BATCH_ENDPOINT": ""})
    assert code == 2 and "no Batch endpoint" in err


def test_live_state_from_the_emulator(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
    }
    plan = tmp_path / "plan"
    assert run("compile", MAPREDUCE, "--out", str(plan), "-q")[0] == 0
    code, _, err = run("submit", str(plan), "--create-job", "--pool-id", "p", "-q", env=env)
    assert code == 0, err
    # 10,002 tasks: the listing takes several pages (odata.nextLink).
    code, out, err = run("show", str(plan), "--job-id", "mapreduce", env=env)
    assert code == 0, err
    assert "state: 10,002 waiting" in out
    assert "10,000 waiting" in out
    assert DEV_KEY not in out + err
    # The same plan submitted to another job: the picture is of the job named.
    code, _, err = run(
        "submit", str(plan), "--job-id", "mr-2", "--create-job", "--pool-id", "p", "-q", env=env
    )
    assert code == 0, err
    code, out, err = run("show", str(plan), "--job-id", "mr-2", env=env)
    assert code == 0, err
    assert out.startswith("job mr-2: ") and "state: 10,002 waiting" in out
    # A job the service does not know.
    code, _, err = run("show", str(plan), "--job-id", "nosuchjob", env=env)
    assert code == 3 and "JobNotFound" in err
    assert "the service refused the request" in err and "submission" not in err  # show sends none
    # The wrong key.
    code, _, err = run(
        "show", str(plan), "--job-id", "mapreduce", env={**env, "AZURE_BATCH_ACCESS_KEY": "eA=="}
    )
    assert code == 3
