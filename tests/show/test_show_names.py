"""The user's names in pictures of renumbered plans (`--over-limit renumber`): Batch knows the
tasks by integer ids, the picture draws the names the workflow gave them (plan.json
``idMap``), in every format, for a plan and for a live job, and still folds them by role."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator.server import EmulatorServer
from dagbatch.show.fold import fold_plan
from dagbatch.show.render import FORMATS, render
from dagbatch.show.source import build_view, view_of_plan_dir
from tests.submit_helpers import env_for

WIDE = str(Path(__file__).resolve().parents[2] / "examples" / "wide_fanin.py")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def renumbered_plan(tmp_path: Path) -> Path:
    plan = tmp_path / "plan"
    code, _, err = run("compile", WIDE, "--over-limit", "renumber", "--out", str(plan), "-q")
    assert code == 0, err
    return plan


def test_every_format_draws_the_users_names_of_a_renumbered_plan(tmp_path: Path) -> None:
    plan = renumbered_plan(tmp_path)
    for source in (WIDE, str(plan)):
        for fmt in FORMATS:
            code, out, err = run("show", source, "--over-limit", "renumber", "--format", fmt)
            assert code == 0, err
            assert "render-frame-* ×3,000" in out, (source, fmt)
            assert "assemble" in out, (source, fmt)
            # Batch's ids are said beside the names, never instead of them.
            assert "1..3000 ×3,000" not in out, (source, fmt)
            assert "Batch ids 1..3000" in out, (source, fmt)
    code, out, _ = run("show", str(plan))
    assert code == 0
    assert "[n1] render-frame-* ×3,000 *" in out
    assert "[n2] assemble *" in out and "Batch id 3001" in out
    assert "<- [n1] render-frame-* ×3,000: taskIdRange 1..3000 *" in out
    assert "(render-frame-000000-5feceb66ffc86f38d952 → assemble)" in out


def test_renumbered_tasks_fold_by_role_under_their_names(tmp_path: Path) -> None:
    view = view_of_plan_dir(renumbered_plan(tmp_path))
    assert view.ids[0] == "1" and view.names[0] == "render-frame-000000-5feceb66ffc86f38d952"
    picture = fold_plan(view)
    assert [(n.title, n.count, n.batch_ids) for n in picture.nodes] == [
        ("render-frame-*", 3000, "1..3000"),
        ("assemble", 1, "3001"),
    ]
    assert picture.nodes[1].sample["id"] == "assemble"
    assert picture.nodes[1].sample["batchId"] == "3001"


def test_a_live_renumbered_job_is_drawn_by_the_users_names(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = env_for(emulator)
    plan = renumbered_plan(tmp_path)
    code, _, err = run("submit", str(plan), "--create-job", "--pool-id", "p", "-q", env=env)
    assert code == 0, err
    code, out, err = run("show", str(plan), "--job-id", "render-film", env=env)
    assert code == 0, err
    assert "[n1] render-frame-* ×3,000 *" in out and "[n2] assemble *" in out
    # The live state is still read by Batch's ids: every task found, none missing.
    assert "state: 3,001 waiting" in out
    code, out, err = run(
        "show", str(plan), "--job-id", "render-film", "--format", "mermaid", env=env
    )
    assert code == 0, err
    assert "render-frame-* ×3,000" in out and "3,000 waiting" in out and "assemble" in out


def test_names_from_a_plans_id_map_are_masked_like_any_users_text() -> None:
    # A hand-edited idMap can hold anything; what the picture draws of it is masked.
    sas = "https://acct.blob.core.windows.net/c?sv=2024&sig=TOPSECRETSIG"
    bodies = [
        (1, {"id": str(k), "commandLine": "x", "dependsOn": {"taskIds": ["1"]} if k > 1 else {}})
        for k in range(1, 9)
    ]
    view = build_view(
        bodies,
        job_id="j",
        api_version="2025-06-01",
        on_task_failure="noaction",
        requests=1,
        submit_waves=1,
        barriers=[],
        names={str(k): f"{sas}-{k}" for k in range(1, 9)},
    )
    picture = fold_plan(view)
    for fmt in FORMATS:
        assert "TOPSECRETSIG" not in render(picture, fmt), fmt
    assert "TOPSECRETSIG" not in repr(picture.critical_path)
