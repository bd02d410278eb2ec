"""``s3://bucket/prefix`` dataset roots: copied once into a local cache, then read locally.

Only the paths a dataset declares (``register_dataset(remote_paths=...)``) are copied, and a
file is downloaded only when it is missing from the cache or has a different size, so the
second run (and every other worker on the node) starts at local speed. Files land under a
temporary name and are renamed into place, so concurrent workers never read half a file.

The endpoint and credentials come from the usual AWS environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, profiles, ...), read by botocore through s3fs. Nothing here prints or
logs a credential: messages name the URI, the cache directory and the endpoint only.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ncsweep.data.bundle import DatasetNotFoundError
from ncsweep.redact import redact_text

if TYPE_CHECKING:
    # fsspec ships no annotations (pyproject's ignore_missing_imports): the name documents
    # what is returned, mypy sees it as Any
    from fsspec import AbstractFileSystem

__all__ = ["UnsafeKeyError", "default_cache_dir", "filesystem", "is_remote", "materialize"]

log = logging.getLogger(__name__)

_SCHEME = "s3://"


def is_remote(root: str) -> bool:
    """True for ``s3://`` URIs."""
    return str(root).startswith(_SCHEME)


def default_cache_dir() -> Path:
    """``~/.cache/ncsweep/datasets``."""
    return Path.home() / ".cache" / "ncsweep" / "datasets"


class UnsafeKeyError(ValueError):
    """An S3 key or URI that would map to a path outside the cache directory."""


def _cache_parts(key: str, uri: str) -> list[str]:
    """The path components of an S3 ``key`` below the cache root, or :class:`UnsafeKeyError`.

    S3 keys are opaque strings: ``a/../../x``, ``a//x`` and ``/x`` are all legal keys, and
    joined onto the cache they would climb out of it or alias another file. Only keys whose
    ``/``-separated components are all non-empty and neither ``.`` nor ``..`` are mirrored.
    """
    parts = key.split("/")
    bad = [p for p in parts if p in ("", ".", "..")]
    if bad or "\\" in key:
        raise UnsafeKeyError(
            f"refusing to mirror {uri}: the key {key!r} has an empty, '.' or '..' path "
            "component (or a backslash), so it would land outside or elsewhere in the cache "
            f"directory; rename it in the bucket (allowed: plain names separated by single '/')"
        )
    return parts


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _shown_endpoint() -> str:
    endpoint = _endpoint()
    return redact_text(endpoint) if endpoint else "the default AWS endpoint"


def _filesystem() -> AbstractFileSystem:
    import s3fs

    endpoint = _endpoint()
    client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
    # A fresh instance: s3fs caches filesystems by arguments, not by the environment, and a
    # cached one would keep a previous endpoint.
    return s3fs.S3FileSystem(client_kwargs=client_kwargs, skip_instance_cache=True)


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """``(fsspec filesystem, path)`` for a local path, ``file://`` or ``s3://`` URL.

    ``s3://`` gets the endpoint of the environment (as :func:`materialize` does); anything
    else is resolved by fsspec. Nothing is cached on disk: reads go through the filesystem's
    in-memory buffers.
    """
    import fsspec

    if is_remote(url):
        return _filesystem(), str(url)[len(_SCHEME) :].rstrip("/")
    fs, path = fsspec.core.url_to_fs(str(Path(url).expanduser()) if "://" not in url else url)
    return fs, path.rstrip("/")


def _unreadable(uri: str, err: Exception) -> DatasetNotFoundError:
    where = _shown_endpoint()
    return DatasetNotFoundError(
        f"cannot read {uri} ({type(err).__name__}: {err}) at {where}; check that the bucket "
        "exists and that AWS_ENDPOINT_URL and the AWS credentials in the environment allow "
        "reading it, or pass a local directory as data.root"
    )


def materialize(
    uri: str, paths: Sequence[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> str:
    """Mirror ``uri/<path>`` for each of ``paths`` into the cache; return the local root.

    Args:
        uri: ``s3://bucket/prefix``.
        paths: files or directories below the prefix, all required.
        cache_dir: cache base; the copy lands in ``<cache_dir>/<bucket>/<prefix>``
            (default base ``~/.cache/ncsweep/datasets``).

    Raises:
        DatasetNotFoundError: a path holds no files, or the bucket cannot be read.
        UnsafeKeyError: the URI or a listed key has an empty, ``.`` or ``..`` component
            (it would be written outside the cache); nothing is downloaded then.
    """
    key = uri[len(_SCHEME) :].strip("/")
    if not is_remote(uri) or not key:
        raise ValueError(f"expected s3://bucket[/prefix], got {uri!r}")
    local_root = (
        Path(cache_dir or default_cache_dir()).expanduser().joinpath(*_cache_parts(key, uri))
    )
    fs = _filesystem()
    todo: list[tuple[str, Path]] = []
    for rel in paths:
        _cache_parts(rel.strip("/"), f"{uri.rstrip('/')}/{rel}")
        remote = f"{key}/{rel.strip('/')}"
        try:
            listing = fs.find(remote, detail=True)
        except FileNotFoundError:
            listing = {}
        except Exception as err:  # botocore/aiohttp errors have no common base worth naming
            raise _unreadable(f"{uri.rstrip('/')}/{rel}", err) from None
        files = {
            path: info
            for path, info in listing.items()
            if info.get("type") != "directory" and not path.endswith("/")
        }
        if not files:
            raise DatasetNotFoundError(
                f"no files under {uri.rstrip('/')}/{rel} (endpoint: {_shown_endpoint()}); "
                f"upload the dataset there in torchvision's layout or pass a local data.root"
            )
        for path, info in files.items():
            below = path[len(key) + 1 :] if path.startswith(f"{key}/") else path
            local = local_root.joinpath(*_cache_parts(below, f"s3://{path}"))
            if not (local.is_file() and local.stat().st_size == info.get("size")):
                todo.append((path, local))
    if todo:
        tag = uuid.uuid4().hex[:8]
        temps = []
        for _, local in todo:
            local.parent.mkdir(parents=True, exist_ok=True)
            temps.append(str(local.with_name(f".{local.name}.{tag}.part")))
        try:
            fs.get([remote for remote, _ in todo], temps)
        except Exception as err:
            for temp in temps:
                Path(temp).unlink(missing_ok=True)
            raise _unreadable(uri, err) from None
        for temp, (_, local) in zip(temps, todo, strict=True):
            os.replace(temp, local)
    log.info("dataset %s: %d file(s) fetched into %s", uri, len(todo), local_root)
    return str(local_root)
