"""Confidence levels: one parser (``_protocol.parse_level``) for every function that takes a level.

The methods and functions are discovered from their signatures, so that a new ``level``
argument anywhere in the public API is covered without editing this file: each is called with
``level=0.9`` and ``level=90`` (which must agree), at the default level (which must differ) and
with invalid levels (which must raise :class:`~multilevel.ArgumentError`).
"""

import inspect
import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from fit_kinds import FIT_FIXTURES
from multilevel._protocol import level_percent, parse_level

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

INVALID = [0, 1, 100, -5, "95", float("nan"), True, None, 150, math.inf]

# options that keep the calls quick and quiet, passed when a signature has them
QUIET = {"parallel": False, "progress": False}
# extra arguments for particular methods / functions
EXTRA = {"plot_profile": {"which": [".sigma"], "num": 5}}


def _level_names(cls) -> list[str]:
    names = []
    for name, attr in inspect.getmembers(cls):
        static = inspect.getattr_static(cls, name)
        if name.startswith("_") or isinstance(static, property | classmethod | staticmethod) or not callable(attr):
            continue  # constructors (classmethods) take the level of the fit they build
        try:
            params = inspect.signature(attr).parameters
        except (TypeError, ValueError):
            continue
        if "level" in params:
            names.append(name)
    return names


METHODS = [(cls, name) for cls in FIT_FIXTURES for name in _level_names(cls)]

# public functions taking a level: how to call each one (a fit fixture and the call)
FUNCTIONS = {
    "plot_ranef": ("lmer_fit", lambda fit, **kw: ml.plot_ranef(fit, **kw)),
    "plot_profile": ("lmer_fit", lambda fit, **kw: ml.plot_profile(fit, **kw)),
    "funnel": ("rma_fit", lambda fit, **kw: ml.funnel(fit, **kw)),
    "forest": ("rma_fit", lambda fit, **kw: ml.forest(fit, **kw)),
    "radial": ("bcg_rr", lambda dat, **kw: ml.radial(ml.rma("yi", "vi", data=dat), **kw)),
    "qqnorm": ("rma_fit", lambda fit, **kw: ml.qqnorm(fit, **kw)),
    "rma": ("bcg_rr", lambda dat, **kw: ml.rma("yi", "vi", data=dat, mods="~ ablat", **kw)),
    "rma_glmm": ("bcg_rr", lambda dat, **kw: ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat,
                                                        method="EE", **kw)),
    "rma_mh": ("bcg_rr", lambda dat, **kw: ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat, **kw)),
    "rma_peto": ("bcg_rr", lambda dat, **kw: ml.rma_peto(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat, **kw)),
    "rma_mv": ("konst", lambda dat, **kw: ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat, **kw)),
}


def _public_level_functions() -> set[str]:
    out = set()
    for name in ml.__all__:
        obj = getattr(ml, name)
        if inspect.isfunction(obj) and "level" in inspect.signature(obj).parameters:
            out.add(name)
    return out


def _options(fn, name: str) -> dict:
    params = inspect.signature(fn).parameters
    return {**{k: v for k, v in QUIET.items() if k in params}, **EXTRA.get(name, {})}


def _snapshot(value):
    """A comparable form of a result: frames, series, dicts, figures (rendered pixels), reports."""
    if isinstance(value, pd.DataFrame | pd.Series):
        return value
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_snapshot(v) for v in value]
    fig = getattr(value, "figure", None) if not isinstance(value, matplotlib.figure.Figure) else value
    if isinstance(fig, matplotlib.figure.Figure):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba()).copy()
        plt.close(fig)
        return pixels
    frame = value.to_frame() if hasattr(value, "to_frame") else None
    return (str(value), frame)


