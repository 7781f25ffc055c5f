"""Influence and model diagnostics against metafor 3.8-1: influence() (every column, the flag and the
printed table), leave1out(), cumul(), rstandard(), rstudent(), hatvalues(), cooks.distance(), dfbetas(),
weights(), the coordinates of baujat(), radial() and qqnorm(), gosh() over all subsets, vif(), exact
permutest() (exactly) and a sampled one (within Monte Carlo error), and for rma.mv fits
cooks.distance(), rstandard(), hatvalues() (diagonal and matrix) and dfbetas() per estimate and per
cluster.

Fixtures: tools/fixtures/meta_influence.R -> tests/fixtures/meta/meta_influence.json and
tools/fixtures/meta_influence_mv.R -> tests/fixtures/meta/meta_influence_mv.json (rma.mv).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import block_diag

import multilevel as ml
from multilevel.meta.diagnostics._points import baujat_points, qq_points, radial_points

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_influence.json").read_text())
RTOL = 1e-4  # the project's bar; most quantities agree to 1e-8 or better (see test_agreement_is_tight)


def close(got, want, rtol=RTOL, atol=1e-10):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float).reshape(got.shape)  # None (R's NA) becomes NaN
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def lines(text):
    return [s.rstrip() for s in str(text).split("\n")]


@pytest.fixture(scope="module")
def datasets():
    bcg = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    bcg = bcg.assign(n=bcg["tpos"] + bcg["tneg"] + bcg["cpos"] + bcg["cneg"])
    hack = ml.datasets.load("hackshaw1998")
    return {"bcg": bcg, "hackshaw1998": hack, "bcg8": bcg.head(8), "bcg6": bcg.head(6), "bcg10": bcg.head(10), "hackshaw9": hack.head(9),
            "hackshaw8": hack.head(8),
            "konstantopoulos2011": ml.datasets.load("konstantopoulos2011")}


_FITS = {}


def fit_of(datasets, call):
    key = json.dumps(call, sort_keys=True)
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.MultilevelWarning)
            if "random" in call:
                _FITS[key] = ml.rma_mv("yi", "vi", random=call["random"], mods=call["mods"],
                                       data=datasets[call["data"]])
            else:
                _FITS[key] = ml.rma("yi", "vi", data=datasets[call["data"]], method=call["method"],
                                    test=call["test"], mods=call["mods"], weights=call.get("weights"))
    return _FITS[key]


RMA = FIXTURE["rma"]
INT_ONLY = [k for k, v in RMA.items() if "leave1out" in v]
_INFL = {"rstudent": "rstudent", "dffits": "dffits", "cook.d": "cook_d", "cov.r": "cov_r", "tau2.del": "tau2_del",
         "QE.del": "QE_del", "hat": "hat", "weight": "weight"}


def test_fixture_versions():
    assert FIXTURE["versions"]["metafor"] == "3.8.1"


# ------------------------------------------------------------------------------------------ influence
@pytest.mark.parametrize("case", list(RMA))
def test_influence_columns(datasets, case):
    ref = RMA[case]
    inf = ml.influence(fit_of(datasets, ref["call"]))
    frame = inf.to_frame()
    for r_name, py_name in _INFL.items():
        close(frame[py_name], ref["influence"][r_name])
    assert frame["inf"].tolist() == [bool(b) for b in ref["influence"]["is_infl"]]
    close(inf.dfbetas.to_numpy().T, list(ref["dfbetas"].values()))


@pytest.mark.parametrize("case", list(RMA))
def test_influence_prints_as_metafor(datasets, case):
    ref = RMA[case]
    assert lines(ml.influence(fit_of(datasets, ref["call"]))) == [s.rstrip() for s in ref["influence_printed"]]


@pytest.mark.parametrize("case", list(RMA))
def test_residuals_and_leverages(datasets, case):
    ref = RMA[case]
    fit = fit_of(datasets, ref["call"])
    for got, want in ((ml.rstandard(fit), ref["rstandard"]), (ml.rstudent(fit), ref["rstudent"])):
        frame = got.to_frame()
        for col in ("resid", "se", "z"):
            close(frame[col], want[col])
    if "rstandard_conditional" in ref:
        frame = ml.rstandard(fit, type="conditional").to_frame()
        for col in ("resid", "se", "z"):
            close(frame[col], ref["rstandard_conditional"][col])
    close(ml.hatvalues(fit), ref["hatvalues"])
    close(ml.cooks_distance(fit), ref["cooks"])
    close(ml.influence(fit).to_frame()["weight"], ref["weights"])
    close(ml.dfbetas(fit).to_numpy().T, list(ref["dfbetas"].values()))


@pytest.mark.parametrize("case", list(RMA))
def test_residual_tables_print_as_metafor(datasets, case):
    ref = RMA[case]
    fit = fit_of(datasets, ref["call"])
    assert lines(ml.rstandard(fit)) == [s.rstrip() for s in ref["rstandard_printed"]]
    assert lines(ml.rstudent(fit)) == [s.rstrip() for s in ref["rstudent_printed"]]


# ------------------------------------------------------------------------------------------ leave1out, cumul
@pytest.mark.parametrize("case", INT_ONLY)
def test_leave1out(datasets, case):
    ref = RMA[case]
    fit = fit_of(datasets, ref["call"])
    res = ml.leave1out(fit)
    frame = res.to_frame()
    for r_name, want in ref["leave1out"].items():
        py_name = {"ci.lb": "ci_lb", "ci.ub": "ci_ub"}.get(r_name, r_name)
        close(frame[py_name], want)
    assert lines(res) == [s.rstrip() for s in ref["leave1out_printed"]]
    assert lines(ml.leave1out(fit, transf=np.exp)) == [s.rstrip() for s in ref["leave1out_exp_printed"]]


@pytest.mark.parametrize("case", INT_ONLY)
def test_cumul(datasets, case):
    ref = RMA[case]
    fit = fit_of(datasets, ref["call"])
    res = ml.cumul(fit)
    frame = res.to_frame()
    for r_name, want in ref["cumul"].items():
        py_name = {"ci.lb": "ci_lb", "ci.ub": "ci_ub", "pvals": "pval"}.get(r_name, r_name)
        close(frame[py_name], want)
    assert lines(res) == [s.rstrip() for s in ref["cumul_printed"]]
    ordered = ml.cumul(fit, order=fit.yi)
    assert [str(s) for s in ordered.to_frame().index] == ref["cumul_order_yi_slab"]
    close(ordered.to_frame()["estimate"], ref["cumul_order_yi"]["estimate"])
    close(ordered.to_frame()["tau2" if "tau2" in ref["cumul_order_yi"] else "I2"],
          ref["cumul_order_yi"]["tau2" if "tau2" in ref["cumul_order_yi"] else "I2"])


# ------------------------------------------------------------------------------------------ plot coordinates
@pytest.mark.parametrize("case", list(RMA))
def test_plot_coordinates(datasets, case):
    ref = RMA[case]
    fit = fit_of(datasets, ref["call"])
    xx, yy = baujat_points(fit)
    close(xx, ref["baujat"]["x"])
    close(yy, ref["baujat"]["y"])
    qx, qy = qq_points(ml.rstandard(fit).to_frame()["z"].to_numpy())
    close(qx, ref["qqnorm"]["x"])
    close(qy, ref["qqnorm"]["y"])
    if "radial" in ref:
        rx, rz = radial_points(fit)
        close(rx, ref["radial"]["x"])
        close(rz, ref["radial"]["y"])


# ------------------------------------------------------------------------------------------ vif
@pytest.mark.parametrize("case", [k for k, v in RMA.items() if "vif" in v])
def test_vif(datasets, case):
    ref = RMA[case]["vif"]
    res = ml.vif(fit_of(datasets, RMA[case]["call"]))
    close(res.to_frame()["vif"], ref["vif"])
    close(res.to_frame()["sif"], np.sqrt(ref["vif"]))
    assert list(res.to_frame().index) == ref["names"]
    assert lines(res) == [s.rstrip() for s in ref["printed"]]
    table = ml.vif(fit_of(datasets, RMA[case]["call"]), table=True)
    assert lines(table) == [s.rstrip() for s in ref["table_printed"]]
    assert np.isnan(table.to_frame()["vif"].iloc[0])


# ------------------------------------------------------------------------------------------ gosh
@pytest.mark.parametrize("case", list(FIXTURE["gosh"]))
def test_gosh_all_subsets(datasets, case):
    ref = FIXTURE["gosh"][case]
    res = ml.gosh(fit_of(datasets, ref["call"]))
    assert res.exact
    codes = (res.incl * (2 ** np.arange(res.incl.shape[1]))).sum(axis=1)
    assert codes.tolist() == ref["res"]["incl"]
    frame = res.to_frame()
    for col, want in ref["res"].items():
        if col != "incl":
            close(frame[col], want)


# ------------------------------------------------------------------------------------------ permutest
@pytest.mark.parametrize("case", list(FIXTURE["permutest"]))
def test_permutest_exact(datasets, case):
    ref = FIXTURE["permutest"][case]
    res = ml.permutest(fit_of(datasets, ref["call"]), exact=True)
    assert res.exact
    close(res.to_frame()["pval"], ref["pval"], rtol=1e-12)
    close(res.QMp, ref["QMp"], rtol=1e-12)
    assert lines(res) == [s.rstrip() for s in ref["printed"]]


def test_permutest_sampled_within_monte_carlo_error(datasets):
    ref = FIXTURE["permutest_sampled"]
    res = ml.permutest(fit_of(datasets, ref["call"]), iter=ref["iter"], seed=7)
    assert not res.exact and res.iterations == ref["iter"]
    got = np.append(res.to_frame()["pval"].to_numpy(), res.QMp)
    want = np.append(ref["pval"], ref["QMp"])
    # two independent estimates of the same probability: their difference has variance <= 2 p(1-p)/iter
    se = np.sqrt(2 * np.maximum(want * (1 - want), 1 / ref["iter"]) / ref["iter"])
    assert np.all(np.abs(got - want) <= 4 * se), (got, want, se)


# ------------------------------------------------------------------------------------------ permci
# tools/fixtures/meta_permci.R: permutest(permci = TRUE) with exact tests; the bounds are step points
# of the permutation p-value found by Brent's method as R's uniroot, so they agree to rounding.
PERMCI = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_permci.json").read_text())


@pytest.mark.parametrize("case", list(PERMCI["permci"]))
def test_permci_exact(datasets, case):
    ref = PERMCI["permci"][case]
    call = ref["call"]
    data = datasets.get(call["data"], datasets["bcg"].head(7))
    fit = ml.rma("yi", "vi", data=data, method=call["method"], test=call["test"], mods=call["mods"])
    permci = True if ref["permci"] is True else [ref["permci"] - 1]
    res = ml.permutest(fit, exact=True, permci=permci)
    frame = res.to_frame()
    close(frame["ci_lb"], ref["ci_lb"], rtol=1e-10)
    close(frame["ci_ub"], ref["ci_ub"], rtol=1e-10)
    close(frame["pval"], ref["pval"], rtol=1e-12)
    assert lines(res) == [s.rstrip() for s in ref["printed"]]


def test_permci_too_few_permutations_warns_and_keeps_wald_limits(datasets):
    fit = ml.rma("yi", "vi", data=datasets["bcg"].head(4))
    assert "too low" in PERMCI["too_few_warning"]
    with pytest.warns(ml.ConvergenceWarning, match="too low"):
        res = ml.permutest(fit, exact=True, permci=True)
    close(res.to_frame()["ci_lb"], fit.ci_lb)
    assert not res.permci


def test_permci_sampled_brackets_the_estimate_and_is_reproducible(datasets):
    """Random permutations: the bounds bracket the estimate, lie outside a narrow band around it, and
    the one-sided permutation p-values just inside and outside each bound straddle alpha/2."""
    from multilevel.meta.diagnostics import _permci, _permutest
    from multilevel.meta.diagnostics._refit import spec_of

    fit = ml.rma("yi", "vi", data=datasets["bcg"], mods="~ ablat")
    a = ml.permutest(fit, iter=200, seed=5, permci=["ablat"]).to_frame()
    b = ml.permutest(fit, iter=200, seed=5, permci=[1]).to_frame()
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    lb, ub = a.loc["ablat", "ci_lb"], a.loc["ablat", "ci_ub"]
    beta = fit.beta.iloc[1]
    assert lb < beta < ub and np.isnan(a.loc["intrcpt", "ci_lb"])
    spec = spec_of(fit)

    def perm_z(s):
        rng = np.random.default_rng(5)
        return np.array([r.zval for r in _permutest._fits(s, fit, False, 200, rng)])

    tol = _permci.ROOT_TOL
    p = lambda v, greater: _permci._one_sided_pval(spec, 1, v, perm_z, greater, 1.49e-8)  # noqa: E731
    assert p(lb - 2 * tol, True) <= 0.025 <= p(lb + 2 * tol, True)
    assert p(ub + 2 * tol, False) <= 0.025 <= p(ub - 2 * tol, False)
    with pytest.raises(ml.ArgumentError, match="permci"):
        ml.permutest(fit, permci=["slope"])


# ------------------------------------------------------------------------------------------ rma.mv
# tools/fixtures/meta_influence_mv.R: dat.konstantopoulos2011, dat.assink2016 (three-level) and
# dat.berkey1998 (struct "UN"). metafor refits each deletion with nlminb, which stops within ~1e-7 of
# the optimum: where a deletion barely moves the coefficients (Cook's distance ~2e-5) that is a
# relative error of up to ~2e-4 in the distance or DFBETAS. The fixture also holds metafor's formulas
# at the polished optimum of every refit ("_tight"); ours agree with those to 2e-5, and with
# metafor's own output wherever its refit reached the optimum (within 1e-5 of the polished value).
MVF = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_influence_mv.json").read_text())["rma_mv"]
MV = MVF


def mv_fit(call):
    key = json.dumps(call, sort_keys=True)
    if key not in _FITS:
        dat = ml.datasets.load(call["data"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.MultilevelWarning)
            if call["data"] == "berkey1998":
                V = block_diag(*[g[["v1i", "v2i"]].to_numpy() for _, g in dat.groupby("trial", sort=True)])
                _FITS[key] = ml.rma_mv("yi", V, data=dat, mods=call["mods"], random=call["random"],
                                       struct=call["struct"])
            else:
                _FITS[key] = ml.rma_mv("yi", "vi", data=dat, mods=call["mods"], random=call["random"])
    return _FITS[key]


def close_where_converged(got, default, tight):
    """Ours against the polished optimum everywhere, and against metafor's output where its refit converged."""
    got, default = np.asarray(got, dtype=float), np.asarray(default, dtype=float).reshape(np.shape(got))
    tight = np.asarray(tight, dtype=float).reshape(got.shape)
    close(got, tight)
    converged = np.abs(default / tight - 1) < 1e-5
    assert converged.mean() >= 0.5
    close(got[converged], default[converged])


