"""dagbatch.submit.client: redaction, Shared Key against the emulator, retry policy, Retry-After."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import sys
import time
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.errors import AuthenticationError, ConfigError, TransientError
from dagbatch.redact import install_log_redaction, redact, register_secret
from dagbatch.submit.auth import EntraAuth, SharedKeyAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.retry import RetryPolicy, RetryState
from tests.conftest import EmulatorFactory

WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="


class FakeSleep:
    """Records the delays asked for instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# --- redaction -----------------------------------------------------------------------------


def test_redact_masks_sas_signatures_in_urls_and_messages() -> None:
    url = "https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&sr=b&sig=AbC%2Bdef%3D&se=x"
    out = redact(f"failed to fetch {url}")
    assert "AbC%2Bdef%3D" not in out
    assert "sig=REDACTED&se=x" in out
    assert "sv=2022-11-02" in out
    assert redact("SIG=abc def") == "SIG=REDACTED def"
    assert redact("a=1&sig=zz") == "a=1&sig=REDACTED"
    assert redact("mysig=keep") == "mysig=keep"


def test_redact_masks_signatures_tokens_and_registered_keys() -> None:
    assert redact("Authorization: SharedKey acct:q83+/hash=") == (
        "Authorization: SharedKey acct:REDACTED"
    )
    assert redact("Authorization: Bearer eyJ0eXAi.abc-def_1") == "Authorization: Bearer REDACTED"
    register_secret("c2VjcmV0LWtleS12YWx1ZQ==")
    assert "c2VjcmV0" not in redact("key=c2VjcmV0LWtleS12YWx1ZQ== in a message")


#: What a text is made of: the patterns' words in several cases and encodings (and with
#: non-ASCII letters that a case-insensitive pattern takes for ASCII ones), separators and
#: values.
_REDACT_WORDS = [
    "sig", "SIG", "mysig", "\u017fig", "s\u0131g", "S\u0130G", "SharedKey", "\u017fharedKey",
    "AccountKey",
    "account\u212aey", "SharedAccessSignature", "\u017fharedAccess\u017fignature", "Bearer",
    "BEARER", "beare", "x",
]  # fmt: skip
_REDACT_GLUE = ["=", "%3D", "%253D", "\\u003d", ":", " ", "\t", "&", "%26", "?", ";", '"', ""]
_REDACT_VALUES = ["abc", "Q+/h=", "acct:Q+/h=", "r", "d", "\u0130", "é", ""]
_REDACT_SEGMENTS = st.tuples(
    st.sampled_from(_REDACT_GLUE),
    st.sampled_from(_REDACT_WORDS),
    st.sampled_from(_REDACT_GLUE),
    st.sampled_from(_REDACT_VALUES),
).map("".join)


def _redact_by_every_pattern(text: str) -> str:
    """``redact`` as it was before the word search: every pattern run on every text."""
    from dagbatch import redact as module

    for secret in sorted(module._SECRETS, key=len, reverse=True):
        text = text.replace(secret, module.REDACTED)
    for pattern, _ in module._PATTERNS:
        text = pattern.sub(rf"\g<1>{module.REDACTED}", text)
    return text


@given(st.lists(_REDACT_SEGMENTS, max_size=8).map("".join))
@example("SharedKey\tacct:Q+/h=")
@example("Bearer\tabc")
@example("sig%3Dabc")
@example("\u017fig=abc")
@example("account\u212aey=abc")
@example("\u2192 s\u0131g=abc")
@example("\u2192 S\u0130G=abc")
@example("x AccountKey=abc;SharedAccessSignature=abc")
@settings(max_examples=500, deadline=None)
def test_redact_word_search_masks_what_every_pattern_would(text: str) -> None:
    """A pattern is skipped only where its word is absent: never a secret left unmasked."""
    assert redact(text) == _redact_by_every_pattern(text)


def test_redact_knows_every_letter_a_pattern_takes_for_an_ascii_one() -> None:
    """The look-alikes ``_folded`` spells as ASCII are exactly the code points that Python's
    case-insensitive matching takes for an ASCII letter (all of Unicode scanned)."""
    import re
    import sys

    from dagbatch.redact import _LOOKALIKES

    letter = re.compile(r"(?i)[a-z]")
    found = {
        chr(cp): next(a for a in "abcdefghijklmnopqrstuvwxyz" if re.fullmatch(f"(?i){a}", chr(cp)))
        for cp in range(0x80, sys.maxunicode + 1)
        if letter.fullmatch(chr(cp))
    }
    assert found == _LOOKALIKES


