"""The report `dagbatch run` prints: the failed task first, with where it said why; many tasks
that never ran for one cause on one line; a finish line that agrees with the job's state."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dagbatch.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["run", *args])
    return result.exit_code, result.stdout, result.stderr


def table(stdout: str) -> list[str]:
    """The task table's lines, header excluded, up to the blank line after it."""
    return stdout.split("OUTPUT / WHY\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_a_failed_first_task_is_shown_first_and_its_stranded_tasks_on_one_line(
    tmp_path: Path,
) -> None:
    """mapreduce.py with `prepare` failing: 10,001 tasks never run. The table showed 40 of
    them and not `prepare`, the cause; now `prepare` comes first and the rest is one line.
    (--no-finish: the same without terminating the 10,001 tasks at the end, which takes a
    while; tests/test_readme.py runs it with the finish.)"""
    code, stdout, _ = run(
        str(ROOT / "examples" / "mapreduce.py"),
        "--simulate",
        "--fail",
        "prepare=2",
        "--workdir",
        str(tmp_path / "w"),
        "-q",
        "--no-finish",
    )
    assert code == 4, stdout
    assert "failed 1, never ran 10,001" in stdout
    rows = table(stdout)
    assert rows[0].split() == ["prepare", "completed", "2", "0.00s"], rows[0]
    assert rows[1].split()[:3] == ["10,001", "tasks", "active"], rows[1]
    assert rows[1].endswith(
        "never ran: blocked: parent prepare failed with exit code 2, and its "
        "dependencyAction for that is block, directly or (1 of them) through a parent "
        "that never ran (1, 2, 3, ..., reduce)"
    )
    assert len(rows) == 2, rows  # nothing else: every task is in one of the two rows
    assert "more (all of them in --report" not in stdout


def test_a_failed_task_that_ran_says_where_its_stderr_is(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        'graph.graph["job"] = {"id": "broken", "pool_id": "p"}\n'
        "graph.add_node('ok', command_line='/bin/true')\n"
        "graph.add_node('prep', command_line=\"/bin/sh -c 'echo starting; "
        "echo prep.py: no such file >&2; exit 2'\")\n"
        "for n in range(1, 6):\n"
        "    graph.add_node(n, command_line='/bin/true')\n"
        "    graph.add_edge('prep', n)\n"
        "graph.add_node('last', command_line='/bin/true')\n"
        "graph.add_edge(5, 'last')\n"
        "graph.add_node('alone', command_line='/bin/true')\n"
        "graph.add_edge('ok', 'alone')\n"
    )
    work = tmp_path / "w"
    code, stdout, _ = run(str(wf), "--workdir", str(work), "-q")
    assert code == 4, stdout
    rows = table(stdout)
    stderr_file = work.resolve() / "node/workitems/broken/job-1/prep/stderr.txt"
    assert rows[0].startswith("prep ") and rows[0].endswith(f"stderr: {stderr_file}"), rows[0]
    assert rows[1] == "  last line of its stderr: prep.py: no such file"
    assert rows[2].startswith("6 tasks ") and "(1, 2, 3, ..., last)" in rows[2], rows[2]
    assert "each through" not in rows[2] and "(1 of them) through" in rows[2]
    # The tasks that succeeded come after, each on its own row.
    assert [r.split()[0] for r in rows[3:]] == ["ok", "alone"]