@pytest.mark.parametrize("case", list(MVF))
def test_rma_mv_leverages_and_residuals(case):
    ref = MVF[case]
    fit = mv_fit(ref["call"])
    close(ml.hatvalues(fit), ref["hatvalues"])
    H = ml.hatvalues(fit, type="matrix")
    assert list(H.index) == list(H.columns) == list(ml.hatvalues(fit).index)
    close(H.to_numpy(), ref["hat_matrix"], atol=1e-12)
    frame = ml.rstandard(fit).to_frame()
    for col in ("resid", "se", "z"):
        close(frame[col], ref["rstandard"][col])


@pytest.mark.parametrize("case", list(MVF))
def test_rma_mv_deletion_diagnostics(case):
    ref = MVF[case]
    fit = mv_fit(ref["call"])
    close_where_converged(ml.cooks_distance(fit), ref["cooks"], ref["cooks_tight"])
    close_where_converged(ml.dfbetas(fit).to_numpy().T, list(ref["dfbetas"].values()),
                          np.asarray(ref["dfbetas_tight"], dtype=float).reshape(fit.k, fit.p).T)


@pytest.mark.parametrize("case", list(MVF))
def test_rma_mv_cluster_diagnostics(case):
    ref = MVF[case]
    fit = mv_fit(ref["call"])
    cluster = ref["cluster"]
    cooks = ml.cooks_distance(fit, cluster=cluster)
    assert list(cooks.index) == ref["cooks_cluster"]["names"]
    close_where_converged(cooks, ref["cooks_cluster"]["value"], ref["cooks_cluster_tight"])
    as_vector = ml.cooks_distance(fit, cluster=ml.datasets.load(ref["call"]["data"])[cluster].to_numpy())
    np.testing.assert_array_equal(as_vector.to_numpy(), cooks.to_numpy())
    res = ml.rstandard(fit, cluster=cluster)
    close(res.to_frame()["X2"], ref["rstandard_cluster"]["X2"])
    assert res.to_frame()["k"].tolist() == ref["rstandard_cluster"]["k"]
    assert lines(res) == [s.rstrip() for s in ref["rstandard_cluster_printed"]]
    n = len(ref["cooks_cluster"]["names"])
    close_where_converged(ml.dfbetas(fit, cluster=cluster).to_numpy().T, list(ref["dfbetas_cluster"].values()),
                          np.asarray(ref["dfbetas_cluster_tight"], dtype=float).reshape(n, fit.p).T)


