"""s3:// roots against moto's S3 server on 127.0.0.1 (real s3fs, no mocked client)."""

import os

import pytest
import torch

from ncsweep.data import DatasetNotFoundError, create_dataset
from ncsweep.data.remote import materialize


@pytest.fixture
def bucket_with_cifar(s3_server, cifar10_root):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("datasets")
    fs.put(
        str(cifar10_root / "cifar-10-batches-py"),
        "datasets/team/cifar-10-batches-py",
        recursive=True,
    )
    return fs


def _age_files(root) -> None:
    """Stamp every cached file with mtime 0, so any rewrite shows as a newer mtime."""
    for p in root.rglob("*"):
        os.utime(p, ns=(0, 0))


def _rewritten(root) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file() and p.stat().st_mtime_ns != 0}


def test_s3_cifar_loads_identically_to_the_local_copy(bucket_with_cifar, cifar10_root, tmp_path):
    cache = tmp_path / "cache"
    remote = create_dataset(
        "cifar10", root="s3://datasets/team", cache_dir=str(cache), augment=False
    )
    local = create_dataset("cifar10", root=str(cifar10_root), augment=False)
    assert (remote.train.data == local.train.data).all() and (
        remote.val.data == local.val.data
    ).all()
    assert torch.equal(remote.train.targets, local.train.targets)
    assert remote.class_counts == local.class_counts
    assert torch.equal(remote.train[7][0], local.train[7][0])
    assert (cache / "datasets" / "team" / "cifar-10-batches-py" / "data_batch_1").is_file()


def test_second_materialize_downloads_only_changed_files(bucket_with_cifar, tmp_path):
    local = tmp_path / "cache" / "datasets" / "team"
    materialize("s3://datasets/team", ["cifar-10-batches-py"], cache_dir=tmp_path / "cache")
    _age_files(local)
    materialize("s3://datasets/team", ["cifar-10-batches-py"], cache_dir=tmp_path / "cache")
    assert _rewritten(local) == set()
    (local / "cifar-10-batches-py" / "test_batch").write_bytes(b"truncated")
    _age_files(local)
    (local / "cifar-10-batches-py" / "data_batch_2").unlink()
    materialize("s3://datasets/team", ["cifar-10-batches-py"], cache_dir=tmp_path / "cache")
    assert _rewritten(local) == {"test_batch", "data_batch_2"}
    assert (
        bucket_with_cifar.size("datasets/team/cifar-10-batches-py/test_batch")
        == (local / "cifar-10-batches-py" / "test_batch").stat().st_size
    )


def test_missing_prefix_names_the_uri_and_no_secret(bucket_with_cifar, tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        create_dataset("cifar100", root="s3://datasets/team", cache_dir=str(tmp_path))
    msg = str(err.value)
    assert "s3://datasets/team/cifar-100-python" in msg
    assert "testing-secret-value" not in msg


def test_missing_bucket_is_a_dataset_not_found_error(s3_server, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="s3://no-such-bucket/x"):
        create_dataset("cifar10", root="s3://no-such-bucket/x", cache_dir=str(tmp_path))


def test_s3_root_for_a_dataset_without_files_is_rejected():
    with pytest.raises(ValueError, match="digits"):
        create_dataset("digits", root="s3://bucket/prefix")
