"""Every bundled dataset equals R's copy: checksum of the content as R serialized it."""

import pandas as pd
import pytest

import multilevel as ml
from multilevel.datasets import checksum, dataset_info, list_datasets


@pytest.mark.parametrize("name", list_datasets())
def test_dataset_matches_r_copy(name):
    df = ml.datasets.load(name)
    info = dataset_info(name)
    assert len(df) == info["nrow"]
    assert list(df.columns) == list(info["columns"])
    assert checksum(df, name) == info["md5_canonical"]


@pytest.mark.parametrize("name", list_datasets())
def test_factor_levels_in_r_order(name):
    df = ml.datasets.load(name)
    for col, meta in dataset_info(name)["columns"].items():
        if meta["class"] in ("factor", "ordered"):
            assert isinstance(df[col].dtype, pd.CategoricalDtype)
            assert list(df[col].cat.categories) == meta["levels"]


def test_known_shapes():
    assert ml.datasets.load("InstEval").shape == (73421, 7)
    assert ml.datasets.load("InstEval")["s"].cat.categories.size == 2972
    assert ml.datasets.load("InstEval")["d"].cat.categories.size == 1128
    assert ml.datasets.sleepstudy().shape == (180, 3)


def test_load_returns_a_copy():
    a = ml.datasets.load("Dyestuff")
    a.loc[0, "Yield"] = -1
    assert ml.datasets.load("Dyestuff").loc[0, "Yield"] == 1545


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ml.DataError, match="no bundled dataset named 'sleeptsudy'"):
        ml.datasets.load("sleeptsudy")


def test_simulated_students_dataset():
    df = ml.datasets.load("students")
    assert df.shape == (183, 3)
    assert list(df["school"].cat.categories) == ["Hillcrest", "Oakwood", "St Mary\u2019s"]
    assert df["school"].value_counts(sort=False).tolist() == [60, 69, 54]
    assert "students" in list_datasets()
    assert checksum(df, "students") == dataset_info("students")["md5_canonical"]


def test_dir_lists_every_dataset():
    listed = dir(ml.datasets)
    for name in ml.datasets.list_datasets():
        assert name in listed
        assert getattr(ml.datasets, name)().equals(ml.datasets.load(name))
