"""regtest, ranktest, trimfill and fsn against metafor 3.8-1 on dat.bcg, dat.hackshaw1998, dat.molloy2014
and a simulated 100-study meta-analysis: test statistics, p-values, limit estimates, k0 and its SE, the
filled fit, fail-safe numbers, and the printed output (line for line).

Fixtures: tools/fixtures/meta_bias.R -> tests/fixtures/meta/meta_bias.json.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.meta.bias._core import inversions_cdf, kendall_test, trimfill_step

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_bias.json").read_text())
RTOL = 1e-9  # every quantity (observed: 3e-13 or better); the algorithms follow metafor's step by step


def close(got, want, rtol=RTOL, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


def printed(ref):
    return [s.rstrip() for s in ref["print"]]


@pytest.fixture(scope="module")
def datasets():
    bcg = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    bcg = bcg.assign(n=bcg["tpos"] + bcg["tneg"] + bcg["cpos"] + bcg["cneg"])
    molloy = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
    sim = pd.DataFrame({key: FIXTURE["data"]["sim100"][key] for key in ("yi", "vi", "ni")})
    return {"bcg": bcg, "hackshaw1998": ml.datasets.load("hackshaw1998"), "molloy2014": molloy, "sim100": sim}


_FITS = {}


def fit_of(datasets, call):
    key = (call["data"], call["method"], call["test"], call["mods"], call["weights"])
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.MultilevelWarning)
            _FITS[key] = ml.rma("yi", "vi", data=datasets[call["data"]], method=call["method"], test=call["test"],
                                mods=call["mods"], weights=call["weights"])
    return _FITS[key]


@pytest.mark.parametrize("name", list(FIXTURE["data"]))
def test_inputs_match_metafor(datasets, name):
    close(datasets[name]["yi"], FIXTURE["data"][name]["yi"], 1e-13)
    close(datasets[name]["vi"], FIXTURE["data"][name]["vi"], 1e-13)


# ------------------------------------------------------------------------------------------ regtest
def run_regtest(datasets, ref):
    fit = fit_of(datasets, ref["fit"])
    ni = None if ref["ni"] is None else datasets[ref["fit"]["data"]][ref["ni"]]
    return ml.regtest(fit, model=ref["model"], predictor=ref["predictor"], ret_fit=ref["ret_fit"], ni=ni)


@pytest.mark.parametrize("key", list(FIXTURE["regtest"]))
def test_regtest_numbers(datasets, key):
    ref = FIXTURE["regtest"][key]
    res = run_regtest(datasets, ref)
    close(res.zval, ref["zval"])
    close(res.pval, ref["pval"], atol=0)
    assert (res.ddf is None) == (ref["ddf"] is None)
    if ref["ddf"] is not None:
        close(res.ddf, ref["ddf"])
    if ref["est"] is None:
        assert res.est is None and res.ci_lb is None and res.ci_ub is None
    else:
        close([res.est, res.ci_lb, res.ci_ub], [ref["est"], ref["ci_lb"], ref["ci_ub"]])
    if ref["model"] == "rma":
        close(res.fit.beta, ref["fit_beta"])
        close(res.fit.se, ref["fit_se"])
        close(res.fit.tau2, ref["fit_tau2"])
    else:
        close(res.fit.beta, ref["fit_beta"])
        close(res.fit.se, ref["fit_se"])


@pytest.mark.parametrize("key", list(FIXTURE["regtest"]))
def test_regtest_print(datasets, key):
    ref = FIXTURE["regtest"][key]
    assert str(run_regtest(datasets, ref)).split("\n") == printed(ref)


def test_regtest_on_vectors_matches_the_fit(datasets):
    dat = datasets["hackshaw1998"]
    a = ml.regtest("yi", vi="vi", data=dat)
    b = ml.regtest(ml.rma("yi", "vi", data=dat))
    assert (a.zval, a.pval, a.est) == pytest.approx((b.zval, b.pval, b.est), rel=1e-12)
    c = ml.regtest(dat["yi"].to_numpy(), model="lm", sei=np.sqrt(dat["vi"].to_numpy()))
    ref = FIXTURE["regtest"]["hackshaw_lm"]
    close([c.zval, c.pval, c.est], [ref["zval"], ref["pval"], ref["est"]])


def test_regtest_to_frame(datasets):
    res = ml.regtest(fit_of(datasets, FIXTURE["regtest"]["bcg_DL_knha"]["fit"]))
    frame = res.to_frame()
    assert list(frame.columns) == ["model", "predictor", "statistic", "ddf", "pval", "est", "ci_lb", "ci_ub"]
    assert frame.loc[0, "ddf"] == 11 and res.dfs == 11


def test_regtest_lm_fit_table(datasets):
    res = ml.regtest(fit_of(datasets, FIXTURE["regtest"]["bcg_lm"]["fit"]), model="lm", ret_fit=True)
    table = res.fit.to_frame()
    assert list(table.index) == ["Xintrcpt", "Xsei"]
    close(table["se"], FIXTURE["regtest"]["bcg_lm"]["fit_se"])
    assert "Coefficients:" in str(res)


# ------------------------------------------------------------------------------------------ ranktest
@pytest.mark.parametrize("key", list(FIXTURE["ranktest"]))
def test_ranktest(datasets, key):
    ref = FIXTURE["ranktest"][key]
    fit = fit_of(datasets, ref["fit"])
    res = ml.ranktest(fit)
    close(res.tau, ref["tau"])
    close(res.pval, ref["pval"], atol=0)
    assert res.exact == (np.unique(fit.vi).size == fit.k)  # molloy2014 has tied variances
    assert str(res).split("\n") == printed(ref)


@pytest.mark.parametrize("key", list(FIXTURE["ranktest_vectors"]))
def test_ranktest_with_ties_uses_the_normal_approximation(key):
    ref = FIXTURE["ranktest_vectors"][key]
    res = ml.ranktest(ref["yi"], ref["vi"])
    close([res.tau, res.pval], [ref["tau"], ref["pval"]])
    assert not res.exact
    assert str(res).split("\n") == printed(ref)


def test_inversions_distribution_against_enumeration():
    from itertools import permutations

    n = 6
    counts = np.zeros(n * (n - 1) // 2 + 1)
    for perm in permutations(range(n)):
        counts[sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))] += 1
    cdf = np.cumsum(counts) / counts.sum()
    assert [inversions_cdf(q, n) for q in range(-1, 17)] == pytest.approx([0.0, *cdf, 1.0], rel=1e-14)


def test_kendall_exact_large_sample_is_symmetric():
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    tau, p, exact = kendall_test(x, y)
    tau2, p2, _ = kendall_test(x, -y)
    assert exact and tau2 == pytest.approx(-tau) and p2 == pytest.approx(p, rel=1e-12)


# ------------------------------------------------------------------------------------------ trimfill
def run_trimfill(datasets, ref):
    fit = fit_of(datasets, ref["fit"])
    return ml.trimfill(fit, side=ref["side_arg"], estimator=ref["estimator"])


@pytest.mark.parametrize("key", list(FIXTURE["trimfill"]))
def test_trimfill_numbers(datasets, key):
    ref = FIXTURE["trimfill"][key]
    tf = run_trimfill(datasets, ref)
    assert (tf.k0, tf.side, tf.k) == (ref["k0"], ref["side"], ref["k"])
    close(tf.se_k0, ref["se_k0"])
    if ref["p_k0"] is None:
        assert np.isnan(tf.p_k0)
    else:
        close(tf.p_k0, ref["p_k0"])
    assert tf.filled.tolist() == ref["fill"]
    close(tf.yi, ref["yi"], 1e-10)
    close(tf.vi, ref["vi"], 1e-12)
    for ours, theirs in [("beta", "beta"), ("se", "se"), ("zval", "zval"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"),
                         ("tau2", "tau2"), ("QE", "QE"), ("I2", "I2"), ("H2", "H2")]:
        close(getattr(tf, ours), ref[theirs], atol=1e-10)
    close(tf.pval, ref["pval"], atol=0)
    if not np.isnan(tf.se_tau2):
        close(tf.se_tau2, ref["se_tau2"])


@pytest.mark.parametrize("key", list(FIXTURE["trimfill"]))
def test_trimfill_print(datasets, key):
    ref = FIXTURE["trimfill"][key]
    tf = run_trimfill(datasets, ref)
    assert str(tf).split("\n") == printed(ref)
    assert str(tf.summary()).split("\n") == [s.rstrip() for s in ref["summary"]]


def test_trimfill_labels_and_funnel_fields(datasets):
    ref = FIXTURE["trimfill"]["hackshaw1998"]
    tf = run_trimfill(datasets, ref)
    assert isinstance(tf, ml.RmaFit) and isinstance(tf, ml.RmaTrimfillFit)
    assert tf.slab[-ref["k0"]:] == tuple(f"Filled {i}" for i in range(1, ref["k0"] + 1))
    assert not tf.filled.flags.writeable
    assert tf.yi.shape == tf.vi.shape == tf.filled.shape
    assert str(tf.summary()).split("\n")[1] == printed(ref)[1]


def test_funnel_of_a_trimfill_fit_plots_every_study(datasets):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tf = run_trimfill(datasets, FIXTURE["trimfill"]["hackshaw1998"])
    fig = ml.funnel(tf)
    points = {c.get_gid(): np.asarray(c.get_offsets()) for c in fig.axes[0].collections
              if c.get_gid() in ("points", "filled")}
    assert points["points"].shape[0] + points["filled"].shape[0] == tf.k == 44
    # the imputed studies are the open circles, the observed ones solid
    np.testing.assert_array_equal(points["filled"][:, 0], tf.yi[tf.filled])
    np.testing.assert_array_equal(points["points"][:, 0], tf.yi[~tf.filled])
    np.testing.assert_allclose(points["filled"][:, 1], np.sqrt(tf.vi[tf.filled]))
    filled = next(c for c in fig.axes[0].collections if c.get_gid() == "filled")
    assert tuple(filled.get_facecolor()[0]) == (1.0, 1.0, 1.0, 1.0)
    assert tf.fill is tf.filled
    plt.close(fig)


FUNNEL_RTOL = 1e-6  # the drawn coordinates: the data exactly, the centre and the regions from the filled fit


def trimfill_funnel(datasets, ref):
    """ml.funnel of the trimfill fit with the case's options (metafor's vector ``level`` with
    ``refline = 0`` is our contour-enhanced funnel)."""
    import matplotlib

    matplotlib.use("Agg")
    tf = run_trimfill(datasets, ref)
    level = ref["level"]
    if isinstance(level, list):
        return tf, ml.funnel(tf, contours=[v / 100 for v in level], refline=ref["refline_arg"])
    return tf, ml.funnel(tf, level=level, refline=ref["refline_arg"])


def drawn(ax, gid):
    return [a for a in [*ax.lines, *ax.collections] if a.get_gid() == gid]


@pytest.mark.parametrize("key", list(FIXTURE["trimfill_funnel"]))
def test_funnel_of_a_trimfill_fit_draws_what_metafor_draws(datasets, key):
    """Points (observed solid, filled open), centre line, pseudo confidence regions and window
    against the coordinates metafor's funnel() draws for the same trimfill fit."""
    import matplotlib.pyplot as plt

    ref = FIXTURE["trimfill_funnel"][key]
    tf, fig = trimfill_funnel(datasets, ref)
    ax = fig.axes[0]
    fill = np.array(ref["fill"], dtype=bool)
    assert tf.filled.tolist() == ref["fill"] and (tf.k0, tf.side) == (ref["k0"], ref["side"])
    x, y = np.array(ref["x"]), np.array(ref["y"])
    close(drawn(ax, "points")[0].get_offsets(), np.column_stack([x[~fill], y[~fill]]), FUNNEL_RTOL)
    filled = drawn(ax, "filled")
    assert len(filled) == int(fill.any())
    if fill.any():
        close(filled[0].get_offsets(), np.column_stack([x[fill], y[fill]]), FUNNEL_RTOL)
    close(drawn(ax, "refline")[0].get_xdata(), [ref["refline"]] * 2, FUNNEL_RTOL, 1e-12)
    lower, upper = drawn(ax, "region_lower"), drawn(ax, "region_upper")
    assert len(lower) == len(upper) == len(ref["regions"])  # from the widest region to the narrowest
    for lo, hi, want in zip(lower, upper, ref["regions"]):
        at = np.array(want["y"])
        close(np.interp(at, lo.get_ydata(), lo.get_xdata()), want["lower"], FUNNEL_RTOL, 1e-12)
        close(np.interp(at, hi.get_ydata(), hi.get_xdata()), want["upper"], FUNNEL_RTOL, 1e-12)
    close([*ax.get_xlim(), *ax.get_ylim()], ref["usr"], FUNNEL_RTOL, 1e-12)
    plt.close(fig)


