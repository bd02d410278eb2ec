import pytest
import torch
import torch.nn.functional as F

from ncsweep.geometry import ClassMeanClassifier, ClassStats


def test_predicts_with_the_exact_normalised_class_means_of_unit_features():
    gen = torch.Generator().manual_seed(0)
    k, d = 4, 6
    y = torch.arange(200) % k
    # per-sample scales: the mean of unit features differs from the normalised raw mean
    h = (
        (torch.randn(k, d, generator=gen)[y] + 0.8 * torch.randn(200, d, generator=gen))
        * torch.rand(200, 1, generator=gen)
        * 10
    )
    stats = ClassStats(k, d)
    for i in range(0, 200, 32):
        stats.update(h[i : i + 32], y[i : i + 32])
    clf = ClassMeanClassifier.from_stats(stats, dtype=torch.float64)
    u = F.normalize(h.double(), dim=1)
    want = F.normalize(torch.stack([u[y == c].mean(0) for c in range(k)]), dim=1)
    torch.testing.assert_close(clf.prototypes, want, rtol=1e-12, atol=1e-12)
    x = torch.randn(50, d, generator=gen)
    torch.testing.assert_close(clf.logits(x), F.normalize(x.double(), dim=1) @ want.T)
    assert torch.equal(clf.predict(x), (F.normalize(x.double(), dim=1) @ want.T).argmax(1))


def test_state_dict_round_trip():
    stats = ClassStats(3, 5).update(torch.randn(30, 5), torch.arange(30) % 3)
    clf = ClassMeanClassifier.from_stats(stats)
    clone = ClassMeanClassifier(torch.zeros(3, 5))
    clone.load_state_dict(clf.state_dict())
    assert torch.equal(clone.prototypes, clf.prototypes)
    x = torch.randn(8, 5)
    assert torch.equal(clone.predict(x), clf.predict(x))


def test_empty_class_has_no_prototype():
    stats = ClassStats(3, 2).update(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"\[2\]"):
        ClassMeanClassifier.from_stats(stats)
