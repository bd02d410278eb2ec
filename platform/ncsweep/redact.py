"""Remove credentials from URIs, endpoints and free text before anything prints or stores them.

A tracking URI (``http://user:password@mlflow:5000``), a database DSN
(``postgresql://user:pw@db/mlflow``), an endpoint or a pre-signed URL
(``…?X-Amz-Signature=…``) can carry a secret. Everything ncsweep prints, logs, tags, stores in
the sweep state or exports goes through :func:`redact_text` or :func:`redact`:

- the userinfo of every ``scheme://user:secret@host`` becomes ``***``:
  ``http://***@mlflow:5000``;
- the value of every query parameter whose name looks secret (``password``, ``token``,
  ``secret``, ``signature``, ``credential``, ``auth``, ``api_key``, ``sig``, ``key`` …)
  becomes ``***``; other parameters are kept;
- in a mapping, the value under a key that names a secret (``aws_secret_access_key``,
  ``token`` …) becomes ``***``.

Redaction is one-way: a URI that still has to be used (handed to MLflow, Ray workers) is
passed around unredacted in memory and redacted only where it leaves the process as text.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "is_redacted", "redact", "redact_text", "redact_uri"]

MASK = "***"

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
# query parameter names: broad, a URL's query rarely holds anything a person needs to see
_SECRET_PARAM = re.compile(
    r"(?i)(pass|pwd|secret|token|signature|credential|auth|api[-_]?key|access[-_]?key"
    r"|private|session|^sig$|^key$)"
)
# mapping keys (spec params, tags): narrower, so ordinary settings keep their values
_SECRET_KEY = re.compile(
    r"(?i)(secret|token|password|passwd|pwd|credential|access[-_]?key|api[-_]?key|signature)"
)


def _is_secret_name(name: str) -> bool:
    return bool(_SECRET_PARAM.search(name))


def _redact_query(query: str) -> str:
    parts = []
    for field in query.split("&"):
        name, eq, _ = field.partition("=")
        parts.append(f"{name}={MASK}" if eq and _is_secret_name(name) else field)
    return "&".join(parts)


def redact_uri(uri: str) -> str:
    """``uri`` without its userinfo and secret query values.

    >>> redact_uri("http://alice:s3cret@mlflow:5000/x?token=abc&page=2")
    'http://***@mlflow:5000/x?token=***&page=2'
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    # the authority ends at the first '/', '?' or '#'; its last '@' ends the userinfo
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1:
            end = min(end, at)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = f"{MASK}@{authority.rsplit('@', 1)[1]}"
    path, qmark, query = tail.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        tail = f"{path}?{_redact_query(query)}{hash_}{fragment}"
    return f"{scheme}://{authority}{tail}"


def redact_text(text: str) -> str:
    """Every URI inside ``text`` redacted with :func:`redact_uri`; the rest unchanged."""
    return _URI.sub(lambda m: redact_uri(m.group(0)), text)


def redact(value: object, key: str = "") -> object:
    """``value`` with credentials removed, recursively through dicts, lists and tuples.

    A string goes through :func:`redact_text`; any value under a ``key`` that names a
    secret becomes ``***``.
    """
    if key and _SECRET_KEY.search(key):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def is_redacted(uri: str) -> bool:
    """True if :func:`redact_uri` removed something from ``uri`` (it cannot be used as is)."""
    return redact_uri(uri) != uri
