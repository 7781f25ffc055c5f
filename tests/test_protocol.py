"""The result vocabulary (``multilevel._protocol``) over one fit of every type.

The fit types come from ``fit_kinds.FIT_FIXTURES``, so a new fit type is checked here as
soon as it is registered there: names, types and shapes of ``params``, ``vcov()``,
``confint()``, ``tidy()`` / ``to_frame()``, ``fitstats()``, the likelihood criteria,
``predict()``, ``summary()`` and the display views.
"""

import inspect
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from fit_kinds import FIT_FIXTURES
from multilevel._display import render_html, render_markdown
from multilevel._protocol import CONFINT_COLUMNS, FITSTATS_INDEX, KINDS, TIDY_COLUMNS

KINDS_OF_FIT = sorted(FIT_FIXTURES.items(), key=lambda item: item[1])
IDS = [fixture for _, fixture in KINDS_OF_FIT]
# options that keep confint quick and quiet where a signature has them (lmer profiles)
QUIET = {"parallel": False, "progress": False}


@pytest.fixture(params=KINDS_OF_FIT, ids=IDS)
def fit(request):
    cls, fixture = request.param
    value = request.getfixturevalue(fixture)
    assert type(value) is cls
    return value


def _confint(fit, **kwargs):
    params = inspect.signature(fit.confint).parameters
    return fit.confint(**{k: v for k, v in QUIET.items() if k in params}, **kwargs)


def test_params_is_a_series_indexed_like_vcov(fit):
    params, vcov = fit.params, fit.vcov()
    assert isinstance(params, pd.Series) and isinstance(vcov, pd.DataFrame)
    assert params.index.is_unique and len(params) > 0
    assert vcov.index.equals(params.index) and vcov.columns.equals(params.index)
    assert params.dtype == float and np.all(np.isfinite(np.diag(vcov.to_numpy())))
    np.testing.assert_allclose(vcov.to_numpy(), vcov.to_numpy().T, rtol=1e-10, atol=1e-14)


def test_vcov_is_a_method_everywhere(fit):
    assert inspect.ismethod(fit.vcov)


def test_confint_columns_and_rows(fit):
    ci = _confint(fit, level=0.9)
    assert tuple(ci.columns) == CONFINT_COLUMNS
    assert ci.index.name == "term" or isinstance(ci.index, pd.MultiIndex)
    assert set(ci["kind"]) <= set(KINDS)
    fixed = ci[ci["kind"] == "fixed"]
    assert list(fixed.index) == list(fit.params.index)
    np.testing.assert_allclose(fixed["estimate"].to_numpy(float), fit.params.to_numpy(), rtol=1e-12)
    ok = fixed[["lower", "upper"]].notna().all(axis=1)
    assert (fixed.loc[ok, "lower"] <= fixed.loc[ok, "estimate"]).all()
    assert (fixed.loc[ok, "estimate"] <= fixed.loc[ok, "upper"]).all()
    assert ci.attrs["level"] == pytest.approx(0.9)


def test_tidy_columns_and_rows(fit):
    tidy = fit.tidy()
    assert tuple(tidy.columns[:len(TIDY_COLUMNS)]) == TIDY_COLUMNS
    assert set(tidy["kind"]) <= set(KINDS)
    fixed = tidy[tidy["kind"] == "fixed"]
    np.testing.assert_allclose(fixed["estimate"].to_numpy(float), fit.params.to_numpy(), rtol=1e-12)
    if not isinstance(fit.params.index, pd.MultiIndex):
        assert list(fixed["term"]) == list(fit.params.index)
    pd.testing.assert_frame_equal(fit.to_frame(), tidy)
    # standard errors agree with vcov (posterior SDs for Bayesian fits)
    np.testing.assert_allclose(fixed["std_error"].to_numpy(float), np.sqrt(np.diag(fit.vcov().to_numpy())),
                               rtol=1e-6)


def test_likelihood_criteria(fit):
    assert isinstance(fit.nobs, int) and not isinstance(fit.nobs, bool) and fit.nobs > 0
    for name in ("loglik", "aic", "bic"):
        assert isinstance(getattr(fit, name), float), name
    stats = fit.fitstats()
    assert isinstance(stats, pd.Series) and tuple(stats.index) == FITSTATS_INDEX
    if math.isfinite(fit.loglik):
        k = fit.num_params
        assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * k, rel=1e-12)
        assert stats["logLik"] == pytest.approx(fit.loglik, rel=1e-12)
        assert stats["AIC"] == pytest.approx(fit.aic, rel=1e-12)
        assert stats["BIC"] == pytest.approx(fit.bic, rel=1e-12)
    else:  # a Bayesian fit: no likelihood criteria
        assert stats.isna().all() and math.isnan(fit.aic)


def test_df_resid_where_defined(fit):
    if hasattr(fit, "df_resid"):
        assert isinstance(fit.df_resid, int | float) and 0 < fit.df_resid < fit.nobs


def test_predict_returns_pandas(fit):
    pred = fit.predict()
    assert isinstance(pred, pd.Series | pd.DataFrame) and len(pred) > 0


def test_summary_prints(fit):
    text = str(fit.summary())
    assert text.strip() and "\n" in text


def test_views_come_from_the_printed_text(fit):
    text = str(fit)
    assert fit._repr_html_() == render_html(text)
    assert fit._repr_markdown_() == render_markdown(text)
    shown = repr(fit)
    assert not shown.startswith(f"{type(fit).__name__}("), "a raw dataclass repr"
    assert "\n" not in shown or shown == text


# --------------------------------------------------------------------------- one formula, one set of names
@pytest.fixture(scope="module")
def konst_era():
    dat = ml.datasets.load("konstantopoulos2011").copy()
    dat["era"] = np.where(dat["year"] < 1985, "early", "late")
    return dat


