"""Fixtures the lease tests share (``test_lease.py``, ``test_lease_fencing.py``)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request, tmp_path):
    """A sweep storage root, once on a local path and once on the session's S3 server."""
    if request.param == "local":
        return str(tmp_path / "ray")
    import s3fs

    endpoint = request.getfixturevalue("s3_server")
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir("leases")
    return "s3://leases/ray"