def test_what_a_task_puts_in_place_of_its_stderr_is_not_followed(tmp_path: Path) -> None:
    """A task that made its stderr.txt a FIFO hung the report for ever; a link to
    /dev/zero read without end, one to another file printed that file; escape sequences in
    the last line reached the terminal raw (clearing it, changing its colours)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the report\n", encoding="utf-8")
    replace = "/bin/sh -c 'rm -f ../stderr.txt; {}; exit 1'"
    commands = {
        "fifo": replace.format("mkfifo ../stderr.txt"),
        "zero": replace.format("ln -s /dev/zero ../stderr.txt"),
        "link": replace.format(f"ln -s {secret} ../stderr.txt"),
        # ESC[2J clears the screen, ESC[31m turns it red, BEL rings, U+202E reverses.
        "esc": "/bin/sh -c 'printf \"\\033[2J\\033[31mRED\\007 \\342\\200\\256X\\n\" >&2; exit 1'",
    }
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        'graph.graph["job"] = {"id": "odd", "pool_id": "p"}\n'
        + "".join(f"graph.add_node({k!r}, command_line={v!r})\n" for k, v in commands.items())
    )
    code, stdout, _ = run(str(wf), "--workdir", str(tmp_path / "w"), "-q", "--timeout", "60")
    assert code == 4, stdout
    rows = table(stdout)
    assert "not for the report" not in stdout
    assert "\x1b" not in stdout and "\x07" not in stdout and "\u202e" not in stdout
    last = [r for r in rows if r.startswith("  last line of its stderr:")]
    assert last == ["  last line of its stderr: \\x1b[2J\\x1b[31mRED\\x07 \\u202eX"], rows


def test_a_task_killed_at_its_wall_clock_limit_shows_its_stderr(tmp_path: Path) -> None:
    """Its row said only "TaskEnded: ...": where it wrote and its last words were missing,
    as they are not for a task that failed by its exit code."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        'graph.graph["job"] = {"id": "walls", "pool_id": "p"}\n'
        "graph.add_node('slow', command_line=\"/bin/sh -c 'echo stuck on step 3 >&2; "
        "sleep 60'\", constraints={'max_wall_clock_time': 'PT1S'})\n"
    )
    work = tmp_path / "w"
    code, stdout, _ = run(str(wf), "--workdir", str(work), "-q")
    assert code == 4, stdout
    rows = table(stdout)
    assert rows[0].startswith("slow ") and "TaskEnded: " in rows[0], rows
    stderr_file = work.resolve() / "node/workitems/walls/job-1/slow/stderr.txt"
    assert rows[1:3] == [f"  stderr: {stderr_file}", "  last line of its stderr: stuck on step 3"]


def test_three_tasks_stranded_by_one_failure_keep_a_row_each(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        'graph.graph["job"] = {"id": "few", "pool_id": "p"}\n'
        "graph.add_node('ok', command_line='/bin/true')\n"
        "graph.add_node('prep', command_line='/bin/true')\n"
        "for n in ('a', 'b', 'c'):\n"
        "    graph.add_node(n, command_line='/bin/true')\n"
        "    graph.add_edge('prep', n)\n"
    )
    code, stdout, _ = run(
        str(wf), "--simulate", "--fail", "prep", "--workdir", str(tmp_path / "w"), "-q"
    )
    assert code == 4, stdout
    assert [r.split()[0] for r in table(stdout)] == ["prep", "a", "b", "c", "ok"]


def test_the_finish_line_agrees_with_the_job_line(tmp_path: Path) -> None:
    """pipeline.py's job is not set to terminate: the finish at the end ends the tasks left
    waiting, and the job stays active; a job set to terminatejob completes."""
    code, stdout, _ = run(
        str(ROOT / "examples" / "pipeline.py"), "--simulate", "--workdir", str(tmp_path / "w")
    )
    assert code == 0, stdout
    lines = stdout.splitlines()
    assert lines[0] == "job pipeline-nightly: active"  # no blank line first
    assert lines[2] == (
        "terminated the 1 task(s) left waiting that could never run, as `dagbatch finish` "
        "does; the job stays active (its onAllTasksComplete is noaction, not terminatejob)"
    )
    assert "ended the job" not in stdout
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        'graph.graph["job"] = {"id": "ends", "pool_id": "p", '
        '"on_all_tasks_complete": "terminatejob"}\n'
        "graph.add_node('work', command_line='/bin/true')\n"
        "graph.add_node('alert', command_line='/bin/true')\n"
        "graph.add_edge('work', 'alert', when='failure')\n"
    )
    code, stdout, _ = run(str(wf), "--simulate", "--workdir", str(tmp_path / "w2"))
    assert code == 0, stdout
    lines = stdout.splitlines()
    assert lines[0] == "job ends: completed (AllTasksComplete)"
    assert lines[2] == (
        "terminated the 1 task(s) left waiting that could never run, as `dagbatch finish` "
        "does, so the job completed"
    )
