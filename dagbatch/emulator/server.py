"""Running the emulator: in a background thread (tests, benchmarks) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.app import EmulatorSettings, create_app
from dagbatch.emulator.faults import FaultConfig
from dagbatch.emulator.scheduler import Engine, Runner
from dagbatch.emulator.storage_account import StorageAccount
from dagbatch.emulator.store import EmulatorStore
from dagbatch.errors import EmulatorError
from dagbatch.gcpause import gc_fewer_full
from dagbatch.signals import sigterm_as_exit

_DROP_MESSAGE = "ASGI callable returned without completing response."
#: Connections served at once; uvicorn answers 503 beyond.
MAX_CONNECTIONS = 512
#: Hosts that only this machine reaches.
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def exposure_warning(host: str, key: str) -> str | None:
    """A warning when the public development key would be served beyond this machine."""
    if host not in LOOPBACK and not host.startswith("127.") and key == DEV_KEY:
        return (
            f"warning: listening on {host} with the public development key: anyone who can "
            "reach this address can use the emulator (and run commands on this machine). "
            "Pass --key with a key of your own, or listen on 127.0.0.1."
        )
    return None


class _DropFilter(logging.Filter):
    """Silences uvicorn's complaint about the responses the emulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_MESSAGE


def _install_drop_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())


class OneSendTransport:
    """An asyncio transport whose writes made in one turn of the event loop leave in one
    socket send.

    uvicorn writes a response's status line and headers, then its body, each at once: two
    sends per answer, each about a tenth of a millisecond of the emulator's CPU on loopback
    (and two wake-ups of the client). Both are written in the same turn, so they now leave
    together, at the end of that turn. ``close`` sends what is held first; everything else is
    the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def flush(self) -> None:
        """Send what is held, in one write."""
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(b) for b in self._held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneSendH11Protocol(H11Protocol):
    """uvicorn's h11 protocol over a ``OneSendTransport``: one send per answer."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, OneSendTransport(transport, self.loop)))


class _Server(uvicorn.Server):
    """uvicorn's server, leaving ignored signals ignored: a background job of a
    non-interactive shell starts with SIGINT ignored (a terminal's Ctrl-C is not for it),
    and uvicorn's own handler made a stray SIGINT stop the emulator with exit 0, silently.

    It also stops once ``engine`` stopped on an error (``Engine.crashed``): it went on
    answering, and the tasks it took were never scheduled (``serve_forever`` says why)."""

    def __init__(self, config: uvicorn.Config, engine: Engine) -> None:
        super().__init__(config)
        self.engine = engine

    async def on_tick(self, counter: int) -> bool:
        if self.engine.crashed is not None:
            return True
        return await super().on_tick(counter)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        ignored = [s for s in (signal.SIGINT, signal.SIGTERM) if _is_ignored(s)]
        with super().capture_signals():
            for signum in ignored:
                signal.signal(signum, signal.SIG_IGN)
            yield


def _is_ignored(signum: int) -> bool:
    """Whether ``signum`` is ignored now (in the main thread, where that can be asked)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    return signal.getsignal(signum) is signal.SIG_IGN


class EmulatorServer:
    """The emulator served by uvicorn on ``host`` in a daemon thread.

    ``port=0`` picks a free port; ``endpoint`` tells which. Use as a context manager, or call
    ``start()`` and ``stop()``. ``store`` holds every job and task and the counters.

    ``runner`` runs the tasks (``runner.RealRunner``: processes; ``simulate.SimulatedRunner``:
    what-if exit codes) on a pool of ``slots`` task slots (default: one per CPU); without
    one, tasks are stored and stay active, never run. ``engine`` is the scheduler.

    ``storage`` is the local pool's auto-storage account, for the task runner
    (``storage_account.local_pool_storage``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account: str = DEV_ACCOUNT,
        key: str = DEV_KEY,
        accounts: Mapping[str, str] | None = None,
        faults: FaultConfig | None = None,
        store: EmulatorStore | None = None,
        check_auth: bool = True,
        log_level: str = "warning",
        runner: Runner | None = None,
        slots: int | None = None,
        max_connections: int = MAX_CONNECTIONS,
        storage: StorageAccount | None = None,
    ) -> None:
        self.host = host
        self.account = account
        self.key = key
        all_accounts = {account: key, **(accounts or {})}
        store = store if store is not None else EmulatorStore()
        self.engine = Engine(store, runner, slots=slots or os.cpu_count() or 1)
        self.app, self.settings, self.store = create_app(
            store, accounts=all_accounts, faults=faults, check_auth=check_auth
        )
        self.storage = storage
        if storage is not None and getattr(runner, "storage", storage) is None:
            runner.storage = storage  # type: ignore[union-attr]
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
        # when the socket says it is TCP; without it every response waits ~40 ms on
        # delayed ACKs.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            # Listen at once: the endpoint is printed (and handed to clients) before the
            # server's loop starts; connections made meanwhile wait in the backlog instead of
            # being refused.
            self._sock.listen(2048)
        except BaseException:
            self._sock.close()  # a port in use or out of range: the socket is not leaked
            raise
        self.port: int = self._sock.getsockname()[1]
        self._config = uvicorn.Config(
            self.app,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            http=OneSendH11Protocol,
            loop="asyncio",
            timeout_keep_alive=30,
            backlog=2048,
            # More connections at once than this are answered 503 (slow clients cannot
            # exhaust the server).
            limit_concurrency=max_connections,
        )
        self._server = _Server(self._config, self.engine)
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def faults(self) -> FaultConfig:
        return self.settings.faults

    def set_faults(self, faults: FaultConfig) -> None:
        """Change what is injected from the next request on."""
        self.settings.faults = faults

    def start(self) -> EmulatorServer:
        _install_drop_filter()
        self.engine.start()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"dagbatch-emulator-{self.port}",
        )
        self._thread.start()
        for _ in range(1000):
            if self._server.started or not self._thread.is_alive():
                break
            self._thread.join(0.01)
        if not self._server.started:
            raise RuntimeError("the emulator did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._sock.close()
        self.engine.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(server: EmulatorServer) -> None:
    """Serve in the foreground until interrupted (Ctrl-C) or terminated (SIGTERM, `kill`);
    either way the running tasks are killed and the engine stopped before the process ends.

    The server stops on SIGTERM as on Ctrl-C, then raises the signal again once it is done;
    with Python's default handler that would end the process on the spot, before the engine
    stops (``sigterm_as_exit``).

    The process is the emulator's own, so it tunes the garbage collector for it: a full
    collection walks every task of every job (the store's columns are lists as long as the
    jobs), and with the default thresholds one ran every few hundred requests, about a seventh
    of the CPU of adding task collections to a 200,000-task store. Full collections run ten
    times less often here; the young generations are collected as usual.
    """
    _install_drop_filter()
    gc.freeze()  # what the start-up made lives as long as the process: never walked again
    with sigterm_as_exit():
        server.engine.start()
        try:
            with gc_fewer_full():
                server._server.run(sockets=[server._sock])
        finally:
            gc.unfreeze()
            server._sock.close()
            server.engine.stop()
    crashed = server.engine.crashed
    if crashed is not None:
        # The thread's traceback is on stderr already (threading.excepthook).
        raise EmulatorError(
            "the emulator's scheduler stopped on an unexpected error, so the emulator stopped "
            f"(no task it holds could start or end any more): {type(crashed).__name__}: "
            f"{crashed}"
        ) from crashed


__all__ = [
    "DEV_ACCOUNT",
    "DEV_KEY",
    "EmulatorServer",
    "EmulatorSettings",
    "serve_forever",
    "sigterm_as_exit",
]
