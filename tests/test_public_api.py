"""The public API: what `import dagbatch` offers is pinned, and its doctest runs."""

from __future__ import annotations

import asyncio
import doctest
from pathlib import Path

import networkx as nx
import pytest

import dagbatch
from dagbatch.errors import ConfigError


def test_all_is_pinned() -> None:
    assert sorted(dagbatch.__all__) == [
        "CompileOptions",
        "CompiledPlan",
        "DagbatchError",
        "Diagnostic",
        "InvalidWorkflow",
        "JobSettings",
        "SubmitError",
        "Task",
        "WorkflowLoadError",
        "check_graph",
        "compile_graph",
        "load_workflow",
        "write_plan",
    ]
    for name in dagbatch.__all__:
        assert getattr(dagbatch, name) is not None


def test_package_doctest_runs() -> None:
    result = doctest.testmod(dagbatch, raise_on_error=False)
    assert result.attempted >= 5 and result.failed == 0


def test_arguments_of_the_wrong_type_are_a_config_error_that_names_them(tmp_path: Path) -> None:
    """The README: errors are the classes of dagbatch.errors. The natural mix-ups (a dict for
    the options, the graph for the plan) say what was wanted, not AttributeError."""
    g = nx.DiGraph()
    g.add_node("a", command_line="/bin/true")
    with pytest.raises(ConfigError, match=r"a dagbatch\.CompileOptions .*not dict"):
        dagbatch.compile_graph(g, {"job": {"id": "x"}})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"a dagbatch\.CompileOptions"):
        dagbatch.check_graph(g, {"job": {"id": "x"}})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="CompiledPlan that compile_graph returns"):
        dagbatch.write_plan(g, tmp_path / "p")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="a str or a Path, not NoneType"):
        dagbatch.write_plan(dagbatch.compile_graph(g), None)  # type: ignore[arg-type]
    assert not (tmp_path / "p").exists()
    with pytest.raises(ConfigError, match="cannot write /proc/no-such-dir/plan: "):
        dagbatch.write_plan(dagbatch.compile_graph(g), "/proc/no-such-dir/plan")
    written = dagbatch.write_plan(dagbatch.compile_graph(g), str(tmp_path / "q"))
    assert (written / "plan.json").is_file()


def test_a_job_id_that_is_no_str_is_refused_before_any_request(tmp_path: Path) -> None:
    from dagbatch.observe import finish, rerun, status

    with pytest.raises(ConfigError, match="job_id is the job's id, a str, not int"):
        status(job_id=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="job_id is the job's id, a str, not int"):
        finish(job_id=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="job_id is the job's id, a str, not int"):
        rerun(job_id=5, failed=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="plan directory is a str or a Path, not int"):
        status(5)  # type: ignore[arg-type]


def test_run_slots_that_are_no_whole_number_are_refused(tmp_path: Path) -> None:
    from dagbatch.local.run import RunOptions, run_local

    for slots in ("2", 0, 1.5, True):
        with pytest.raises(ConfigError, match="--slots must be a whole number"):
            run_local(str(tmp_path), RunOptions(slots=slots))  # type: ignore[arg-type]


def test_values_out_of_range_are_refused_as_the_commands_refuse_them(tmp_path: Path) -> None:
    """What the command line's options refuse, the library refuses too: no negative stderr
    count, no run that times out before it starts, no True taken for a concurrency of 1, no
    empty plan directory read as the working directory."""
    from dagbatch.local.run import RunOptions, run_local
    from dagbatch.observe import finish, rerun, status

    for bad in (-1, 1001, True, "3"):
        with pytest.raises(ConfigError, match="--stderr-tasks must be a whole number from 0"):
            status(job_id="j", stderr_tasks=bad)  # type: ignore[arg-type]
    for timeout in (-1, 0, float("nan"), "5"):
        with pytest.raises(ConfigError, match="--timeout must be a number of seconds above 0"):
            run_local(str(tmp_path), RunOptions(simulate=True, timeout=timeout))  # type: ignore[arg-type]
    for concurrency in (True, 0, 2.5):
        with pytest.raises(ConfigError, match="--concurrency must be from 1 to"):
            finish(job_id="j", concurrency=concurrency)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="--concurrency must be from 1 to"):
            rerun(job_id="j", failed=True, concurrency=concurrency)  # type: ignore[arg-type]
    for call in (status, finish):
        with pytest.raises(ConfigError, match="an empty path names no plan directory"):
            call("")
    assert not list(tmp_path.iterdir())  # nothing was run or written


