"""Where a lease file lives: one object read with its version, created if absent, replaced
only if its version is unchanged (compare-and-swap).

``version`` is opaque: the ETag on S3, a digest of the content elsewhere (every lease
record holds a token and a counter, so two writes never have the same content).

- :class:`LocalStore` (a local or NFS path): create by ``os.link`` of a complete temp file
  (fails if the name exists, atomic on NFS too, and never shows a half-written file);
  replace by ``os.rename`` of a temp file under an ``flock`` on ``<file>.lock`` after
  checking the version, so a write that stalled before the check cannot land over a newer
  lease.
- :class:`S3Store`: ``PutObject`` with ``If-None-Match: *`` (create) and ``If-Match:
  <etag>`` (replace); the store evaluates them when the write lands, so a late write after
  a takeover fails. :func:`lease_store` probes once whether the endpoint honours them.
- :class:`ConfirmStore` (any other fsspec store, or an S3 endpoint that ignores
  conditions): the fallback. Write, wait ``settle_s``, read back, and hold only if the
  write is still there. Not a lock: two writers slower than ``settle_s`` can both win, and
  a late write can land over a newer one. The lease says so when it falls back.

An S3 lease call is tried once, with short timeouts (:data:`S3_OPTIONS`): the lease's
heartbeat retries a failed renewal itself, every tenth of a heartbeat, and counts a renewal
from when its write started. With s3fs's and botocore's own retries (each with backoff; 60 s
timeouts) one call to a port that dropped every connection made 30 connections over 25 s,
and in an outage such a call was still retrying after it had ended: the lease was given up
while that call was about to land.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Protocol

import fsspec
from fsspec.asyn import sync

__all__ = [
    "S3_OPTIONS",
    "ConfirmStore",
    "LeaseStore",
    "LocalStore",
    "S3Store",
    "lease_filesystem",
    "lease_store",
]

#: s3fs options of the lease's own S3 client (module docstring): one try per call (with
#: ``S3FileSystem.retries = 1``, a class attribute s3fs does not take as an option).
S3_OPTIONS = {
    "skip_instance_cache": True,
    "config_kwargs": {
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "connect_timeout": 5,
        "read_timeout": 10,
    },
}


class LeaseStore(Protocol):
    """One lease file (module docstring). ``conditional``: writes are compare-and-swap."""

    conditional: bool
    where: str

    def read(self) -> tuple[bytes, str] | None:
        """The content and its version; None when there is no file."""
        ...

    def create(self, data: bytes) -> str | None:
        """Write ``data`` if there is no file: its version, or None (there is one)."""
        ...

    def replace(self, data: bytes, version: str) -> str | None:
        """Write ``data`` if the file is still at ``version``: the new version, or None."""
        ...

    def remove(self, version: str) -> None:
        """Remove the file if it is still at ``version``."""
        ...


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStore:
    """A lease file on a local or NFS path (module docstring)."""

    conditional = True

    def __init__(self, path: str):
        self.path = self.where = path
        self._lock_path = f"{path}.lock"

    def read(self) -> tuple[bytes, str] | None:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        return data, _digest(data)

    def _temp(self, data: bytes) -> str:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        temp = f"{self.path}.{uuid.uuid4().hex}.tmp"
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def create(self, data: bytes) -> str | None:
        temp = self._temp(data)
        try:
            os.link(temp, self.path)
        except FileExistsError:
            return None
        finally:
            os.unlink(temp)
        return _digest(data)

    def replace(self, data: bytes, version: str) -> str | None:
        temp = self._temp(data)
        try:
            with self._locked():
                current = self.read()
                if current is None or current[1] != version:
                    return None
                os.rename(temp, self.path)
                temp = ""
        finally:
            if temp:
                os.unlink(temp)
        return _digest(data)

    def remove(self, version: str) -> None:
        with self._locked():
            current = self.read()
            if current is not None and current[1] == version:
                os.unlink(self.path)


def _code(err: BaseException) -> str:
    """The S3 error code behind an s3fs/botocore error ('' if none)."""
    for candidate in (err, err.__cause__, err.__context__):
        response = getattr(candidate, "response", None)
        if response:
            return str(response.get("Error", {}).get("Code", ""))
    return ""


# 412: the condition failed; 409: a concurrent conditional write won; 404: If-Match on a
# removed object.
_LOST_RACE = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"}


class S3Store:
    """A lease object on S3 written with conditional ``PutObject`` (module docstring)."""

    conditional = True

    def __init__(self, fs, path: str):
        self.fs, self.where = fs, f"s3://{path}"
        self.bucket, self.key, _ = fs.split_path(path)

    def _call(self, method: str, **kwargs):
        return sync(self.fs.loop, self.fs._call_s3, method, Bucket=self.bucket, **kwargs)

    def read(self) -> tuple[bytes, str] | None:
        async def get() -> tuple[bytes, str] | None:
            try:
                out = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key)
            except FileNotFoundError:
                return None
            body = await out["Body"].read()
            return body, out["ETag"]

        return sync(self.fs.loop, get)

    def _put(self, key: str, data: bytes, **condition) -> str | None:
        try:
            out = self._call("put_object", Key=key, Body=data, **condition)
        except (FileExistsError, FileNotFoundError):
            return None
        except OSError as err:
            if _code(err) in _LOST_RACE or "Precondition" in str(err):
                return None
            raise
        return out["ETag"]

    def create(self, data: bytes) -> str | None:
        return self._put(self.key, data, IfNoneMatch="*")

    def replace(self, data: bytes, version: str) -> str | None:
        return self._put(self.key, data, IfMatch=version)

    def remove(self, version: str) -> None:
        current = self.read()
        if current is not None and current[1] == version:
            self._call("delete_object", Key=self.key)

    def honours_conditions(self) -> bool:
        """Whether the endpoint refuses a second ``If-None-Match: *`` write of one key."""
        probe = f"{self.key}.probe-{uuid.uuid4().hex}"
        try:
            first = self._put(probe, b"1", IfNoneMatch="*")
            second = self._put(probe, b"2", IfNoneMatch="*")
        finally:
            with contextlib.suppress(Exception):
                self._call("delete_object", Key=probe)
        return first is not None and second is None


class ConfirmStore:
    """Write-then-confirm on any fsspec store (module docstring: the fallback)."""

    conditional = False

    def __init__(self, fs, path: str, settle_s: float):
        self.fs, self.path, self.settle_s = fs, path, settle_s
        self.where = fs.unstrip_protocol(path)

    def read(self) -> tuple[bytes, str] | None:
        self.fs.invalidate_cache()
        try:
            data = self.fs.cat_file(self.path)
        except FileNotFoundError:
            return None
        return data, _digest(data)

    def _write_confirmed(self, data: bytes) -> str | None:
        self.fs.makedirs(self.path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(self.path, data)
        time.sleep(self.settle_s)
        current = self.read()
        return current[1] if current is not None and current[0] == data else None

    def create(self, data: bytes) -> str | None:
        return None if self.read() is not None else self._write_confirmed(data)

    def replace(self, data: bytes, version: str) -> str | None:
        current = self.read()
        if current is None or current[1] != version:
            return None
        return self._write_confirmed(data)

    def remove(self, version: str) -> None:
        current = self.read()
        if current is not None and current[1] == version:
            self.fs.rm(self.path)


def lease_filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """``(filesystem, path)`` of a lease file's URL; ``s3://`` gets :data:`S3_OPTIONS`."""
    if not url.startswith("s3://"):
        return fsspec.core.url_to_fs(url)
    fs, path = fsspec.core.url_to_fs(url, **S3_OPTIONS)
    fs.retries = 1  # s3fs's own retry loop (its instance is this call's alone)
    return fs, path


def lease_store(url: str, settle_s: float = 1.0) -> LeaseStore:
    """The store of the lease file at ``url`` (module docstring), probed once on S3."""
    fs, path = lease_filesystem(url)
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if "file" in protocols or "local" in protocols:
        return LocalStore(path)
    if "s3" in protocols:
        store = S3Store(fs, path)
        if store.honours_conditions():
            return store
    return ConfirmStore(fs, path, settle_s)
