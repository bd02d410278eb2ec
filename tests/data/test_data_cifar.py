import pytest
import torch

from ncsweep.data import DatasetNotFoundError, create_dataset


def test_fake_cifar10_loads_in_torchvision_layout(cifar10_root):
    b = create_dataset("cifar10", root=str(cifar10_root))
    assert b.num_classes == 10 and b.input_shape == (3, 32, 32)
    assert (len(b.train), len(b.val), len(b.test)) == (30, 10, 20)  # val: 10 % of train
    assert b.class_counts == [3] * 10
    x, y = b.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_decoding_matches_torchvision(name, tmp_path, monkeypatch, fake_cifar_writer):
    import torchvision.datasets.cifar as tv_cifar

    root = fake_cifar_writer(tmp_path, name, train_per_class=1, test_per_class=1)
    # torchvision insists on the official MD5 sums; the fixture's files are not the official ones.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    cls = tv_cifar.CIFAR10 if name == "cifar10" else tv_cifar.CIFAR100
    b = create_dataset(name, root=str(root))
    for split, ours in ((True, b.train_eval), (False, b.test)):  # one per class: no val
        theirs = cls(str(root), train=split, download=False, transform=ours.transform)
        assert (ours.data == theirs.data).all()
        assert ours.targets.tolist() == theirs.targets
        assert torch.equal(ours[1][0], theirs[1][0]) and ours[1][1] == theirs[1][1]


def test_train_eval_is_deterministic_and_train_is_augmented(cifar10_root):
    b = create_dataset("cifar10", root=str(cifar10_root))
    assert torch.equal(b.train_eval[3][0], b.train_eval[3][0])
    torch.manual_seed(0)
    assert any(not torch.equal(b.train[3][0], b.train_eval[3][0]) for _ in range(5))


def test_two_views_use_the_supcon_pipeline(cifar10_root):
    b = create_dataset("cifar10", root=str(cifar10_root), views=2)
    x, _ = b.train[0]
    assert x.shape == (2, 3, 32, 32)
    assert "RandomResizedCrop" in repr(b.train.transform) and "ColorJitter" in repr(
        b.train.transform
    )


def test_cifar100_uses_fine_labels(cifar100_root):
    b = create_dataset("cifar100", root=str(cifar100_root))
    assert b.num_classes == 100 and b.class_counts == [1] * 100
    assert len(b.val) == len(b.test) == 100


def test_long_tailed_cifar_subsets_the_arrays(cifar10_root):
    b = create_dataset(
        "cifar10", root=str(cifar10_root), imbalance={"ratio": 0.25, "profile": "step"}
    )
    assert b.class_counts == [3] * 5 + [1] * 5
    assert b.train.data.shape == (20, 32, 32, 3) and len(b.val) == 10 and len(b.test) == 20


def test_missing_cifar_says_where_it_looked_and_how_to_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        create_dataset("cifar10", root=str(tmp_path))
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    assert "data_batch_1" in msg and "data.root=s3://" in msg


def test_cifar_with_a_missing_file_names_it(cifar10_root):
    (cifar10_root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3"):
        create_dataset("cifar10", root=str(cifar10_root))