def _assert_same(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
        assert a.attrs == b.attrs
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a[0] == b[0]
        if a[1] is not None:
            pd.testing.assert_frame_equal(a[1], b[1])


def _differs(a, b) -> bool:
    try:
        _assert_same(a, b)
    except AssertionError:
        return True
    return False


# --------------------------------------------------------------------------- discovery
def test_every_fit_type_is_enumerated():
    """Every public class with confint or predict is a fit type the generated tests cover."""
    fit_classes = {getattr(ml, n) for n in ml.__all__ if inspect.isclass(getattr(ml, n))
                   and (hasattr(getattr(ml, n), "confint") or hasattr(getattr(ml, n), "predict"))}
    assert fit_classes == set(FIT_FIXTURES)


def test_every_fit_type_has_a_level_method():
    kinds = {cls for cls, _ in METHODS}
    assert kinds == set(FIT_FIXTURES)
    assert all(any(c is cls and n == "confint" for c, n in METHODS) for cls in FIT_FIXTURES)


def test_every_public_function_with_a_level_is_called():
    assert _public_level_functions() == set(FUNCTIONS)


# --------------------------------------------------------------------------- generated tests
@pytest.mark.parametrize(("cls", "name"), METHODS, ids=[f"{c.__name__}.{n}" for c, n in METHODS])
def test_method_level_as_proportion_or_percentage(request, cls, name):
    fit = request.getfixturevalue(FIT_FIXTURES[cls])
    method = getattr(fit, name)
    opts = _options(method, name)
    as_prop = _snapshot(method(level=0.9, **opts))
    as_pct = _snapshot(method(level=90, **opts))
    _assert_same(as_prop, as_pct)
    assert _differs(as_prop, _snapshot(method(**opts))), f"{name} ignores level"


@pytest.mark.parametrize(("cls", "name"), METHODS, ids=[f"{c.__name__}.{n}" for c, n in METHODS])
def test_method_rejects_invalid_levels(request, cls, name):
    fit = request.getfixturevalue(FIT_FIXTURES[cls])
    method = getattr(fit, name)
    opts = _options(method, name)
    for bad in INVALID:
        if bad is None and inspect.signature(method).parameters["level"].default is None:
            continue  # None means "the fit's level" there
        with pytest.raises(ml.ArgumentError, match="level"):
            method(level=bad, **opts)
    plt.close("all")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_level_as_proportion_or_percentage(request, name):
    fixture, call = FUNCTIONS[name]
    arg = request.getfixturevalue(fixture)
    opts = _options(getattr(ml, name), name)
    as_prop = _snapshot(call(arg, level=0.9, **opts))
    as_pct = _snapshot(call(arg, level=90, **opts))
    _assert_same(as_prop, as_pct)
    assert _differs(as_prop, _snapshot(call(arg, **opts))), f"{name} ignores level"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_rejects_invalid_levels(request, name):
    fixture, call = FUNCTIONS[name]
    arg = request.getfixturevalue(fixture)
    opts = _options(getattr(ml, name), name)
    for bad in INVALID:
        if bad is None and inspect.signature(getattr(ml, name)).parameters["level"].default is None:
            continue
        with pytest.raises(ml.ArgumentError, match="level"):
            call(arg, level=bad, **opts)
    plt.close("all")


# --------------------------------------------------------------------------- the parser itself
@pytest.mark.parametrize(("given", "expected"), [(0.95, 0.95), (95, 0.95), (0.5, 0.5), (99.9, 0.999),
                                                 (np.float32(0.9), float(np.float32(0.9))), (np.int64(90), 0.9),
                                                 (1.5, 0.015)])
def test_parse_level(given, expected):
    assert parse_level(given) == pytest.approx(expected, rel=1e-15)
    assert level_percent(given) == pytest.approx(100 * expected, rel=1e-12)


@pytest.mark.parametrize("bad", INVALID + [np.nan, [95], "0.95", complex(0.9, 0)])
def test_parse_level_rejects(bad):
    with pytest.raises(ml.ArgumentError, match="level"):
        parse_level(bad)


def test_parse_level_names_the_argument():
    with pytest.raises(ml.ArgumentError, match="conf_level must be"):
        parse_level(0, name="conf_level")


# --------------------------------------------------------------------------- the reported defects
def test_rma_confint_at_095_is_the_95_percent_interval(rma_fit):
    """``confint(level=0.95)`` gave 0.95 % intervals, whose tau^2 limits excluded the estimate."""
    at_prop = rma_fit.confint(level=0.95)
    pd.testing.assert_frame_equal(at_prop, rma_fit.confint())
    pd.testing.assert_frame_equal(at_prop, rma_fit.confint(level=95))
    assert (at_prop["lower"] <= at_prop["estimate"]).all() and (at_prop["estimate"] <= at_prop["upper"]).all()


def test_rma_predict_at_095_is_the_95_percent_interval(rma_fit):
    pd.testing.assert_frame_equal(rma_fit.predict(level=0.95), rma_fit.predict())
    pred = rma_fit.predict(level=0.95)
    assert ((pred["pi_lb"] < pred["ci_lb"]) & (pred["ci_lb"] < pred["pred"])).all()


def test_rma_mv_confint_at_095(rma_mv_fit):
    pd.testing.assert_frame_equal(rma_mv_fit.confint(level=0.95), rma_mv_fit.confint())


def test_lmer_confint_accepts_a_percentage(lmer_fit):
    wald = lmer_fit.confint("Wald", level=95)
    pd.testing.assert_frame_equal(wald, lmer_fit.confint("Wald"))
    assert wald.attrs["level"] == 0.95


def test_fit_time_level_is_stored_in_percent(bcg_rr):
    """The printed R layout keeps metafor's percentages ("95% CI") whatever form was given."""
    a = ml.rma("yi", "vi", data=bcg_rr, level=0.9)
    assert a.level == 90.0 and str(a) == str(ml.rma("yi", "vi", data=bcg_rr, level=90))


def test_brma_level_and_probs_are_exclusive(brma_fit):
    with pytest.raises(ml.ArgumentError, match="level or probs"):
        brma_fit.predict(level=0.9, probs=(0.05, 0.95))
    pd.testing.assert_frame_equal(brma_fit.predict(level=0.9), brma_fit.predict(probs=(0.05, 0.95)))


def test_brma_confint_is_the_equal_tailed_interval(brma_fit):
    ci = brma_fit.confint(0.8)
    draws = brma_fit.posterior["tau"].reshape(-1)
    assert ci.loc["tau", "lower"] == np.quantile(draws, 0.1)
    assert ci.loc["tau", "upper"] == np.quantile(draws, 0.9)
    assert ci.loc["(Intercept)", "kind"] == "fixed" and ci.loc["rho", "kind"] == "random"


def test_lm_list_confint_matches_each_group_lm(lm_list_fit, sleep):
    ci = lm_list_fit.confint(90)
    one = ml.lm("Reaction ~ Days", sleep[sleep["Subject"] == "308"]).confint(0.9)
    pd.testing.assert_frame_equal(ci.loc["308"], one, check_names=False)


LM_LIST_CI = json.loads((Path(__file__).parent / "fixtures" / "ols" / "lm_list_confint.json").read_text(
    encoding="utf-8"))["cases"]


def _lm_list_data(name):
    sleep = ml.datasets.load("sleepstudy")
    if name == "sleep_small":
        return sleep[~((sleep["Subject"] == "308") & (sleep["Days"] > 0))]
    return {"students": ml.datasets.load("students"), "sleep": sleep}[name]


@pytest.mark.parametrize("case", sorted(LM_LIST_CI))
def test_lm_list_confint_matches_lme4(case):
    ref = LM_LIST_CI[case]
    fits = ml.lm_list(ref["formula"], _lm_list_data(ref["data"]))
    got = fits.confint(ref["level"], pool=ref["pool"])
    for row in ref["rows"]:
        key = (row["group"], row["term"])
        expected = [np.nan if row[c] is None else row[c] for c in ("lower", "upper")]
        actual = got.loc[key, ["lower", "upper"]].to_numpy(dtype=float) if key in got.index else np.full(2, np.nan)
        np.testing.assert_allclose(actual, expected, rtol=1e-10, err_msg=str(key))


@pytest.mark.parametrize("case", sorted(LM_LIST_CI))
def test_lm_list_pooled_sd_counts_aliased_coefficients(case):
    """lme4's pooledSD counts every coefficient, aliased ones too, so a group with one row lowers the
    pooled degrees of freedom; the printed summary lines follow."""
    ref = LM_LIST_CI[case]
    fits = ml.lm_list(ref["formula"], _lm_list_data(ref["data"]))
    assert fits.df_resid == ref["pooled_df"]
    np.testing.assert_allclose(fits.pooled_sd, ref["pooled_sd"], rtol=1e-10)
    assert str(fits).splitlines()[-2:] == ref["printed_tail"]
