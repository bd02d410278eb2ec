"""What a sweep's (or study's) name, storage, tracking URI and warm-start source may be:
the one home of these checks, run before anything starts.

A name is an MLflow experiment name and one folder of the storage (``<storage>/<name>``,
``reports/<name>.html``), so it must be one safe path component: ``../escape`` would write
outside the storage and ``a/b`` into another sweep's prefix. URIs are checked by scheme
against what ncsweep runs on; a warm-start source must name a folder holding exported
configs, or be an earlier sweep's name.

Each ``check_*`` returns its value or raises ``ValueError`` saying what is allowed (pydantic
turns it into the setting's error); :func:`flag_error` words it for a command-line flag.
Importing this module imports neither torch, Ray nor MLflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from ..config import SpecError
from ..redact import redact_text

__all__ = [
    "NAME_FORM",
    "STORAGE_SCHEMES",
    "TRACKING_SCHEMES",
    "check_name",
    "check_storage",
    "check_tracking_uri",
    "check_warm_start",
    "flag_error",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_FORM = (
    "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..' "
    f"(regex ^{_NAME.pattern}$: one folder name and an MLflow experiment name)"
)

#: Tracking URI schemes ncsweep runs on (``postgresql+psycopg2`` counts as ``postgresql``);
#: a URI without a scheme is a local path (an MLflow file store).
TRACKING_SCHEMES = ("sqlite", "postgresql", "http", "https", "file", "memory")

#: Storage schemes besides a local path: what Ray's storage and ncsweep's journals and
#: leases (fsspec) both read.
STORAGE_SCHEMES = ("s3",)


def check_name(name: str) -> str:
    """``name`` if it is a valid sweep or study name (:data:`NAME_FORM`)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"{name!r} is not a valid name; allowed: {NAME_FORM}")
    return name


def _scheme(uri: str) -> str | None:
    """The URI's scheme without a driver suffix, or None for a plain path."""
    if "://" not in uri and not uri.startswith(("sqlite:", "file:", "memory:")):
        return None
    return urlsplit(uri).scheme.split("+", 1)[0].lower()


def _check_scheme(uri: str, schemes: Iterable[str], allowed: str) -> str:
    """``uri`` if it is a path or its scheme is one of ``schemes``; else a ValueError that
    lists what is ``allowed``."""
    scheme = _scheme(uri)
    if scheme is not None and scheme not in schemes:
        raise ValueError(
            f"{redact_text(uri)}: scheme {scheme!r} is not supported; allowed: {allowed}"
        )
    return uri


def check_tracking_uri(uri: str) -> str:
    """``uri`` if its scheme is one of :data:`TRACKING_SCHEMES` (or it is a path)."""
    return _check_scheme(
        uri,
        TRACKING_SCHEMES,
        f"{', '.join(s + '://' for s in TRACKING_SCHEMES)} (e.g. sqlite:///mlflow.db, "
        "http://host:5000, postgresql+psycopg2://user@host/db)",
    )


def check_storage(uri: str) -> str:
    """``uri`` if it is a local path or uses one of :data:`STORAGE_SCHEMES`."""
    return _check_scheme(
        uri,
        STORAGE_SCHEMES,
        "a local path (or a shared mount) or "
        f"{', '.join(s + '://bucket/prefix' for s in STORAGE_SCHEMES)}",
    )


def _looks_like_path(source: str) -> bool:
    return "/" in source or "\\" in source or source.startswith(("~", ".")) or Path(source).exists()


def check_warm_start(source: str) -> str:
    """``source`` if it is a folder holding ``*.yaml`` exported configs, or a valid sweep
    name (looked up in the tracking store when the plan is resolved)."""
    if not _looks_like_path(source):
        try:
            return check_name(source)
        except ValueError:
            raise ValueError(
                f"{source!r} is neither a folder nor a sweep name; give a folder of exported "
                f"configs (<family>.yaml, what ncsweep export writes) or a sweep's name "
                f"({NAME_FORM})"
            ) from None
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ValueError(
            f"{source}: no such folder ({folder.resolve()}); give a folder of exported configs "
            "(<family>.yaml, what ncsweep export writes) or an earlier sweep's name"
        )
    if not any(folder.glob("*.yaml")):
        raise ValueError(
            f"{source}: the folder holds no exported config (<family>.yaml, what ncsweep "
            f"export writes); looked in {folder.resolve()}"
        )
    return source


def flag_error(flag: str, err: ValueError) -> SpecError:
    """``err`` as the command line's mistake in ``flag`` (exit code 2)."""
    return SpecError(f"{flag}: {err}")
