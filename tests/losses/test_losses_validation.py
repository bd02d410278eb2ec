"""Bad inputs and bad options raise ValueError saying what was expected."""

from __future__ import annotations

import pytest
import torch

from ncsweep.losses import create_loss

F2 = torch.randn(4, 3)
Y = torch.tensor([0, 1, 2, 1])
W = torch.randn(3, 3)

BAD_CALLS = [
    ("ce", (torch.randn(4, 2, 3), Y, W), "B×D"),
    ("normface", (torch.randn(4), Y, W), "B×D"),
    ("ntce", (F2, Y[:3], W), "batch size mismatch"),
    ("nonl", (F2, Y, None), "needs prototypes"),
    ("ce", (F2, Y, None), "needs prototypes"),
    ("normface", (F2, Y, torch.randn(3, 5)), "D=3"),
    ("ntce", (F2, torch.tensor([0, 1, 3, 1]), W), "[0, K) = [0, 3)"),
    ("nonl", (F2, torch.tensor([0, -1, 2, 1]), W), "[0, K)"),
    ("ce", (F2, Y, W, torch.zeros(4)), "bias of shape K"),
    ("ce", (F2, Y.float(), W), "integer labels"),
    ("scl", (F2, Y), "B×V×D"),
    ("scl", (torch.randn(4, 1, 3), Y), "V >= 2"),
    ("scl", (torch.randn(4, 2, 3), Y[:2]), "batch size mismatch"),
    ("scl", (torch.randn(4, 2, 3), torch.tensor([0, -1, 0, 1])), "labels >= 0"),
]


@pytest.mark.parametrize(
    ("name", "args", "words"), BAD_CALLS, ids=[f"{n}-{w}" for n, _, w in BAD_CALLS]
)
def test_bad_input_raises_value_error_saying_what_was_expected(name, args, words):
    with pytest.raises(ValueError, match="expect|needs|mismatch") as error:
        create_loss(name)(*args)
    assert words in str(error.value)


BAD_OPTIONS = [
    ("normface", {"temperature": 0.0}, "temperature=0.0: must be float > 0"),
    ("ntce", {"temperature": -1.0}, "temperature=-1.0: must be float > 0"),
    ("ntce", {"memory": -1}, "memory=-1: must be int >= 0"),
    ("nonl", {"anchor": "both"}, "must be one of prototype, instance, bidirectional"),
    ("nonl", {"memory": -5}, "memory=-5: must be int >= 0"),
    ("scl", {"temperature": 0.0}, "temperature=0.0: must be float > 0"),
    ("scl", {"base_temperature": 0.0}, "base_temperature=0.0: must be float > 0 or null"),
    ("scl", {"memory": -1}, "memory=-1: must be int >= 0"),
    ("ce", {"label_smoothing": 1.0}, "label_smoothing=1.0: must be float >= 0 and < 1"),
]


@pytest.mark.parametrize(
    ("name", "options", "words"), BAD_OPTIONS, ids=[f"{n}-{o}" for n, o, _ in BAD_OPTIONS]
)
def test_bad_constructor_option_raises_value_error(name, options, words):
    with pytest.raises(ValueError) as error:
        create_loss(name, **options)
    assert words in str(error.value)