def test_the_observe_docstring_names_fields_jobstatus_has() -> None:
    import dataclasses
    import re

    import dagbatch.observe
    from dagbatch.observe import JobStatus

    doc = dagbatch.observe.__doc__ or ""
    first, *rest = doc.split("# JobStatus:", 1)[1].splitlines()
    said = [first]
    for line in rest:  # the comment goes on over lines that hold only a comment
        if not line.strip().startswith("#"):
            break
        said.append(line.strip().removeprefix("#"))
    names = re.findall(r"[a-z_]+", " ".join(said))
    fields = {f.name for f in dataclasses.fields(JobStatus)}
    assert names and set(names) <= fields, set(names) - fields


def test_check_graph_says_what_it_raises() -> None:
    """It returns the workflow's diagnostics, and its docstring says what it still raises."""
    g = nx.DiGraph()
    g.add_edge("a", "b")
    assert dagbatch.check_graph(g)  # no command lines: diagnostics, not an exception
    assert "ConfigError" in (dagbatch.check_graph.__doc__ or "")
    with pytest.raises(ConfigError):
        dagbatch.check_graph([("a", "b")])  # type: ignore[arg-type]


def test_clients_options_and_ids_of_the_wrong_type_are_config_errors(tmp_path: Path) -> None:
    """These came out as AttributeError or TypeError from deep inside (a str for the client,
    a dict for the run's options, an int job id in the request's path)."""
    from dagbatch.local.run import run_local
    from dagbatch.observe import status
    from dagbatch.submit.client import connect
    from dagbatch.submit.submission import submit_plan

    client = connect("http://127.0.0.1:9", "acct", "a2V5")
    try:
        with pytest.raises(ConfigError, match="client is a dagbatch BatchClient"):
            submit_plan(tmp_path, client=None)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="client is a dagbatch BatchClient"):
            status("plan", client="x")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="plan directory is a str or a Path, not NoneType"):
            submit_plan(None, client=client)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="job_id is a str, not int"):
            submit_plan(tmp_path, client=client, job_id=5)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="pool_id is a str, not int"):
            submit_plan(tmp_path, client=client, pool_id=5)  # type: ignore[arg-type]
    finally:
        asyncio.run(client.aclose())  # no connection was opened; closed all the same
    with pytest.raises(ConfigError, match="the endpoint is a str, not int"):
        connect(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="auth is one of sharedkey, entra, not 'bogus'"):
        connect("http://127.0.0.1:9", "acct", "a2V5", auth="bogus")
    with pytest.raises(ConfigError, match="the options are a dagbatch RunOptions"):
        run_local(str(tmp_path), {"simulate": True})  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_the_public_names_are_listed_before_their_first_use() -> None:
    """They load on first use: dir(), help() and tab completion showed none of them."""
    listed = dir(dagbatch)
    assert set(dagbatch.__all__) <= set(listed)


def test_run_switches_that_are_no_bool_are_refused(tmp_path: Path) -> None:
    """RunOptions(simulate="no") ran a simulation: a non-empty str is true."""
    from dagbatch.local.run import RunOptions, run_local

    for options in (RunOptions(simulate="no"), RunOptions(finish=1)):  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"RunOptions\.(simulate|finish) is True or False"):
            run_local(str(tmp_path), options)
    assert not list(tmp_path.iterdir())
