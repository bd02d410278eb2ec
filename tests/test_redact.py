"""``ncsweep.redact``: credentials leave URIs, endpoints, free text and mappings."""

from __future__ import annotations

import pytest

from ncsweep.redact import is_redacted, redact, redact_text, redact_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://alice:pw@mlflow:5000", "http://***@mlflow:5000"),
        ("https://token@host/x?page=2", "https://***@host/x?page=2"),
        (
            "postgresql+psycopg2://u:p@db:5432/m?sslpassword=z",
            "postgresql+psycopg2://***@db:5432/m?sslpassword=***",
        ),
        ("s3://AKIA:secret@bucket/x", "s3://***@bucket/x"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=ab&x-id=Get",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&x-id=Get",
        ),
        (
            "http://h/x?api_key=1&token=2&sig=3#frag",
            "http://h/x?api_key=***&token=***&sig=***#frag",
        ),
        ("s3://bucket/path@v1/file", "s3://bucket/path@v1/file"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_uri(uri, expected):
    assert redact_uri(uri) == expected
    assert is_redacted(uri) == (uri != expected)


def test_redact_text_finds_every_uri_in_a_sentence():
    text = "MLflow http://a:b@h:1 run 3; storage s3://k:s@bkt/p, endpoint 'https://x/?token=t'"
    assert redact_text(text) == (
        "MLflow http://***@h:1 run 3; storage s3://***@bkt/p, endpoint 'https://x/?token=***'"
    )


def test_redact_mapping_masks_secret_keys_and_uris_but_keeps_settings():
    value = {
        "tracking_uri": "http://u:pw@h",
        "aws_secret_access_key": "abc",
        "loss.temperature": 0.1,
        "nested": [{"token": "t", "keep_checkpoints": 2}],
    }
    assert redact(value) == {
        "tracking_uri": "http://***@h",
        "aws_secret_access_key": "***",
        "loss.temperature": 0.1,
        "nested": [{"token": "***", "keep_checkpoints": 2}],
    }
