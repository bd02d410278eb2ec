import pytest

from ncsweep.data import DatasetNotFoundError, create_dataset

SMALL = {"image_size": 16, "resize_size": 18}


def test_imagefolder_layout_loads(imagenet_root):
    b = create_dataset("imagenet", root=str(imagenet_root), **SMALL)
    assert b.num_classes == 4 and b.input_shape == (3, 16, 16)
    assert b.class_counts == [2] * 4 and len(b.val) == 4 and len(b.test) == 8  # val: 1 of 3
    assert b.train[0][0].shape == (3, 16, 16) and b.val[0][0].shape == (3, 16, 16)
    assert b.test[0][0].shape == (3, 16, 16)
    assert b.train_eval.samples == b.train.samples


def test_default_transforms_are_the_imagenet_ones(imagenet_root):
    b = create_dataset("imagenet", root=str(imagenet_root))
    assert b.input_shape == (3, 224, 224)
    assert "RandomResizedCrop(size=(224, 224)" in repr(b.train.transform)
    assert "Resize(size=256" in repr(b.val.transform) and "CenterCrop(size=(224, 224))" in repr(
        b.val.transform
    )


def test_num_classes_keeps_the_first_sorted_classes(imagenet_root):
    b = create_dataset("imagenet", root=str(imagenet_root), num_classes=2, **SMALL)
    assert b.train.classes == ["n000", "n001"] and b.class_counts == [2, 2]
    assert len(b.val) == 2 and len(b.test) == 4


def test_class_list_file_selects_and_orders_classes(imagenet_root):
    (imagenet_root / "in100.txt").write_text("# subset\nn003\nn001\n")
    b = create_dataset("imagenet", root=str(imagenet_root), class_list="in100.txt", **SMALL)
    assert b.train.classes == ["n003", "n001"] and b.num_classes == 2
    assert b.train.class_to_idx == {"n003": 0, "n001": 1}


def test_two_views(imagenet_root):
    b = create_dataset("imagenet", root=str(imagenet_root), views=2, **SMALL)
    assert b.train[0][0].shape == (2, 3, 16, 16)


def test_missing_imagenet_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=f"{tmp_path / 'train'}.*data.root=s3://"):
        create_dataset("imagenet", root=str(tmp_path))


@pytest.mark.parametrize("num_classes", [1, 5])
def test_bad_num_classes_is_a_value_error(imagenet_root, num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        create_dataset("imagenet", root=str(imagenet_root), num_classes=num_classes)


def test_long_tailed_imagefolder_keeps_targets_and_shared_indices(imagenet_root):
    b = create_dataset(
        "imagenet", root=str(imagenet_root), imbalance={"ratio": 0.34, "profile": "exp"}, **SMALL
    )
    assert b.class_counts == [2, 1, 1, 1]
    assert b.train.targets.tolist() == b.train_eval.targets.tolist() == [0, 0, 1, 2, 3]
    assert b.train[4][1] == 3 and b.train_eval[4][0].shape == (3, 16, 16)
    assert len(b.val) == 4 and len(b.test) == 8
