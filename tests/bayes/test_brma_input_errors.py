"""brma input errors name the argument or column, the rows and the values (no sampling is run)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes._design import prepare


@pytest.fixture
def dat():
    return ml.datasets.load("konstantopoulos2011").copy()


def _prepare(data, **kw):
    args = dict(yi="yi", vi="vi", sei=None, cluster="district", mods=None, scale=None, data=data)
    args.update(kw)
    return prepare(args.pop("yi"), args.pop("vi"), args.pop("sei"), **args)


def _refused(fn, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ml.DataError, match=match):
            fn()


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_yi(dat, bad):
    dat.loc[4, "yi"] = bad
    _refused(lambda: _prepare(dat), rf"^yi has infinite values; offending rows: 5 \({bad}\)$")


def test_infinite_yi_in_a_named_column(dat):
    dat["effect"] = dat["yi"]
    dat.loc[0, "effect"] = np.inf
    _refused(lambda: _prepare(dat, yi="effect"), r"^yi \(column 'effect'\) has infinite values; offending rows: 1 \(inf\)$")


@pytest.mark.parametrize("bad", [np.inf, 0.0, -0.5])
def test_bad_vi(dat, bad):
    dat.loc[9, "vi"] = bad
    _refused(lambda: _prepare(dat), rf"^vi must be positive and finite; offending rows: 10 \({bad:g}\)$")


def test_bad_sei_given_as_array(dat):
    sei = np.sqrt(dat["vi"].to_numpy())
    sei[[2, 3]] = [-0.1, np.inf]
    _refused(lambda: _prepare(dat, vi=None, sei=sei),
             r"^sei must be positive and finite; offending rows: 3 \(-0.1\), 4 \(inf\)$")
    _refused(lambda: _prepare(None, yi=dat["yi"].to_numpy(), vi=None, sei=sei, cluster=None),
             r"^sei must be positive and finite; offending rows: 3 \(-0.1\), 4 \(inf\)$")


def test_rows_counted_in_the_data_given_even_after_dropping_missing_ones(dat):
    dat.loc[0, "yi"] = np.nan
    dat.loc[5, "vi"] = -1.0
    with pytest.warns(ml.MissingDataWarning, match="1 row"):
        _refused(lambda: _prepare(dat), r"offending rows: 6 \(-1\)$")


def test_rows_are_index_labels_of_a_relabelled_table(dat):
    dat.index = [f"s{i}" for i in range(len(dat))]
    dat.loc["s7", "vi"] = 0.0
    _refused(lambda: _prepare(dat), r"offending rows: s7 \(0\)$")


def test_infinite_moderator(dat):
    dat["year"] = dat["year"].astype(float)
    dat.loc[2, "year"] = np.inf
    _refused(lambda: _prepare(dat, mods="~ year"), r"^the moderator column 'year' has infinite values; offending rows: 3 \(inf\)$")
    _refused(lambda: _prepare(dat, scale="~ year"), r"^the moderator column 'year' has infinite values")


def test_infinite_moderator_transformation(dat):
    dat["z"] = np.r_[0.0, np.arange(1.0, 56.0)]
    _refused(lambda: _prepare(dat, mods="~ np.log(z)"),
             r"^the design column 'np.log\(z\)' of '~ np.log\(z\)' has infinite values; offending rows: 1 \(-inf\)$")


def test_undefined_transformation_drops_the_row(dat):
    dat["z"] = np.r_[-3.0, np.arange(1.0, 56.0)]
    with pytest.warns(ml.MissingDataWarning, match="1 row where a transformation is undefined"):
        bd = _prepare(dat, mods="~ z + np.log(z + 2)")
    assert bd.k == 55 and bd.n_dropped == 1 and bd.row_names[0] == "2"


def test_arrays_of_different_lengths(dat):
    with pytest.raises(ml.DataError, match="the inputs have different lengths: yi has 55, vi has 56"):
        _prepare(None, yi=dat["yi"].to_numpy()[1:], vi=dat["vi"].to_numpy(), cluster=None)


def test_sample_sizes_name_the_rows(dat):
    from multilevel.bayes._fit import _sample_sizes

    bd = _prepare(dat)
    n = np.full(len(dat), 50.0)
    n[[1, 2]] = [0.0, np.inf]
    with pytest.raises(ml.DataError, match=r"^sample sizes ni must be positive numbers; offending rows: 2 \(0\), 3 \(inf\)$"):
        _sample_sizes(n, dat, bd)
    with pytest.raises(ml.DataError, match="ni has 3 sample sizes but there are 56 estimates"):
        _sample_sizes(n[:3], dat, bd)


def test_rank_deficient_design_names_the_columns(dat):
    dat["year2"] = dat["year"] * 2.0
    with pytest.raises(ml.ModelSpecificationError, match=r"rank deficient: 'year2' duplicate earlier columns"):
        _prepare(dat, mods="~ year + year2")


@pytest.mark.parametrize("value", [None, "many", 0, 2.5])
def test_bad_sampler_settings(dat, value):
    with pytest.raises(ml.ModelSpecificationError, match=r"chains must be a positive integer, got"):
        ml.brma(yi="yi", vi="vi", measure="SMD", data=dat, chains=value, progress=False)