def test_redact_of_a_large_text_without_secrets_leaves_it_whole() -> None:
    rows = "".join(f'{{"id": "task-{i}", "state": "completed"}}\n' for i in range(20_000))
    assert redact(rows) == rows
    assert redact(rows + "see ?sig=zz") == rows + "see ?sig=REDACTED"
    arrows = rows.replace("completed", "waits \u2192 block")  # not ASCII (status's chains)
    assert redact(arrows) == arrows
    assert redact(arrows + "see ?sig=zz") == arrows + "see ?sig=REDACTED"


def test_logging_of_dagbatch_and_httpx_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("dagbatch.submit.submission").warning("GET %s", "https://x/y?sig=topsecret")
    logging.getLogger("httpx").info("HTTP Request: GET https://x/y?a=1&sig=topsecret2")
    text = caplog.text
    assert "topsecret" not in text
    assert text.count("sig=REDACTED") == 2


def test_shared_key_auth_rejects_a_key_that_is_not_base64() -> None:
    with pytest.raises(ConfigError, match="not valid base64"):
        SharedKeyAuth("acct", "not base64 !!")


# --- against the emulator --------------------------------------------------------------------


def test_signed_requests_are_accepted_by_the_emulator(emulator: EmulatorServer) -> None:
    async def run() -> None:
        async with BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY)) as client:
            created = await client.create_job(
                {"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
            )
            assert created.status == 201
            again = await client.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
            assert again.status == 409 and again.body["code"] == "JobExists"
            job = await client.get_job("j")
            assert job.status == 200 and job.body["usesTaskDependencies"] is True
            results = await client.add_task_collection(
                "j", b'{"value":[{"id":"a","commandLine":"x"},{"id":"b","commandLine":"y"}]}'
            )
            assert sorted((r.task_id, r.status) for r in results) == [
                ("a", "success"),
                ("b", "success"),
            ]
            task = await client.get_task("j", "a")
            assert task.status == 200 and task.body["commandLine"] == "x"
            missing = await client.get_task("j", "zzz")
            assert missing.status == 404

    asyncio.run(run())
    assert emulator.store.task_ids("j") == ["a", "b"]


# The connections each closed loop left open (the caller did not close the client in it)
# are dropped, and their sockets closed by the collector, which warns of them.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_client_serves_one_event_loop_after_another(emulator: EmulatorServer) -> None:
    """A client used under one asyncio.run and then another (a library caller mixing
    ``status`` and ``asyncio.run(status_async(...))``) took a connection opened on the first,
    closed loop: "Event loop is closed" on every other call. Both of its pools (a list with
    a query goes through httpx's) open new connections on the new loop."""
    client = BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))

    async def listing() -> int:
        answer = await client.call("GET", "/jobs", params={"maxresults": "10"})
        return answer.status

    async def job() -> int:
        return (await client.get_job("nope")).status

    try:
        for _ in range(3):
            assert asyncio.run(listing()) == 200
            assert asyncio.run(job()) == 404
    finally:
        asyncio.run(client.aclose())
        gc.collect()  # the dropped connections' sockets, here and not in a later test


def test_wrong_key_is_a_clear_authentication_error(emulator: EmulatorServer) -> None:
    async def run() -> None:
        async with BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, WRONG_KEY)) as client:
            await client.get_job("j")

    with pytest.raises(AuthenticationError) as info:
        asyncio.run(run())
    message = str(info.value)
    assert "authentication failed" in message
    assert "AZURE_BATCH_ACCESS_KEY" in message
    assert WRONG_KEY not in message


def test_retry_after_is_honoured_on_a_real_503(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(busy=1.0, retry_after=7, operations=frozenset({"getjob"}))
    sleep = FakeSleep()

    async def clear_faults_then_sleep(seconds: float) -> None:
        await sleep(seconds)
        if len(sleep.calls) == 2:
            from dagbatch.emulator import FaultConfig

            server.set_faults(FaultConfig())

    policy = RetryPolicy(sleep=clear_faults_then_sleep, base_delay=0.01)

    async def run() -> int:
        async with BatchClient(
            server.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY), retry=policy
        ) as client:
            return (await client.get_job("nope")).status

    assert asyncio.run(run()) == 404  # JobNotFound once the 503s stop
    assert sleep.calls == [7.0, 7.0]
    assert server.store.stats()["responses"] == {"404": 1, "503": 2}


