"""Bad input gives clear errors (no model is fitted: errors come before sampling)."""

import numpy as np
import pytest

import multilevel as ml


@pytest.fixture
def dat():
    return ml.datasets.load("konstantopoulos2011").copy()


def _brma(data, **kw):
    args = dict(yi="yi", vi="vi", measure="SMD", data=data, seed=1, progress=False)
    args.update(kw)
    return ml.brma(**args)


def test_nonpositive_variances(dat):
    dat.loc[3, "vi"] = 0.0
    with pytest.raises(ml.DataError, match=r"^vi must be positive and finite; offending rows: 4 \(0\)$"):
        _brma(dat)


def test_nonpositive_standard_errors(dat):
    dat["sei"] = -np.sqrt(dat.vi)
    with pytest.raises(ml.DataError, match=r"^sei must be positive and finite; offending rows: 1 \(-0.\d+\), "
                                           r".* \.\.\. and 51 more$"):
        _brma(dat, vi=None, sei="sei")


def test_unknown_measure(dat):
    with pytest.raises(ml.ModelSpecificationError, match="unknown measure 'COHEN'"):
        _brma(dat, measure="COHEN")


def test_gen_measure_needs_sample_sizes(dat):
    with pytest.raises(ml.ModelSpecificationError, match="sample sizes"):
        _brma(dat, measure="GEN")


def test_single_level_cluster(dat):
    dat["one"] = 1
    with pytest.raises(ml.ModelSpecificationError, match="single level"):
        _brma(dat, cluster="one")


def test_unknown_column(dat):
    with pytest.raises(ml.UnknownColumnError, match="did you mean 'district'"):
        _brma(dat, cluster="distrct")


def test_vi_and_sei(dat):
    with pytest.raises(ml.DataError, match="exactly one of vi"):
        _brma(dat, sei="vi")


def test_non_numeric_effect(dat):
    dat["yi"] = dat["yi"].astype(str)
    with pytest.raises(ml.DataError, match="must be numeric"):
        _brma(dat)


def test_bad_formula(dat):
    with pytest.raises(ml.FormulaError):
        _brma(dat, mods="~ year +")


def test_prior_for_missing_level(dat):
    with pytest.raises(ml.ModelSpecificationError, match="needs a cluster"):
        _brma(dat, prior_heterogeneity_allocation=ml.prior("beta", 2, 2))
    with pytest.raises(ml.ModelSpecificationError, match="no such coefficients"):
        _brma(dat, prior_mods=ml.prior("normal", 0, 1))


def test_bad_settings(dat):
    with pytest.raises(ml.ModelSpecificationError, match="draws must be a positive integer"):
        _brma(dat, draws=0)


def test_missing_values_dropped_with_count():
    """Rows with NaN are dropped with a MissingDataWarning naming the count; the fit then uses
    the remaining rows (checked on the data prepared for the sampler)."""
    from multilevel.bayes._design import prepare

    d = ml.datasets.load("konstantopoulos2011").copy()
    d.loc[[0, 5], "yi"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="2 rows with missing values in yi dropped"):
        bd = prepare("yi", "vi", None, cluster="district", mods=None, scale=None, data=d)
    assert bd.k == 54 and bd.n_dropped == 2


def test_arrays_without_data():
    d = ml.datasets.load("konstantopoulos2011")
    from multilevel.bayes._design import prepare

    bd = prepare(d.yi.to_numpy(), d.vi.to_numpy(), None, cluster=d.district.to_numpy(), mods=None,
                 scale=None, data=None)
    assert bd.k == 56 and bd.num_clusters == 11


def test_no_jax_needed_to_import():
    import subprocess
    import sys

    code = ("import sys; import multilevel as ml; "
            "print(any(m.split('.')[0] in ('jax', 'numpyro', 'arviz') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_optional_dependency_message():
    import subprocess
    import sys

    code = ("import sys; sys.modules['jax'] = None; sys.modules['numpyro'] = None\n"
            "import multilevel as ml\n"
            "d = ml.datasets.load('konstantopoulos2011')\n"
            "try:\n    ml.brma('yi', 'vi', measure='SMD', data=d, engine='nuts')\n"
            "except ml.MultilevelError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "brma needs the optional dependencies: pip install 'multilevel[bayes]'"


def test_sample_sizes_follow_dropped_rows():
    """UISD for measure GEN from ni of the rows kept (eq. 6 of Roever et al. 2021)."""
    from multilevel.bayes._design import prepare
    from multilevel.bayes._fit import _sample_sizes

    d = ml.datasets.load("konstantopoulos2011").copy()
    d["n"] = np.arange(56) + 10.0
    d.loc[0, "yi"] = np.nan
    with pytest.warns(ml.MissingDataWarning):
        bd = prepare("yi", "vi", None, cluster=None, mods=None, scale=None, data=d)
    np.testing.assert_array_equal(_sample_sizes("n", d, bd), d["n"].to_numpy()[1:])
    np.testing.assert_array_equal(_sample_sizes(d["n"].to_numpy(), d, bd), d["n"].to_numpy()[1:])
    d.loc[3, "n"] = -1
    with pytest.raises(ml.DataError, match=r"ni must be positive numbers; offending rows: 4 \(-1\)$"):
        _sample_sizes("n", d, bd)
