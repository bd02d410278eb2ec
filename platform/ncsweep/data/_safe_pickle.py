"""Read dataset pickles that may come from a shared bucket without running their code.

``pickle.load`` calls whatever callable a file names (``os.system``, ``subprocess.Popen``,
...), so anyone who can write to an ``s3://`` dataset root could run code on every worker.
:func:`load_plain_pickle` builds only what a torchvision CIFAR batch holds: dicts, lists,
str/bytes, ints/floats, and numpy arrays of plain numeric dtypes. Every global a file names
is checked against :data:`ALLOWED_GLOBALS`; anything else raises
:class:`UnsafePickleError` naming the file and the global, before it is called.

The allowed globals are exactly those numpy array pickles need (measured with
``pickletools`` on numpy 1.x and 2.x files, protocols 2 to 5): ``numpy.ndarray``,
``numpy.dtype``, ``_reconstruct`` (protocols ≤ 4; under ``numpy.core`` in files written by
numpy 1.x such as the official CIFAR batches, ``numpy._core`` by numpy 2), ``_frombuffer``
(protocol 5), and ``_codecs.encode`` for bytes under protocol 2. ``numpy.dtype`` only
builds boolean, integer, unsigned or float dtypes: an object dtype would let an array
carry arbitrary objects, and ``_codecs.encode`` only the latin-1 codec.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ALLOWED_GLOBALS", "UnsafePickleError", "load_plain_pickle"]


class UnsafePickleError(ValueError):
    """A dataset pickle names a callable outside the plain types a dataset file holds."""


_PLAIN_DTYPE_KINDS = "biuf"


def _plain_dtype(spec: Any, *args: Any) -> np.dtype[np.generic]:
    dtype: np.dtype[np.generic] = np.dtype(spec, *args)
    if dtype.kind not in _PLAIN_DTYPE_KINDS or dtype.fields is not None:
        raise UnsafePickleError(f"array dtype {dtype!s} is not a plain numeric dtype")
    return dtype


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"bytes encoded with {encoding!r}, expected latin-1")
    return text.encode("latin-1")


def _numpy_core(module: str, name: str) -> Any:
    """``numpy._core.<module>.<name>`` (numpy 2), or ``numpy.core`` on numpy 1.x."""
    import importlib

    try:
        return getattr(importlib.import_module(f"numpy._core.{module}"), name)
    except ImportError:
        return getattr(importlib.import_module(f"numpy.core.{module}"), name)


def _reconstruct() -> Any:
    return _numpy_core("multiarray", "_reconstruct")


def _frombuffer() -> Any:
    return _numpy_core("numeric", "_frombuffer")


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: _plain_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): lambda: _latin1_encode,
}
"""(module, name) a pickle may name -> a factory of what it resolves to."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        factory = ALLOWED_GLOBALS.get((module, name))
        if factory is None:
            raise UnsafePickleError(f"it names {module}.{name}")
        return factory()


def load_plain_pickle(path: str | Path, *, encoding: str = "latin1") -> Any:
    """Unpickle ``path`` allowing only plain containers, scalars and numeric numpy arrays.

    Args:
        path: the file (e.g. a CIFAR ``data_batch_1``).
        encoding: how Python-2 ``str`` objects are decoded (latin1 for the CIFAR files).

    Raises:
        UnsafePickleError: the file names a global outside :data:`ALLOWED_GLOBALS`, or
            asks for an object dtype; the message names the file and refuses to load it.
        ValueError: the file is not a readable pickle; the message names the file.
    """
    try:
        with open(path, "rb") as fh:
            return _PlainUnpickler(fh, encoding=encoding).load()
    except UnsafePickleError as err:
        raise UnsafePickleError(
            f"refusing to load {path}: {err}; a dataset pickle may hold only dicts, lists, "
            "strings, numbers and numeric numpy arrays (replace the file with a clean copy)"
        ) from None
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as err:
        raise ValueError(
            f"cannot read {path} as a dataset pickle ({type(err).__name__}: {err})"
        ) from None