def test_transient_errors_give_up_after_max_retries() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(500, json={"code": "InternalError", "message": {"value": "boom"}})

    sleep = FakeSleep()
    policy = RetryPolicy(max_retries=3, sleep=sleep, rng=random.Random(1))

    async def run() -> None:
        async with BatchClient(
            "https://acct.example",
            SharedKeyAuth("acct", DEV_KEY),
            transport=httpx.MockTransport(handler),
            retry=policy,
        ) as client:
            await client.get_job("j")

    with pytest.raises(TransientError) as info:
        asyncio.run(run())
    assert info.value.status == 500 and info.value.code == "InternalError"
    assert str(info.value).endswith("(gave up after 3 retries)")
    assert attempts == 4
    assert len(sleep.calls) == 3
    for n, delay in enumerate(sleep.calls):  # full jitter: uniform in [0, base * 2**n]
        assert 0.0 <= delay <= 0.5 * 2**n


def test_every_attempt_is_signed_with_a_fresh_ocp_date() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["ocp-date"], request.headers["authorization"]))
        if len(seen) < 3:
            return httpx.Response(503, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"id": "j"})

    async def run() -> int:
        async with BatchClient(
            "https://acct.example",
            SharedKeyAuth("acct", DEV_KEY),
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(sleep=FakeSleep()),
        ) as client:
            return (await client.get_job("j")).status

    assert asyncio.run(run()) == 200
    assert len(seen) == 3
    assert all(auth.startswith("SharedKey acct:") and date for date, auth in seen)


# --- the retry policy ------------------------------------------------------------------------


def test_retry_policy_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0, rng=random.Random(3))
    for retry in range(10):
        assert 0.0 <= policy.delay(retry) <= min(4.0, 2.0**retry)
    assert policy.delay(5, retry_after=12.0) == 12.0
    assert policy.delay(0, retry_after=-1.0) == 0.0


def test_retry_state_stops_at_the_total_wait_cap() -> None:
    sleep = FakeSleep()
    state = RetryState(RetryPolicy(max_retries=10, max_total_wait=10.0, sleep=sleep))

    async def run() -> list[bool]:
        return [await state.backoff(4.0) for _ in range(4)]

    assert asyncio.run(run()) == [True, True, False, False]
    assert sleep.calls == [4.0, 4.0]


# --- Microsoft Entra ID ------------------------------------------------------------------------


def test_entra_without_azure_identity_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(ConfigError, match=r"dagbatch\[entra\]"):
        EntraAuth()


def test_entra_sends_a_cached_bearer_token_for_the_batch_scope() -> None:
    class Credential:
        def __init__(self) -> None:
            self.scopes: list[str] = []

        def get_token(self, scope: str) -> SimpleNamespace:
            self.scopes.append(scope)
            return SimpleNamespace(token="tok-123456789", expires_on=time.time() + 3600)

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"id": "j"})

    credential = Credential()

    async def run() -> None:
        async with BatchClient(
            "https://acct.example",
            EntraAuth(credential),
            transport=httpx.MockTransport(handler),
        ) as client:
            await client.get_job("j")
            await client.get_job("j")

    asyncio.run(run())
    assert seen == ["Bearer tok-123456789"] * 2
    assert credential.scopes == ["https://batch.core.windows.net//.default"]
    assert "tok-123456789" not in redact("token tok-123456789")


def test_a_synchronous_transport_is_accepted() -> None:
    class SyncOnly(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"id": "j", "seen": request.url.path})

    async def run() -> object:
        async with BatchClient(
            "https://acct.example", SharedKeyAuth("acct", DEV_KEY), transport=SyncOnly()
        ) as client:
            return (await client.get_job("j")).body

    assert asyncio.run(run()) == {"id": "j", "seen": "/jobs/j"}


def test_a_read_that_keeps_failing_says_it_was_retried(
    emulator_factory: EmulatorFactory,
) -> None:
    """What `status` prints when the service never answers well: the error, and that it was
    not the first try."""
    server = emulator_factory(internal=1.0, operations=frozenset({"getjob"}))
    policy = RetryPolicy(max_retries=2, sleep=FakeSleep(), rng=random.Random(1))

    async def run() -> None:
        async with BatchClient(
            server.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY), retry=policy
        ) as client:
            await client.get_job("j")

    with pytest.raises(TransientError) as info:
        asyncio.run(run())
    assert info.value.status == 500
    assert "(gave up after 2 retries)" in str(info.value)
