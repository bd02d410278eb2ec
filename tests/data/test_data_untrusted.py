"""Untrusted dataset files: pickles that would run code, and S3 keys that would escape the cache.

Against moto's S3 server on 127.0.0.1 with real s3fs, like test_data_s3.py.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from ncsweep.data import create_dataset
from ncsweep.data._safe_pickle import UnsafePickleError, load_plain_pickle
from ncsweep.data.remote import UnsafeKeyError, materialize


class _Shell:
    """Unpickling this runs ``command`` through ``os.system`` (what an attacker uploads)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (eval, (self.code,))


def _payloads(marker):
    """Pickles that create ``marker`` when loaded with ``pickle.load``."""
    touch = f"touch {marker}"
    return {
        "os.system at the top": _Shell(touch),
        "os.system inside the batch dict": {"data": _Shell(touch), "labels": [0]},
        "builtins.eval in the labels": {
            "data": np.zeros((1, 3072), np.uint8),
            "labels": [_Eval(f"open({str(marker)!r}, 'w')")],
        },
    }


@pytest.mark.parametrize(
    "payload",
    ["os.system at the top", "os.system inside the batch dict", "builtins.eval in the labels"],
)
def test_malicious_pickle_in_the_s3_bucket_runs_nothing_and_names_the_file(
    payload, s3_server, cifar10_root, tmp_path
):
    import s3fs

    marker = tmp_path / "pwned"
    batch = cifar10_root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps(_payloads(marker)[payload]))
    # the payload is live: a plain pickle.load of the same bytes creates the marker
    pickle.loads(pickle.dumps(_payloads(tmp_path / "control")[payload]))
    assert (tmp_path / "control").exists()

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("datasets")
    fs.put(
        str(cifar10_root / "cifar-10-batches-py"), "datasets/t/cifar-10-batches-py", recursive=True
    )
    with pytest.raises(UnsafePickleError) as err:
        create_dataset("cifar10", root="s3://datasets/t", cache_dir=str(tmp_path / "cache"))
    assert not marker.exists()
    message = str(err.value)
    assert "cifar-10-batches-py/data_batch_3" in message and "refusing to load" in message
    assert ("posix.system" in message) or ("builtins.eval" in message)


def test_object_dtype_array_is_refused(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({"data": np.array([1, "x"], dtype=object)}))
    with pytest.raises(UnsafePickleError, match=f"{path}.*dtype object"):
        load_plain_pickle(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_batches_load_identically_at_every_protocol(protocol, tmp_path):
    entry = {
        "batch_label": "training batch 1 of 5",
        "data": np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072),
        "labels": [3, 7],
        "filenames": [b"a.png", "b.png"],
        "fine": np.array([1, 2], dtype=np.int64),
        "mean": np.float32(0.5).item(),
    }
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(entry, protocol=protocol))
    loaded = load_plain_pickle(path)
    assert loaded.keys() == entry.keys()
    assert np.array_equal(loaded["data"], entry["data"]) and loaded["data"].dtype == np.uint8
    assert (
        np.array_equal(loaded["fine"], entry["fine"]) and loaded["filenames"] == entry["filenames"]
    )


def test_truncated_or_non_pickle_file_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(b"\x00\x01 not a pickle")
    with pytest.raises(ValueError, match="test_batch"):
        load_plain_pickle(path)


@pytest.mark.parametrize(
    "key",
    [
        "t/cifar-10-batches-py/../../../../escaped",
        "t/cifar-10-batches-py//etc/escaped",
        "t/cifar-10-batches-py/./escaped",
    ],
)
def test_s3_key_escaping_the_cache_is_refused_and_nothing_is_written(
    key, s3_server, cifar10_root, tmp_path
):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("datasets")
    fs.put(
        str(cifar10_root / "cifar-10-batches-py"), "datasets/t/cifar-10-batches-py", recursive=True
    )
    fs.pipe(f"datasets/{key}", b"attacker bytes")
    assert f"datasets/{key}" in fs.find("datasets/t/cifar-10-batches-py")
    # deep enough that the '..' key would still land inside tmp_path / "work"
    cache = tmp_path / "work" / "a" / "b" / "cache"
    with pytest.raises(UnsafeKeyError, match="refusing to mirror s3://datasets/t/cifar-10"):
        materialize("s3://datasets/t", ["cifar-10-batches-py"], cache_dir=cache)
    assert [p for p in (tmp_path / "work").rglob("*") if p.is_file()] == []


def test_dataset_uri_with_dot_dot_is_refused(s3_server, tmp_path):
    with pytest.raises(UnsafeKeyError, match=r"s3://datasets/\.\./\.\./x"):
        materialize("s3://datasets/../../x", ["cifar-10-batches-py"], cache_dir=tmp_path / "c")
    assert list(tmp_path.rglob("*")) == []