def test_hatvalues_type():
    fit = ml.rma("yi", "vi", data=ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg",
                                            data=ml.datasets.load("bcg")), mods="~ ablat")
    H = ml.hatvalues(fit, type="matrix")
    close(np.diag(H.to_numpy()), ml.hatvalues(fit))
    close(H.to_numpy() @ H.to_numpy(), H.to_numpy(), atol=1e-12)  # a projection
    with pytest.raises(ml.ArgumentError, match="type"):
        ml.hatvalues(fit, type="full")


# ------------------------------------------------------------------------------------------ labbe
@pytest.mark.parametrize("measure", list(FIXTURE["labbe"]))
def test_labbe_points(measure):
    from multilevel.meta.diagnostics._labbe import labbe_points

    ref = FIXTURE["labbe"][measure]
    bcg = ml.datasets.load("bcg")
    x, y, size = labbe_points(*(bcg[c].to_numpy() for c in ("tpos", "tneg", "cpos", "cneg")), measure)
    close(x, ref["x"])
    close(y, ref["y"])
    close(size, ref["cex"])


def test_labbe_draws_the_studies_and_the_effect_line():
    bcg = ml.datasets.load("bcg")
    dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    fit = ml.rma("yi", "vi", data=dat, method="DL")
    fig = fit.labbe(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, measure="OR")
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 13
    cx, cy = ax.lines[1].get_data()
    close(np.asarray(cy) - np.asarray(cx), np.full(len(cx), fit.beta.iloc[0]), rtol=1e-12, atol=1e-12)
    with pytest.raises(ml.ArgumentError, match="measure"):
        ml.labbe(fit, ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, measure="SMD")