def test_trimfill_keeps_the_fit_when_nothing_is_missing(datasets):
    fit = fit_of(datasets, FIXTURE["trimfill"]["bcg_left"]["fit"])
    tf = ml.trimfill(fit, side="left")
    assert tf.k0 == 0 and tf.k == fit.k and not tf.filled.any()
    assert tf.beta.equals(fit.beta)


def test_trimfill_step_estimators():
    centred = np.array([-0.5, -0.2, 0.1, 0.3, 0.6, 0.9])
    # signed ranks -4, -2, 1, 3, 5, 6: Sr = 15, k = 6
    k0, se = trimfill_step(centred, "L0")
    assert k0 == round((4 * 15 - 42) / 11)
    k0, se = trimfill_step(centred, "R0")
    assert k0 == 6 - 4 - 1 and se == pytest.approx(np.sqrt(2 * 1 + 2))


# ------------------------------------------------------------------------------------------ fsn
@pytest.mark.parametrize("key", list(FIXTURE["fsn"]))
def test_fsn(datasets, key):
    ref = FIXTURE["fsn"][key]
    dat = datasets[ref["data"]]
    res = ml.fsn("yi", "vi", data=dat, type=ref["type"], alpha=ref["alpha"], target=ref["target_arg"],
                 weighted=ref["weighted"], test=ref["test"])
    assert res.fsnum == ref["fsnum"]
    for name in ("pval", "meanes", "target"):
        if ref[name] is None:
            assert np.isnan(getattr(res, name))
        else:
            close(getattr(res, name), ref[name], atol=0)
    assert str(res).split("\n") == printed(ref)


