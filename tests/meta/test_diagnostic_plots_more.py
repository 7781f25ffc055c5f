"""The QQ-plot envelope (simulated residuals, quantiles and the super smoother) and the L'Abbe plot
against metafor 3.8-1.

The envelope's normal draws come from R (its generator is not reproduced): the fixture holds the
draws and the lines metafor drew from them; the L'Abbe cases hold metafor's points, point sizes
and estimated-effect line for rma fits from 2x2 tables and rma.mh fits.

Fixtures: tools/fixtures/meta_plots_more.R -> tests/fixtures/meta/meta_plots_more.json.
"""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.meta.diagnostics._case import hat_matrix
from multilevel.meta.diagnostics._points import qq_envelope
from multilevel.meta.diagnostics._supsmu import supsmu

matplotlib.use("Agg")
FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_plots_more.json").read_text())
RTOL = 1e-4  # the project's bar; these agree to ~1e-13


def close(got, want, rtol=RTOL, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def data():
    bcg = ml.datasets.load("bcg")
    rr = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    return {"bcg_tables": bcg, "bcg": rr, "bcg8": rr.head(8),
            **{name: pd.DataFrame(FIXTURE["data"][name]) for name in ("nielweise2007", "nielweise2008", "hart1999")}}


def test_fixture_versions():
    assert FIXTURE["versions"]["metafor"] == "3.8.1"


# ------------------------------------------------------------------------------------------ supsmu
@pytest.mark.parametrize("case", FIXTURE["supsmu"]["cases"], ids=lambda c: f"bass{c['bass']}")
def test_supsmu_matches_r(case):
    """R's supsmu on scattered data with tied abscissae, for several bass settings."""
    x, y = supsmu(np.array(FIXTURE["supsmu"]["x"]), np.array(FIXTURE["supsmu"]["y"]), bass=case["bass"])
    close(x, case["x"])
    close(y, case["y"])


def test_supsmu_of_constant_abscissa_is_the_mean():
    x, y = supsmu(np.ones(5), np.arange(5.0))
    close(x, [1.0])
    close(y, [2.0])


# ------------------------------------------------------------------------------------------ qqnorm envelope
QQ = FIXTURE["qqnorm"]


@pytest.mark.parametrize("case", list(QQ))
def test_qqnorm_envelope_lines(data, case):
    ref = QQ[case]
    call = ref["call"]
    fit = ml.rma("yi", "vi", data=data[call["data"]], method=call["method"], mods=call["mods"])
    H = hat_matrix(fit.design.X, fit.vi, fit.tau2, fit.weights)
    opts = ref["options"] if isinstance(ref["options"], dict) else {}
    lower, upper = qq_envelope(H, np.array(ref["draws"]), fit.level, bonferroni=opts.get("bonferroni", False),
                               smooth=opts.get("smooth", True), bass=opts.get("bass", 0))
    for (x, y), want in ((lower, ref["lower"]), (upper, ref["upper"])):
        close(x, want["x"])
        close(y, want["y"])


def test_qqnorm_draws_the_smoothed_envelope(data):
    """The plotted dotted lines are the smoothed envelope of the plot's own draws."""
    fit = ml.rma("yi", "vi", data=data["bcg"])
    fig = ml.qqnorm(fit, reps=200, seed=3, bass=4)
    env = [line for line in fig.axes[0].lines if line.get_gid() == "envelope"]
    assert len(env) == 2
    draws = np.random.default_rng(3).standard_normal((fit.k, 200))
    H = hat_matrix(fit.design.X, fit.vi, fit.tau2, fit.weights)
    for line, (x, y) in zip(env, qq_envelope(H, draws, fit.level, bass=4)):
        close(line.get_xdata(), x, rtol=0, atol=0)
        close(line.get_ydata(), y, rtol=0, atol=0)
    assert not np.allclose(env[0].get_ydata(), qq_envelope(H, draws, fit.level, smooth=False)[0][1])
    with pytest.raises(ml.ArgumentError, match="bass"):
        ml.qqnorm(fit, bass=11)
    with pytest.raises(ml.ArgumentError, match="reps"):
        ml.qqnorm(fit, reps=1)


# ------------------------------------------------------------------------------------------ labbe
LABBE = FIXTURE["labbe"]


def _labbe_cells(call):
    if call.get("rates"):
        return {n: n for n in ("x1i", "t1i", "x2i", "t2i")}
    if call.get("groups"):
        return {"ai": "ai", "n1i": "n1i", "ci": "ci", "n2i": "n2i"}
    return {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}


def _labbe_figure(data, call):
    """The L'Abbe plot of the fixture's call: an rma_mh fit draws the tables it keeps, an rma fit
    is given them."""
    dat = data["bcg_tables"] if call["data"] == "bcg" else data[call["data"]]
    cells = _labbe_cells(call)
    if call["fit"] == "rma_mh":
        extra = {k: call[k] for k in ("add", "to", "drop00") if k in call}
        return ml.labbe(ml.rma_mh(measure=call["measure"], data=dat, **cells, **extra))
    es = ml.escalc(call["measure"], data=dat, **cells)
    fit = ml.rma("yi", "vi", data=es, method=call.get("method", "REML"))
    return ml.labbe(fit, data=dat, measure=call["measure"], **cells)


@pytest.mark.parametrize("case", list(LABBE))
def test_labbe_points_sizes_and_effect_line(data, case):
    ref = LABBE[case]
    ax = _labbe_figure(data, ref["call"]).axes[0]
    order = np.argsort(-np.asarray(ref["cex"]), kind="stable")
    offsets = ax.collections[0].get_offsets()
    close(offsets[:, 0], np.asarray(ref["x"])[order])
    close(offsets[:, 1], np.asarray(ref["y"])[order])
    close(ax.collections[0].get_sizes(), 30 * np.asarray(ref["cex"])[order] ** 2)
    cx, cy = ax.lines[1].get_data()
    close(cx, ref["line_x"])
    close(cy, ref["line_y"])


def test_labbe_refuses_peto_fits_and_bad_tables(data):
    bcg = data["bcg_tables"]
    peto = ml.rma_peto(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    assert "measure" in FIXTURE["labbe_peto_error"]
    with pytest.raises(ml.ArgumentError, match="measure"):
        ml.labbe(peto, ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    mh = ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, measure="RR")
    with pytest.raises(ml.ArgumentError, match="contradicts"):
        ml.labbe(mh, ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, measure="OR")
    with pytest.raises(ml.ArgumentError, match="n1i"):
        ml.labbe(mh, ai="tpos", ci="cpos", di="cneg", data=bcg)
    with pytest.raises(ml.ArgumentError, match="rma_mh"):
        ml.labbe(ml.lm("tpos ~ ablat", bcg), ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    fit = ml.rma("yi", "vi", data=data["bcg"])
    with pytest.raises(ml.DataError, match="one value per study"):
        ml.labbe(fit, ai=[1, 2], bi=[3, 4], ci=[1, 2], di=[3, 4])
    with pytest.raises(ml.DataError, match="one value per study"):
        ml.labbe(mh, ai=[1, 2], bi=[3, 4], ci=[1, 2], di=[3, 4])
    with pytest.raises(ml.ArgumentError, match="labbe needs ai"):
        ml.labbe(fit)  # an rma fit keeps no tables
    with pytest.raises(ml.ArgumentError, match="t1i"):
        ml.labbe(fit, measure="IRR", x1i=[1, 2], x2i=[1, 2])


def test_rma_mh_keeps_its_tables_as_given(data):
    """The fit keeps every row's counts before any correction or dropping; they cannot be changed."""
    nw = data["nielweise2007"]
    with pytest.warns(ml.MissingDataWarning):  # the table without events, dropped at both stages
        mh = ml.rma_mh(ai="ai", n1i="n1i", ci="ci", n2i="n2i", data=nw, measure="RR", drop00=(True, True))
    np.testing.assert_array_equal(mh.counts["bi"], nw["n1i"] - nw["ai"])
    np.testing.assert_array_equal(mh.counts["ci"], nw["ci"])
    assert mh.counts["ai"].size == len(nw) == mh.k + 1
    with pytest.raises(ValueError):
        mh.counts["ai"][0] = 1.0
    hart = data["hart1999"]
    rates = ml.rma_mh(measure="IRD", x1i="x1i", t1i="t1i", x2i="x2i", t2i="t2i", data=hart)
    assert sorted(rates.counts) == ["t1i", "t2i", "x1i", "x2i"]
    np.testing.assert_array_equal(rates.counts["t2i"], hart["t2i"])