# ------------------------------------------------------------------------------------------ batched refits
@pytest.mark.parametrize("method", ["REML", "ML", "EB", "DL", "HE", "HS", "FE", "SJ", "PM"])
@pytest.mark.parametrize("mods", [None, "~ ablat"])
def test_batched_refits_equal_one_at_a_time(datasets, method, mods):
    """The stacked estimators give the refits of the sequential code path (subsets, permuted designs)."""
    from multilevel.meta.diagnostics._batch import batch_refit
    from multilevel.meta.diagnostics._refit import Spec, refit, spec_of

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = spec_of(ml.rma("yi", "vi", data=datasets["bcg"], method=method, mods=mods, test="knha"))
        rng = np.random.default_rng(3)
        masks = rng.random((60, 13)) < 0.6
        masks[0] = [True] + [False] * 12
        Xs = spec.X[np.array([rng.permutation(13) for _ in range(60)])]
        batched = batch_refit(spec, masks, Xs=Xs)
        single = [refit(Spec(spec.yi, spec.vi, x, None, method, "knha", 95.0, spec.btt).subset(m))
                  for x, m in zip(Xs, masks)]
    for a, b in zip(batched, single):
        assert (a is None) == (b is None)
        if a is not None:
            for name in ("beta", "se", "pval", "tau2", "QE", "I2", "H2", "QM", "s2w"):
                close(getattr(a, name), getattr(b, name), rtol=1e-7, atol=1e-12)