def test_fsn_and_ranktest_accept_fits_and_standard_errors(datasets):
    dat = datasets["hackshaw1998"]
    fit = ml.rma("yi", "vi", data=dat)
    ref = FIXTURE["fsn"]["hackshaw_Rosenberg"]
    assert ml.fsn(fit, type="Rosenberg").fsnum == ref["fsnum"]
    res = ml.ranktest(dat["yi"], sei=np.sqrt(dat["vi"]))
    close([res.tau, res.pval], [FIXTURE["ranktest"]["hackshaw1998"]["tau"], FIXTURE["ranktest"]["hackshaw1998"]["pval"]])


def test_regtest_keeps_the_level_of_the_fit(datasets):
    fit90 = ml.rma("yi", "vi", data=datasets["bcg"], level=90)
    res = ml.regtest(fit90)
    assert res.fit.level == pytest.approx(90)
    half = res.ci_ub - res.est
    ref = FIXTURE["regtest"]["bcg_sei"]
    assert half == pytest.approx((ref["ci_ub"] - ref["est"]) * 1.6448536269514722 / 1.959963984540054, rel=1e-12)


def test_fsn_orwin_needs_no_variances(datasets):
    res = ml.fsn("yi", data=datasets["bcg"], type="Orwin")
    assert res.fsnum == FIXTURE["fsn"]["bcg_Orwin"]["fsnum"]


