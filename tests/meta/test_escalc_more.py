"""ml.escalc against metafor 3.8-1: every measure and vtype on two or more data sets (oracle table).

Fixtures: tools/fixtures/meta_escalc_more.R -> tests/fixtures/meta/escalc_more.json (data included).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "escalc_more.json").read_text())
CASES = FIXTURE["cases"]
DATA = {name: pd.DataFrame({col: np.array([np.nan if v is None else v for v in np.atleast_1d(vals)], dtype=float)
                            for col, vals in cols.items()}) for name, cols in FIXTURE["data"].items()}


def _values(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def _run(case):
    extra = dict(case["extra"] or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        return ml.escalc(case["measure"], data=DATA[case["data"]], **case["args"], **extra)


@pytest.mark.parametrize("key", list(CASES))
def test_measure_matches_metafor(key):
    case = CASES[key]
    out = _run(case)
    yi, vi = _values(case["yi"]), _values(case["vi"])
    np.testing.assert_array_equal(np.isnan(out["yi"]), np.isnan(yi))
    np.testing.assert_array_equal(np.isnan(out["vi"]), np.isnan(vi))
    np.testing.assert_allclose(out["yi"], yi, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(out["vi"], vi, rtol=1e-4, atol=1e-12)


def test_every_measure_is_covered_on_two_data_sets():
    from multilevel.meta.effects._escalc import MEASURES

    seen: dict[str, set] = {}
    for case in CASES.values():
        seen.setdefault(case["measure"], set()).add(case["data"])
    skipped = {"RTET": 2, "OR2D": 0, "D2OR": 0, "SMD1H": 2, "CVRC": 2, "VRC": 2}
    for measure in MEASURES:
        assert len(seen.get(measure, ())) >= skipped.get(measure, 2), measure


# --------------------------------------------------------------------------- input errors
@pytest.mark.parametrize("measure, kwargs, error, match", [
    ("SMDH", dict(m1i=[1, 2], m2i=[1, 1], sd1i=[1, -1.5], sd2i=[1, 1], n1i=[5, 5], n2i=[5, 5]), ml.DataError,
     r"sd1i has negative standard deviations; offending rows: 2 \(-1.5\)"),
    ("MC", dict(m1i=[1], m2i=[1], sd1i=[1], sd2i=[1], ni=[10]), ml.DataError, "needs .*missing: ri"),
    ("SMCR", dict(m1i=[1], m2i=[1], sd1i=[1], ni=[10], ri=[1.2]), ml.DataError,
     r"ri has correlations > 1 or < -1; offending rows: 1 \(1.2\)"),
    ("PCOR", dict(ti=[2, 1], ni=[5, 30], mi=[4, 2]), ml.DataError,
     r"ni - mi - 1 \(the residual df\) has values <= 0; offending rows: 1 \(0\)"),
    ("SPCOR", dict(ti=[2], ni=[50], mi=[2], r2i=[1.3]), ml.DataError, r"r2i has R\^2 values > 1 or < 0"),
    ("ARAW", dict(ai=[0.8, 1.2], mi=[5, 5], ni=[50, 60]), ml.DataError,
     r"ai has alpha values > 1; offending rows: 2 \(1.2\)"),
    ("AHW", dict(ai=[0.8], mi=[1], ni=[50]), ml.DataError, "mi has numbers of items < 2"),
    ("PR", dict(xi=[5, 2], ni=[3, 10]), ml.DataError,
     r"mi \(computed as ni - xi\) has negative counts; offending rows: 1 \(-2\)"),
    ("OR", dict(ai=[3], bi=[2], n1i=[6], ci=[1], di=[4]), ml.DataError, "n1i is not equal to bi \\+ ai"),
    ("IR", dict(xi=[3], ti=[0]), ml.DataError, "ti has person-times <= 0"),
    ("MNLN", dict(mi=[-2], sdi=[1], ni=[10]), ml.DataError, "mi has negative means"),
    ("RD", dict(ai=[1], bi=[2], ci=[1], di=[2], vtype="HO"), ml.ArgumentError,
     "vtype 'HO' is not available for measure 'RD'; use one of UB, LS, AV"),
    ("COR", dict(ri=[0.2], ni=[20], vtype="UB"), ml.ArgumentError, "'UCOR' only"),
    ("SMD", dict(m1i=[1, 2], m2i=[1, 1], sd1i=[1, 1], sd2i=[1, 1], n1i=[5, 5], n2i=[5, 5], vtype=["LS"] * 3),
     ml.ArgumentError, "vtype has 3 values but there are 2 studies"),
    ("SMD", dict(m1i=[1], m2i=[1], sd1i=[1], sd2i=[1], n1i=[5], n2i=[5], vtype="XX"), ml.ArgumentError,
     "unknown vtype 'XX'"),
    ("OR", dict(ai=[1], bi=[2], ci=[1], di=[2], to="some"), ml.ArgumentError, "to must be one of"),
    ("OR", dict(ai=[1], bi=[2], ci=[1], di=[2], add=-1), ml.ArgumentError, "add must be a finite number >= 0"),
])
def test_bad_input_names_argument_rows_and_values(measure, kwargs, error, match):
    with pytest.raises(error, match=match):
        ml.escalc(measure, **kwargs)


def test_rows_are_named_by_the_data_index():
    data = pd.DataFrame({"ri": [0.2, 1.5], "ni": [20, 30]}, index=["study A", "study B"])
    with pytest.raises(ml.DataError, match=r"offending rows: study B \(1.5\)"):
        ml.escalc("UCOR", ri="ri", ni="ni", data=data)


# --------------------------------------------------------------------------- behaviour
def test_infinite_outcomes_become_missing_with_a_warning():
    with pytest.warns(ml.MissingDataWarning, match="infinite"):
        out = ml.escalc("OR", ai=[0, 5], bi=[10, 5], ci=[3, 2], di=[7, 8], to="none")
    assert np.isnan(out.loc[0, "yi"]) and np.isnan(out.loc[0, "vi"])
    assert np.isfinite(out.loc[1, "yi"])


def test_missing_inputs_give_missing_outcomes_only_where_used():
    out = ml.escalc("IRSD", x1i=[np.nan, 4], x2i=[3, 5], t1i=[100, 200], t2i=[120, 150])
    assert np.isnan(out.loc[0, "yi"]) and out.loc[0, "vi"] == pytest.approx(1 / 400 + 1 / 480)


def test_correlation_variance_alone_is_missing_for_tiny_samples():
    out = ml.escalc("COR", ri=[0.3, 0.5], ni=[3, 20])
    assert out.loc[0, "yi"] == 0.3 and np.isnan(out.loc[0, "vi"])


def test_smd_from_t_statistics_and_d_values():
    t = np.array([2.0, -1.0])
    n1, n2 = np.array([20, 15]), np.array([22, 18])
    from_t = ml.escalc("SMD", ti=t, n1i=n1, n2i=n2)
    from_d = ml.escalc("SMD", di=t * np.sqrt(1 / n1 + 1 / n2), n1i=n1, n2i=n2)
    pd.testing.assert_frame_equal(from_t, from_d)


def test_bivariate_normal_cdf_at_the_origin():
    from multilevel.meta.effects._tetrachoric import bivariate_normal_cdf

    for rho in (-0.9, -0.3, 0.0, 0.4, 0.95):
        assert bivariate_normal_cdf(0.0, 0.0, rho) == pytest.approx(0.25 + np.arcsin(rho) / (2 * np.pi), abs=1e-13)


def test_tetrachoric_special_tables():
    from multilevel.meta.effects._tetrachoric import tetrachoric

    assert np.isnan(tetrachoric(0, 0, 5, 7)[0])          # an empty margin
    assert tetrachoric(10, 0, 0, 12) == (1.0, 0.0)       # only concordant pairs
    assert tetrachoric(0, 10, 12, 0) == (-1.0, 0.0)
    r, v = tetrachoric(10, 0, 3, 12)                     # one empty cell: the bound, flat likelihood
    assert r == 1.0 and np.isnan(v)
    out = ml.escalc("RTET", ai=[10, 20], bi=[0, 8], ci=[3, 9], di=[12, 25])
    assert out.loc[0, "yi"] == 1.0 and np.isnan(out.loc[0, "vi"]) and np.isfinite(out.loc[1, "vi"])


def test_hypergeometric_fallback_agrees_with_scipy_where_scipy_works():
    from scipy.special import hyp2f1

    from multilevel.meta.effects._correlations import _hyp_integral

    for c, z in ((3.0, 0.5), (12.5, 0.9), (40.0, 0.99)):
        assert _hyp_integral(0.5, 0.5, c, z) == pytest.approx(hyp2f1(0.5, 0.5, c, z), rel=1e-10)
        assert _hyp_integral(1.0, 1.0, c, z) == pytest.approx(hyp2f1(1.0, 1.0, c, z), rel=1e-10)


def test_scipy_hyp2f1_failure_region_is_covered():
    """scipy's hyp2f1 gives NaN here (n = 326, r = 0.05 in dat.molloy2014); UCOR must not."""
    out = ml.escalc("UCOR", ri=[0.05], ni=[326])
    assert np.isfinite(out.loc[0, "yi"]) and out.loc[0, "yi"] > 0.05


@pytest.mark.parametrize("measure", ["UCOR", "ZCOR"])
def test_small_sample_warnings_point_at_the_caller(measure):
    with pytest.warns(ml.MissingDataWarning) as caught:
        ml.escalc(measure, ri=[0.3, 0.5], ni=[3, 20])
    assert caught[0].filename == __file__


@pytest.mark.parametrize("alias, name, data", [("OR2D", "OR2DL", "bcg"), ("D2OR", "D2ORL", "normand")])
def test_metafor_aliases(alias, name, data):
    case = CASES[f"{name}/{data}"]
    a = ml.escalc(alias, data=DATA[data], **case["args"])
    b = ml.escalc(name, data=DATA[data], **case["args"])
    pd.testing.assert_frame_equal(a, b)