# ------------------------------------------------------------------------------------------ API
def test_methods_equal_functions(datasets):
    fit = fit_of(datasets, RMA["bcg_re"]["call"])
    pd_equal = np.testing.assert_array_equal
    pd_equal(fit.influence().to_frame().to_numpy(dtype=float), ml.influence(fit).to_frame().to_numpy(dtype=float))
    pd_equal(fit.leave1out().to_frame().to_numpy(), ml.leave1out(fit).to_frame().to_numpy())
    pd_equal(fit.cumul().to_frame().to_numpy(), ml.cumul(fit).to_frame().to_numpy())
    pd_equal(fit.rstudent().to_frame().to_numpy(), ml.rstudent(fit).to_frame().to_numpy())
    pd_equal(fit.hatvalues().to_numpy(), ml.hatvalues(fit).to_numpy())
    pd_equal(fit.cooks_distance().to_numpy(), ml.cooks_distance(fit).to_numpy())
    mv = mv_fit(MV["konst"]["call"])
    pd_equal(mv.hatvalues().to_numpy(), ml.hatvalues(mv).to_numpy())
    pd_equal(mv.hatvalues(type="matrix").to_numpy(), ml.hatvalues(mv, type="matrix").to_numpy())
    pd_equal(mv.cooks_distance(cluster="district").to_numpy(), ml.cooks_distance(mv, cluster="district").to_numpy())


