"""Fixtures for the data tests: an S3 API server on 127.0.0.1 and tiny on-disk datasets."""

from __future__ import annotations

import pickle
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server(monkeypatch):
    """moto's S3 server on 127.0.0.1 at a free port; yields its endpoint URL.

    Sets AWS_ENDPOINT_URL, dummy keys, AWS_DEFAULT_REGION=us-east-1 and
    AWS_EC2_METADATA_DISABLED=true for the test, so any S3 client in the process (s3fs,
    boto3, Ray storage, MLflow artifacts) talks to it; stops the server afterwards.
    """
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its buckets in process-global state: start every test from an empty store.
    _reset_moto(endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    try:
        yield endpoint
    finally:
        _reset_moto(endpoint)
        server.stop()


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def write_fake_cifar(root: Path, name: str, train_per_class: int = 4, test_per_class: int = 2) -> Path:
    """Write a tiny CIFAR in torchvision's pickle layout under root; returns root.

    cifar10: 5 train batches (train_per_class images of each class spread over them) and
    test_batch; cifar100: train and test with fine/coarse labels. Pixels are seeded noise.
    """
    rng = np.random.default_rng(0 if name == "cifar10" else 1)
    k = 10 if name == "cifar10" else 100

    def batch(labels: list[int]) -> dict:
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        entry = {"batch_label": "fake", "data": data, "filenames": [f"{i}.png" for i in range(len(labels))]}
        if name == "cifar10":
            entry["labels"] = labels
        else:
            entry["fine_labels"] = labels
            entry["coarse_labels"] = [c // 5 for c in labels]
        return entry

    train = [c for _ in range(train_per_class) for c in range(k)]
    test = [c for _ in range(test_per_class) for c in range(k)]
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        files = {f"data_batch_{i + 1}": batch(train[i::5]) for i in range(5)}
        files["test_batch"] = batch(test)
        files["batches.meta"] = {"label_names": [f"class{c}" for c in range(k)]}
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        files = {"train": batch(train), "test": batch(test)}
        files["meta"] = {"fine_label_names": [f"class{c}" for c in range(k)]}
    for fname, entry in files.items():
        with open(folder / fname, "wb") as fh:
            pickle.dump(entry, fh)
    return root


@pytest.fixture
def fake_cifar_writer():
    """``write_fake_cifar(root, name, train_per_class=4, test_per_class=2) -> root``."""
    return write_fake_cifar


@pytest.fixture
def cifar10_root(tmp_path) -> Path:
    return write_fake_cifar(tmp_path / "cifar", "cifar10")


@pytest.fixture
def cifar100_root(tmp_path) -> Path:
    return write_fake_cifar(tmp_path / "cifar", "cifar100", train_per_class=2, test_per_class=1)


@pytest.fixture
def imagenet_root(tmp_path) -> Path:
    """A tiny ImageFolder: 4 classes (n000…n003), 3 train and 2 val 12×10 JPEGs each."""
    root = tmp_path / "imagenet"
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        for c in range(4):
            folder = root / split / f"n{c:03d}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"img{i}.JPEG")
    return root
