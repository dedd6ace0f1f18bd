"""Every command-line test runs in an empty working directory of its own: a command's
defaults (``compile``'s ``--out plan``, ``run``'s ``.dagbatch``) then never read what the
checkout holds (a ``plan/`` with a journal, left by following the README) nor write into it.
A test that needs another directory changes to it itself."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_working_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
