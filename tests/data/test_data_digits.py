import math

import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ncsweep.data import create_dataset
from ncsweep.data.transforms import RandomShift


def test_digits_has_the_real_1797_images_split_stratified():
    b = create_dataset("digits")
    assert len(b.train) + len(b.val) + len(b.test) == 1797
    assert b.input_shape == (1, 8, 8) and b.num_classes == 10
    assert (len(b.train), len(b.val), len(b.test)) == (1151, 287, 359)
    test_counts = torch.bincount(b.test.targets, minlength=10)
    rest = torch.bincount(torch.cat([b.train.targets, b.val.targets]), minlength=10)
    assert ((test_counts - 0.2 * (rest + test_counts)).abs() <= 0.5).all()  # stratified
    val_counts = torch.bincount(b.val.targets, minlength=10)
    assert ((val_counts - 0.2 * rest).abs() <= 0.5).all()


def test_digits_is_normalised_with_train_statistics():
    b = create_dataset("digits")
    imgs = b.train_eval.images
    assert abs(float(imgs.mean())) < 1e-4 and abs(float(imgs.std()) - 1) < 1e-3


def test_digits_split_depends_on_seed_only():
    a, b, c = (create_dataset("digits", seed=s) for s in (0, 0, 1))
    assert torch.equal(a.val.images, b.val.images)
    assert not torch.equal(a.val.targets, c.val.targets)


def test_val_fraction_option_changes_the_val_split_only():
    a, b = create_dataset("digits"), create_dataset("digits", val_fraction=0.5)
    assert abs(len(b.val) - 0.5 * (1797 - 359)) <= 5
    assert torch.equal(a.test.targets, b.test.targets)


def test_train_eval_is_train_without_augmentation_in_the_same_order():
    b = create_dataset("digits")
    assert torch.equal(b.train.images, b.train_eval.images)
    assert torch.equal(b.train.targets, b.train_eval.targets)
    assert b.train_eval.augment is None
    x, _ = b.train_eval[5]
    assert torch.equal(x, b.train_eval.images[5])


def _shifts(img: torch.Tensor, fill: float) -> list[torch.Tensor]:
    padded = torch.nn.functional.pad(img, (1, 1, 1, 1), value=fill)
    return [padded[:, dy : dy + 8, dx : dx + 8] for dy in range(3) for dx in range(3)]


def test_augmentation_is_a_shift_of_at_most_one_pixel():
    b = create_dataset("digits")
    fill = b.train.augment.fill
    torch.manual_seed(0)
    xs, _ = b.train.batch(torch.arange(64))
    for i in range(64):
        assert any(torch.equal(xs[i], s) for s in _shifts(b.train.images[i], fill))
    assert not torch.equal(xs, b.train.images[:64])  # some of them moved


def test_random_shift_handles_single_images_and_batches():
    shift = RandomShift(1, fill=0.0)
    assert shift(torch.ones(1, 8, 8)).shape == (1, 8, 8)
    out = shift(torch.ones(16, 3, 8, 8))
    assert out.shape == (16, 3, 8, 8) and out.sum() > 0


def test_two_views_are_augmented_independently():
    torch.manual_seed(0)
    b = create_dataset("digits", views=2)
    x, _ = b.train.batch(torch.arange(100))
    assert x.shape == (100, 2, 1, 8, 8)
    assert (x[:, 0] != x[:, 1]).flatten(1).any(1).float().mean() > 0.5


def test_no_augmentation_gives_the_stored_images():
    b = create_dataset("digits", augment=False, views=2)
    x, _ = b.train[3]
    assert torch.equal(x[0], b.train.images[3]) and torch.equal(x[1], b.train.images[3])


def test_dataloader_with_distributed_sampler_uses_batched_fetch():
    b = create_dataset("digits", views=2)
    sampler = DistributedSampler(b.train, num_replicas=2, rank=1, shuffle=True, seed=0)
    loader = DataLoader(b.train, batch_size=64, sampler=sampler, drop_last=True)
    batches = list(loader)
    assert len(batches) == math.ceil(len(b.train) / 2) // 64  # the sampler pads to even
    x, y = batches[0]
    assert x.shape == (64, 2, 1, 8, 8) and y.shape == (64,) and y.dtype == torch.long
    indices = list(sampler)[:64]
    assert torch.equal(y, b.train.targets[indices])
