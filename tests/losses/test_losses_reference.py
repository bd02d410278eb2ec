"""Each loss equals its per-sample reference (reference_losses.py) to 1e-10 in float64."""

from __future__ import annotations

import pytest
import reference_losses as ref
import torch
from reference_losses import call, make_inputs

from ncsweep.losses import create_loss

MEMORY = 10  # smaller than one batch (12 rows, 24 views): the memory keeps a tail

CASES = [
    ("ce", {}, lambda f, y, w, m: ref.ce(f, y, w)),
    ("ce", {"label_smoothing": 0.1}, lambda f, y, w, m: ref.ce(f, y, w, label_smoothing=0.1)),
    ("normface", {"temperature": 0.2}, lambda f, y, w, m: ref.normface(f, y, w, 0.2)),
    ("ntce", {"temperature": 0.2}, lambda f, y, w, m: ref.ntce(f, y, w, 0.2, m)),
    *[
        (
            "nonl",
            {"temperature": 0.2, "anchor": anchor, "align_weight": aw, "unif_weight": uw},
            lambda f, y, w, m, anchor=anchor, aw=aw, uw=uw: ref.nonl(
                f, y, w, 0.2, anchor, aw, uw, m
            ),
        )
        for anchor in ("prototype", "instance", "bidirectional")
        for aw, uw in ((1.0, 1.0), (0.5, 2.0))
    ],
    ("scl", {"temperature": 0.2}, lambda f, y, w, m: ref.scl(f, y, 0.2, memory=m)),
    (
        "scl",
        {"temperature": 0.2, "base_temperature": 0.07},
        lambda f, y, w, m: ref.scl(f, y, 0.2, base_temperature=0.07, memory=m),
    ),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw, _ in CASES]


@pytest.mark.parametrize(("b", "k"), [(12, 5), (4, 7)], ids=["K<B", "K>B"])
@pytest.mark.parametrize(("name", "options", "reference"), CASES, ids=IDS)
def test_loss_matches_per_sample_reference(name, options, reference, b, k):
    loss = create_loss(name, **options)
    features, labels, prototypes = make_inputs(loss, b=b, k=k, seed=3)
    expected = reference(features, labels, prototypes, None)
    assert float(call(loss, features, labels, prototypes)) == pytest.approx(
        expected, abs=1e-10, rel=1e-10
    )


MEMORY_CASES = [(n, kw, r) for n, kw, r in CASES if n in ("ntce", "nonl", "scl")]


@pytest.mark.parametrize(
    ("name", "options", "reference"),
    MEMORY_CASES,
    ids=[i for i, c in zip(IDS, CASES, strict=True) if c in MEMORY_CASES],
)
def test_loss_with_memory_matches_reference_with_memory_in_the_columns(name, options, reference):
    loss = create_loss(name, memory=MEMORY, **options)
    first, first_labels, _ = make_inputs(loss, seed=1)
    call(loss, first, first_labels, make_inputs(loss, seed=1)[2])
    rows = ref.unit(first).reshape(-1, first.shape[-1])
    row_labels = first_labels.repeat_interleave(loss.views)
    memory = (rows[-MEMORY:], row_labels[-MEMORY:])

    features, labels, prototypes = make_inputs(loss, seed=2)
    expected = reference(features, labels, prototypes, memory)
    assert float(call(loss, features, labels, prototypes)) == pytest.approx(
        expected, abs=1e-10, rel=1e-10
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ce", 5), ("normface", 5), ("ntce", 12 + MEMORY), ("scl", 24 + MEMORY - 1)],
)
def test_negative_set_size_counts_batch_and_memory_columns(name, expected):
    options = {} if name in ("ce", "normface") else {"memory": MEMORY}
    loss = create_loss(name, **options)
    for seed in (1, 2):
        call(loss, *make_inputs(loss, seed=seed))
    assert loss.negative_set_size == expected


@pytest.mark.parametrize(
    ("anchor", "expected"), [("prototype", 12), ("instance", 5), ("bidirectional", 17)]
)
def test_nonl_negative_set_size_per_anchor(anchor, expected):
    loss = create_loss("nonl", anchor=anchor)
    call(loss, *make_inputs(loss))
    assert loss.negative_set_size == expected


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_ce_with_bias_matches_reference(label_smoothing):
    loss = create_loss("ce", label_smoothing=label_smoothing)
    features, labels, prototypes = make_inputs(loss, seed=4)
    bias = torch.randn(prototypes.shape[0], dtype=torch.float64)
    expected = ref.ce(features, labels, prototypes, bias, label_smoothing)
    assert float(loss(features, labels, prototypes, bias)) == pytest.approx(
        expected, abs=1e-10, rel=1e-10
    )


def test_nonl_bidirectional_is_one_log_over_both_denominators_not_a_sum_of_logs():
    features, labels, prototypes = make_inputs(create_loss("nonl"), seed=5)

    def uniformity(anchor):  # align_weight 0: the log-normaliser term alone
        loss = create_loss("nonl", temperature=0.2, anchor=anchor, align_weight=0.0)
        return float(loss(features, labels, prototypes))

    # per anchor log(P + I) ≠ log P + log I; on the mean the two differ by far more than 1e-10
    both = uniformity("bidirectional")
    assert both != pytest.approx(uniformity("prototype") + uniformity("instance"), abs=1e-3)
    assert both > max(uniformity("prototype"), uniformity("instance"))
