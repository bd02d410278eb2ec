"""Fixtures of the evaluation tests: an S3 client on the test server, an isolated cache."""

from __future__ import annotations

import pytest


@pytest.fixture
def s3fs_client(s3_server):
    import s3fs

    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """``~/.cache/ncsweep`` of this test only (s3:// roots are copied there)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"