def test_one_formula_gives_the_same_names_in_every_fit_type(konst_era):
    """metafor names the intercept ``intrcpt`` and formulaic ``era[T.late]``; the protocol uses R's names."""
    dat = konst_era
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        fits = {
            "lm": ml.lm("yi ~ year + era", dat),
            "lmer": ml.lmer("yi ~ year + era + (1 | district)", dat),
            "rma": ml.rma("yi", "vi", mods="~ year + era", data=dat),
            "rma_mv": ml.rma_mv("yi", "vi", mods="~ year + era", random="~ 1 | district", data=dat),
            "brma": ml.brma("yi", "vi", measure="SMD", cluster="district", mods="~ year + era", data=dat, seed=1,
                            progress=False, chains=2, draws=200, warmup=200),
        }
    expected = ["(Intercept)", "year", "eralate"]
    for name, fit in fits.items():
        assert list(fit.params.index) == expected, name
        assert list(fit.vcov().index) == expected, name
        assert list(fit.tidy().query("kind == 'fixed'")["term"]) == expected, name
        assert list(_confint(fit).query("kind == 'fixed'").index) == expected, name
    # the fields named as in metafor keep metafor's names, and so does the printed text
    assert list(fits["rma"].beta.index) == ["intrcpt", "year", "eralate"]
    assert "intrcpt" in str(fits["rma"]) and "intrcpt" in str(fits["rma_mv"])
    # the same least-squares problem: lm and an equal-effects rma with equal variances agree
    ee = ml.rma("yi", np.ones(len(dat)), mods="~ year + era", data=dat, method="EE")
    np.testing.assert_allclose(ee.params, fits["lm"].params, rtol=1e-8)


def test_rma_protocol_agrees_with_the_metafor_fields(rma_fit):
    names = ["(Intercept)", "ablat"]
    assert list(rma_fit.params.index) == names and list(rma_fit.vb.index) == ["intrcpt", "ablat"]
    np.testing.assert_array_equal(rma_fit.params.to_numpy(), rma_fit.beta.to_numpy())
    np.testing.assert_array_equal(rma_fit.vcov().to_numpy(), rma_fit.vb.to_numpy())
    ci = rma_fit.confint()
    np.testing.assert_allclose(ci.loc[names, "lower"], rma_fit.ci_lb.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ci.loc[names, "upper"], rma_fit.ci_ub.to_numpy(), rtol=1e-12)
    assert rma_fit.nobs == rma_fit.k and rma_fit.df_resid == rma_fit.k - rma_fit.p


def test_lmer_variance_rows_are_lme4s_standard_deviations(lmer_fit):
    """.sig01 and .sigma of confint() and tidy() are the standard deviations of VarCorr."""
    vc = lmer_fit.varcorr
    ci = lmer_fit.confint("Wald")
    np.testing.assert_allclose(ci.loc[[".sig01", ".sigma"], "estimate"], vc["sdcor"], rtol=1e-12)
    assert list(ci["kind"]) == ["random", "random", "fixed", "fixed"]
    tidy = lmer_fit.tidy()
    np.testing.assert_allclose(tidy.set_index("term").loc[[".sig01", ".sigma"], "estimate"], vc["sdcor"],
                               rtol=1e-12)


def test_lm_loglik_matches_r(lm_fit):
    """R: logLik(lm(Reaction ~ Days, sleepstudy)) = -950.1465282 (df = 3); AIC 1906.293056, BIC 1915.871927."""
    assert lm_fit.loglik == pytest.approx(-950.1465282, rel=1e-9)
    assert lm_fit.aic == pytest.approx(1906.293056, rel=1e-9)
    assert lm_fit.bic == pytest.approx(1915.871927, rel=1e-9)
    assert lm_fit.fitstats()["deviance"] == pytest.approx(405251.61748, rel=1e-9)


def test_lm_list_predict_by_group(lm_list_fit, sleep):
    new = pd.DataFrame({"Days": [0.0, 1.0], "Subject": ["308", "309"]}, index=["a", "b"])
    pred = lm_list_fit.predict(new)
    assert list(pred.index) == ["a", "b"]
    np.testing.assert_allclose(pred, [lm_list_fit["308"].params.iloc[0],
                                      lm_list_fit["309"].params.sum()], rtol=1e-12)
    with pytest.raises(ml.DataError, match="Subject"):
        lm_list_fit.predict(pd.DataFrame({"Days": [0.0], "Subject": ["999"]}))


def test_fitstats_is_one_type(rma_fit, rma_mv_fit, lmer_fit, lm_fit):
    """rma_mv's fitstats() was a one-column DataFrame, rma's a Series."""
    for fit in (rma_fit, rma_mv_fit, lmer_fit, lm_fit):
        assert isinstance(fit.fitstats(), pd.Series)


@pytest.mark.parametrize("fixture", ["rma_mh_fit", "rma_peto_fit", "rma_glmm_fit"])
def test_pooled_fits_name_the_coefficient_as_r(request, fixture):
    """The pooled effect of rma_mh / rma_peto / rma_glmm is ``(Intercept)`` in the protocol (as in rma);
    the printed report keeps metafor's layout (an intercept-only model prints no coefficient name)."""
    fit = request.getfixturevalue(fixture)
    assert list(fit.params.index) == ["(Intercept)"]
    assert list(fit.vcov().index) == ["(Intercept)"] and list(fit.vcov().columns) == ["(Intercept)"]
    assert list(_confint(fit).index) == ["(Intercept)"]
    assert list(fit.tidy()["term"]) == ["(Intercept)"]
    assert "(Intercept)" not in str(fit.summary())
    assert list(fit.summary().to_frame().index) == ["intrcpt"]  # metafor's model-results table
