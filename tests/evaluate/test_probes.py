"""Probes on frozen features: 100 % on linearly separable data; the normalised probe's τ is
the loss registry's; the transfer probe's C is chosen on a held-out split of the training
set, never on the test set."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ncsweep.config import load_spec
from ncsweep.evaluate.logistic import linear_probe, mean_per_class_accuracy
from ncsweep.evaluate.probes import class_mean_accuracy
from ncsweep.losses import loss_info
from ncsweep.train.probes import fit_probes, probe_temperature


def _separable(n_per_class: int, k: int = 4, d: int = 16, seed: int = 0):
    """Classes on well-separated orthogonal directions, small noise."""
    rng = np.random.default_rng(seed)
    centres = np.eye(d)[:k] * 5.0
    y = np.repeat(np.arange(k), n_per_class)
    x = centres[y] + rng.normal(scale=0.3, size=(len(y), d))
    return x.astype(np.float32), y


def test_every_head_reaches_100_percent_on_linearly_separable_features():
    train_x, train_y = _separable(40, seed=0)
    test_x, test_y = _separable(20, seed=1)
    probe = linear_probe(train_x, train_y, test_x, test_y, seed=0)
    assert probe.accuracy == 1.0
    tx, ty, vx, vy = (torch.as_tensor(a) for a in (train_x, train_y, test_x, test_y))
    assert class_mean_accuracy(tx, ty, vx, vy, 4) == 1.0
    spec = load_spec(None, ["loss.name=scl", "eval.probe_epochs=20"])
    scores = fit_probes((tx, ty.long()), (vx, vy.long()), 4, spec, data_parallel=False)
    assert set(scores) == {"probe", "normprobe"}
    for score in scores.values():
        assert score.accuracy == 1.0 and score.seconds > 0


def test_probes_learn_nothing_from_shuffled_labels():
    """The probes are scored on held-out data: random labels give chance, not 100 %."""
    train_x, train_y = _separable(40, seed=0)
    test_x, test_y = _separable(20, seed=1)
    shuffled = np.random.default_rng(0).permutation(train_y)
    spec = load_spec(None, ["loss.name=ce", "eval.probe_epochs=20"])
    tx, ty, vx, vy = (torch.as_tensor(a) for a in (train_x, shuffled, test_x, test_y))
    scores = fit_probes((tx, ty.long()), (vx, vy.long()), 4, spec, data_parallel=False)
    assert all(score.accuracy < 0.6 for score in scores.values())


def test_normalised_probe_temperature_is_the_registrys():
    """Not ``spec.loss.temperature`` read directly: CE has none (NormFace's usual τ), SCL's
    own temperature, whatever the family declares through ``LossInfo``."""
    ce = load_spec(None, ["loss.name=ce"])
    scl = load_spec(None, ["loss.name=scl", "loss.temperature=0.3"])
    assert probe_temperature(ce) == loss_info("ce").normprobe_temperature({}) == 0.1
    assert probe_temperature(scl) == 0.3


def test_c_is_chosen_on_held_out_training_data_never_on_test():
    rng = np.random.default_rng(3)
    k, d = 5, 30
    train_y = np.repeat(np.arange(k), 30)
    train_x = rng.normal(size=(len(train_y), d)) + 0.6 * np.eye(d)[train_y] * 3
    grid = (0.001, 0.01, 0.1, 1.0, 10.0)
    # the same selection written out by hand on the training set alone
    fit_x, hold_x, fit_y, hold_y = train_test_split(
        train_x, train_y, test_size=0.2, random_state=0, stratify=train_y
    )
    by_hand = {
        c: make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500))
        .fit(fit_x, fit_y)
        .score(hold_x, hold_y)
        for c in grid
    }
    # two test sets that disagree completely (one with shuffled labels): the choice of C
    # cannot depend on them
    test_x = rng.normal(size=(100, d)) + 0.6 * np.eye(d)[np.arange(100) % k] * 3
    test_y = np.arange(100) % k
    a = linear_probe(train_x, train_y, test_x, test_y, c_grid=grid, seed=0)
    b = linear_probe(train_x, train_y, test_x, rng.permutation(test_y), c_grid=grid, seed=0)
    assert a.C == b.C
    assert a.holdout_scores == b.holdout_scores
    assert a.holdout_scores == {c: by_hand[c] for c in grid}
    assert by_hand[a.C] == max(by_hand.values())
    assert a.accuracy != b.accuracy  # the test set only changes the score


def test_mean_per_class_accuracy_weights_classes_equally():
    labels = np.array([0] * 8 + [1] * 2)
    pred = np.array([0] * 8 + [0] * 2)  # class 1 always wrong
    assert mean_per_class_accuracy(pred, labels) == 0.5
    assert (pred == labels).mean() == 0.8