def test_user_mistakes_raise_project_errors(datasets):
    re = fit_of(datasets, RMA["bcg_re"]["call"])
    mr = fit_of(datasets, RMA["bcg_ablat"]["call"])
    with pytest.raises(ml.ModelSpecificationError, match="moderators"):
        ml.leave1out(mr)
    with pytest.raises(ml.ModelSpecificationError, match="moderators"):
        ml.cumul(mr)
    with pytest.raises(ml.ModelSpecificationError, match="moderators"):
        ml.vif(re)
    with pytest.raises(ml.ArgumentError, match="rma"):
        ml.influence(ml.lm("yi ~ ablat", datasets["bcg"]))
    with pytest.raises(ml.ArgumentError, match="cluster"):
        ml.cooks_distance(re, cluster="alloc")
    with pytest.raises(ml.ArgumentError, match="type"):
        ml.rstandard(re, type="pearson")
    with pytest.raises(ml.DataError, match="order"):
        ml.cumul(re, order=[1, 2, 3])
    with pytest.raises(ml.DataError, match="no data"):
        ml.cumul(re, order="year")
    with pytest.raises(ml.UnknownColumnError, match="yeer"):
        ml.cumul(re, order="yeer", data=datasets["bcg"])
    with pytest.raises(ml.ArgumentError, match="iter"):
        ml.permutest(re, iter=1)
    with pytest.raises(ml.ArgumentError, match="subsets"):
        ml.gosh(re, subsets=1)
    mv = mv_fit(MV["konst"]["call"])
    with pytest.raises(ml.DataError, match="cluster"):
        ml.cooks_distance(mv, cluster="no_such_column")


def test_cumul_orders_by_a_column_decreasing(datasets):
    fit = fit_of(datasets, RMA["bcg_re"]["call"])
    res = ml.cumul(fit, order="year", data=datasets["bcg"], decreasing=True).to_frame()
    years = datasets["bcg"]["year"].to_numpy()
    expected = [str(s) for s in pd_index(datasets["bcg"])[np.argsort(-years, kind="stable")]]
    assert [str(s) for s in res.index] == expected
    close(res["estimate"].iloc[-1], fit.beta.iloc[0], rtol=1e-10)


def pd_index(frame):
    return np.asarray([str(i + 1) for i in range(frame.shape[0])])


def test_gosh_samples_subsets_with_a_seed(datasets):
    fit = fit_of(datasets, RMA["hackshaw_re"]["call"])
    a, b = ml.gosh(fit, subsets=300, seed=11), ml.gosh(fit, subsets=300, seed=11)
    assert not a.exact and a.incl.shape == (300, fit.k)
    np.testing.assert_array_equal(a.to_frame().to_numpy(), b.to_frame().to_numpy())
    assert (a.to_frame()["k"].diff().dropna() >= 0).all()


def test_plots_return_figures_and_draw_on_given_axes(datasets):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    re = fit_of(datasets, RMA["bcg_re"]["call"])
    mr = fit_of(datasets, RMA["bcg_ablat"]["call"])
    ax = Figure().subplots()
    for draw in (lambda **kw: ml.baujat(re, **kw), lambda **kw: ml.radial(re, **kw),
                 lambda **kw: ml.qqnorm(mr, **kw), lambda **kw: ml.cumul(re).forest(**kw)):
        assert isinstance(draw(), Figure)
        assert draw(ax=ax) is ax.figure
    inf = ml.influence(mr)
    fig = inf.plot()
    assert len(fig.axes) == 8 and [a.get_title() for a in fig.axes][:3] == ["rstudent", "dffits", "cook.d"]
    assert len(inf.plot(dfbetas=True).axes) == 2
    assert isinstance(ml.gosh(ml.rma("yi", "vi", data=datasets["bcg"].head(6))).plot(), Figure)
    with pytest.raises(ml.ModelSpecificationError, match="moderators"):
        ml.radial(mr)
