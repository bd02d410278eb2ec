"""The training process keeps freed multi-MB blocks (glibc), unless the environment chose."""

from __future__ import annotations

import platform
import sys

import pytest

from ncsweep.train._malloc import retain_freed_memory

glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not glibc, reason="glibc's mallopt")
def test_thresholds_are_set_unless_the_environment_set_them(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert retain_freed_memory() == {"MALLOC_MMAP_THRESHOLD_": True, "MALLOC_TRIM_THRESHOLD_": True}
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert retain_freed_memory() == {
        "MALLOC_MMAP_THRESHOLD_": True,
        "MALLOC_TRIM_THRESHOLD_": False,
    }