def test_fsn_orwin_zero_target_is_infinite(datasets):
    res = ml.fsn("yi", data=datasets["bcg"], type="Orwin", target=0)
    assert res.fsnum == np.inf and str(res).split("\n")[-2] == "Fail-safe N: Inf"


def test_fsn_large_numbers_print_as_r():
    from multilevel.meta.bias._fsn import _r_number

    res = ml.fsn(np.full(50, 1.0), np.full(50, 0.01))
    assert res.fsnum == 92353.0  # (50 * 10)^2 / 1.6449^2 - 50, rounded up; metafor prints the same
    assert str(res).split("\n")[-2] == "Fail-safe N: 92353"
    # R's cat() output of 1e5, 1234567, 12345678, 0.05 and 0.1
    assert [_r_number(x) for x in (1e5, 1234567.0, 12345678.0, 0.05, 0.1)] == [
        "1e+05", "1234567", "12345678", "0.05", "0.1"]


# ------------------------------------------------------------------------------------------ errors
def test_errors(datasets):
    fit = fit_of(datasets, FIXTURE["regtest"]["bcg_mods"]["fit"])
    with pytest.raises(ml.ModelSpecificationError, match="without moderators"):
        ml.trimfill(fit)
    plain = fit_of(datasets, FIXTURE["regtest"]["bcg_sei"]["fit"])
    with pytest.raises(ml.ArgumentError, match="estimator"):
        ml.trimfill(plain, estimator="L1")
    with pytest.raises(ml.ArgumentError, match="side"):
        ml.trimfill(plain, side="up")
    with pytest.raises(ml.ArgumentError, match="predictor"):
        ml.regtest(plain, predictor="n")
    with pytest.raises(ml.ArgumentError, match="needs the sample sizes"):
        ml.regtest(plain, predictor="ni")
    with pytest.raises(ml.DataError, match="ni has 3 values"):
        ml.regtest(plain, predictor="ni", ni=[1, 2, 3])
    with pytest.raises(ml.ArgumentError, match="model"):
        ml.regtest(plain, model="glm")
    with pytest.raises(ml.ArgumentError, match="type"):
        ml.fsn("yi", "vi", data=datasets["bcg"], type="REM")
    with pytest.raises(ml.ArgumentError, match="alpha"):
        ml.fsn("yi", "vi", data=datasets["bcg"], alpha=5)
    with pytest.raises(ml.ArgumentError, match="exactly one of vi"):
        ml.ranktest("yi", data=datasets["bcg"])
    with pytest.raises(ml.UnknownColumnError):
        ml.ranktest("yi", "v", data=datasets["bcg"])
    with pytest.raises(ml.DataError, match="positive"):
        ml.ranktest([0.1, 0.2, 0.3], [0.1, -0.1, 0.2])


def test_other_fits_are_rejected_clearly():
    dat = ml.datasets.load("konstantopoulos2011")
    mv = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat)
    with pytest.raises(ml.ArgumentError, match="RmaMvFit"):
        ml.ranktest(mv)
    with pytest.raises(ml.ArgumentError, match="RmaMvFit"):
        ml.regtest(mv)
    with pytest.raises(ml.ArgumentError, match="RmaMvFit"):
        ml.trimfill(mv)


def test_missing_values_are_dropped_with_a_warning(datasets):
    dat = datasets["bcg"].copy()
    dat.loc[0, "yi"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="1 studies"):
        res = ml.ranktest("yi", "vi", data=dat)
    assert res.k == 12
