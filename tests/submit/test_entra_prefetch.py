"""An Entra ID token is fetched while the plan loads (BatchClient.prefetch_auth), and a
command that fails before it needs the token does not wait for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import dagbatch.submit.submission as submission
from dagbatch.errors import AuthenticationError, PlanError
from dagbatch.submit.auth import EntraAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.submission import submit_plan
from tests.conftest import EmulatorFactory
from tests.plan_factory import layered_plan


class SlowCredential:
    """A credential whose ``get_token`` takes a while (the Azure CLI, a network call)."""

    def __init__(self, *, wait: threading.Event | None = None, fail: bool = False) -> None:
        self.calls: list[float] = []  # when each get_token began
        self.finished: list[float] = []
        self._wait = wait
        self._fail = fail

    def get_token(self, scope: str) -> Any:
        self.calls.append(time.monotonic())
        try:
            if self._wait is not None:
                self._wait.wait(30)
            else:
                time.sleep(0.2)
            if self._fail:
                raise RuntimeError("no credential in this environment")
            return SimpleNamespace(token="tok-prefetched", expires_on=time.time() + 3600)
        finally:
            self.finished.append(time.monotonic())


def _timed_load(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each plan load of the submission ended."""
    ended: list[float] = []
    real = submission.parse_plan_steps  # the load's second half (read_plan_files the first)

    def steps(files: Any) -> Generator[None, None, Any]:
        try:
            return (yield from real(files))
        finally:
            ended.append(time.monotonic())

    monkeypatch.setattr(submission, "parse_plan_steps", steps)
    return ended


def test_the_token_is_fetched_while_the_plan_loads(
    emulator_factory: EmulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = emulator_factory(check_auth=False)  # a bearer token is not checked here
    plan = layered_plan(tmp_path / "plan", tasks=2_000, waves=2, pool_id="p")
    credential = SlowCredential()
    loaded = _timed_load(monkeypatch)

    report = submit_plan(
        plan,
        job_id="job",
        client=BatchClient(server.endpoint, EntraAuth(credential)),
        create_job=True,
    )

    assert report.ok and report.confirmed == 2_000
    assert len(credential.calls) == 1  # one fetch: the first request awaited the prefetch
    assert credential.calls[0] < loaded[0]  # begun before the plan was loaded


def test_a_failed_prefetch_is_an_authentication_error_at_the_first_request(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server = emulator_factory(check_auth=False)
    plan = layered_plan(tmp_path / "plan", tasks=100, waves=1, pool_id="p")
    credential = SlowCredential(fail=True)

    with pytest.raises(AuthenticationError, match="no credential in this environment"):
        submit_plan(
            plan,
            job_id="job",
            client=BatchClient(server.endpoint, EntraAuth(credential)),
            create_job=True,
        )
    assert len(credential.calls) == 1


def test_a_plan_that_does_not_load_does_not_wait_for_the_token(tmp_path: Path) -> None:
    release = threading.Event()
    credential = SlowCredential(wait=release)
    (tmp_path / "plan").mkdir()  # no plan.json
    try:
        with pytest.raises(PlanError, match="not a plan directory"):
            submit_plan(
                tmp_path / "plan",
                job_id="job",
                client=BatchClient("http://127.0.0.1:9", EntraAuth(credential)),
            )
        # The submission is over while the credential is still at work.
        assert len(credential.calls) == 1 and not credential.finished
    finally:
        release.set()


def test_status_fetches_the_token_while_the_plan_loads(
    emulator_factory: EmulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagbatch.observe as observe
    from dagbatch.observe import status

    server = emulator_factory(check_auth=False)
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")
    submit_plan(
        plan,
        job_id="job",
        client=BatchClient(server.endpoint, EntraAuth(SlowCredential())),
        create_job=True,
    )
    credential = SlowCredential()
    loaded: list[float] = []
    real = observe.load_view

    def load_view(*args: Any) -> Any:
        try:
            return real(*args)
        finally:
            loaded.append(time.monotonic())

    monkeypatch.setattr(observe, "load_view", load_view)

    answer = status(plan, client=BatchClient(server.endpoint, EntraAuth(credential)))

    assert answer.job_id == "job"
    assert len(credential.calls) == 1 and credential.calls[0] < loaded[0]
