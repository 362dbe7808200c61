"""The command line's process settings (:mod:`taxovit.cli._process`): numpy's huge pages off
and glibc's freed memory kept for reuse, unless the user chose otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from taxovit.cli import _process


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


@pytest.fixture
def libc(monkeypatch) -> FakeLibc:
    import ctypes

    fake = FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(sys, "platform", "linux")
    for key in _process._MALLOC_ENV:
        monkeypatch.delenv(key, raising=False)
    return fake


def test_glibc_keeps_freed_memory(libc, monkeypatch) -> None:
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    _process.tune_process()
    assert libc.calls == [(-3, 32 << 20), (-1, 1 << 30), (-2, 256 << 20)]
    import os

    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"


@pytest.mark.parametrize("key", ["MALLOC_TOP_PAD_", "GLIBC_TUNABLES"])
def test_a_users_malloc_settings_win(libc, monkeypatch, key) -> None:
    monkeypatch.setenv(key, "1")
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    _process.tune_process()
    import os

    assert libc.calls == [] and os.environ["NUMPY_MADVISE_HUGEPAGE"] == "1"


def test_not_glibc_is_left_alone(monkeypatch) -> None:
    import ctypes

    def missing(name):
        raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", missing)
    monkeypatch.setattr(sys, "platform", "linux")
    for key in _process._MALLOC_ENV:
        monkeypatch.delenv(key, raising=False)
    _process.tune_process()  # no error


def test_the_command_sets_them_before_numpy() -> None:
    """numpy reads NUMPY_MADVISE_HUGEPAGE once, at import: the command's numpy has them off."""
    code = (
        "import os; os.environ.pop('NUMPY_MADVISE_HUGEPAGE', None); import taxovit.cli, numpy; "
        "from numpy._core import multiarray as m; print(m._set_madvise_hugepage(True))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
