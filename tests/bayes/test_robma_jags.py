"""``ml.robma`` against the RoBMA-PSMA component models fitted in JAGS with bridge sampling.

The fixture (tests/fixtures/bayes/robma_jags.json, from tools/fixtures/robma_jags.R; models
specified in tools/fixtures/robma_models.md) fits the 36 models of two datasets (normal and t
cut-off rules) with RoBMA's default priors. Checked here, per model:

* the cut-offs and the interval of every study (exact);
* the log marginal likelihood: against the deterministic quadrature of the fixture (models
  without selection, 1e-6) and against bridge sampling (within 4 combined standard errors:
  bridgesampling's coefficient of variation and this package's integration error);
* posterior means of mu, tau, PET, PEESE and the weights omega, within 4 combined Monte Carlo
  standard errors (JAGS: sd / sqrt(ESS); here: sd / sqrt(Kish's ESS));
* posterior model probabilities and inclusion Bayes factors that follow from them.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes.robma._averaging import weighted_moments
from multilevel.bayes.robma._likelihood import SelectionData

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bayes" / "robma_jags.json").read_text())
DATASETS = sorted(FIXTURE["datasets"])
WF = {wf["name"]: wf for wf in FIXTURE["weightfunctions"]}


def _data(name):
    d = FIXTURE["datasets"][name]
    return np.asarray(d["yi"], float), np.asarray(d["sei"], float)


@pytest.fixture(scope="module", params=DATASETS)
def pair(request):
    name = request.param
    y, se = _data(name)
    fit = ml.robma(y, sei=se, measure="SMD", cutoffs=FIXTURE["datasets"][name]["cutoff_rule"], seed=11)
    return name, fit


def _wf_spec(name):
    wf = WF[name]
    return ml.prior_weightfunction(wf["type"], wf["steps"]).weightfunction


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("wf", sorted(WF))
def test_cutoffs_and_intervals(name, wf):
    y, se = _data(name)
    ref = next(c for c in FIXTURE["datasets"][name]["cutoffs"] if c["name"] == wf)
    sel = SelectionData(_wf_spec(wf), y, se, FIXTURE["datasets"][name]["cutoff_rule"])
    crit = np.asarray(ref["crit"], float).reshape(sel.crit.shape)  # ascending: the steps in reverse
    np.testing.assert_allclose(sel.crit[:, ::-1], crit, rtol=1e-12)
    assert list(sel.interval + 1) == list(ref["interval"])


def _label(model) -> str:
    b = model.bias
    bias = "none" if b is None else b.kind if b.kind != "weightfunction" else next(
        n for n, w in WF.items() if w["type"] == b.weightfunction.side and tuple(w["steps"]) == b.weightfunction.steps)
    return (f"effect={'alt' if model.effect else 'null'}|heterogeneity={'alt' if model.heterogeneity else 'null'}"
            f"|bias={bias}")


def _pairs(fit, name):
    ref = {m["id"]: m for m in FIXTURE["fits"][name]["models"]}
    return [(r, ref[_label(r.model)]) for r in fit.models]


def test_models_in_the_same_order_with_the_same_prior_probabilities(pair):
    name, fit = pair
    ref = FIXTURE["fits"][name]["models"]
    assert [_label(r.model) for r in fit.models] == [m["id"] for m in ref]
    np.testing.assert_allclose(fit.prior_prob, [m["prior_prob"] for m in ref], rtol=1e-12)


def test_log_marginal_likelihoods(pair):
    name, fit = pair
    for res, ref in _pairs(fit, name):
        if "logml_quadrature" in ref:
            assert res.log_ml == pytest.approx(ref["logml_quadrature"], abs=1e-6), ref["id"]
        if ref["logml_method"] == "exact":
            assert res.log_ml == pytest.approx(ref["logml"], abs=1e-9)
        else:
            tol = 4 * math.hypot(ref["logml_cv"], res.integral.error)
            assert abs(res.log_ml - ref["logml"]) <= tol, (ref["id"], res.log_ml, ref["logml"], tol)


def _ours(fit, res, key):
    if key.startswith("omega["):
        lo, hi = (float(v) for v in key[6:-1].split(","))
        wf = res.model.bias.weightfunction
        j = int(np.searchsorted(np.asarray(wf.steps), hi - 1e-12))
        x = res.samples["omega"][:, j]
    else:
        x = res.samples[key]
    return weighted_moments(x, res.weights)


def test_posterior_means(pair):
    name, fit = pair
    for res, ref in _pairs(fit, name):
        for key, s in ref.get("summary", {}).items():
            m, sd = _ours(fit, res, key)
            tol = 4 * math.hypot(s["mcse"], sd / math.sqrt(res.integral.ess))
            assert abs(m - s["mean"]) <= tol, (ref["id"], key, m, s["mean"], tol)
            assert sd == pytest.approx(s["sd"], rel=max(0.1, 6 / math.sqrt(s["ess"]))), (ref["id"], key)


def test_inclusion_bayes_factors(pair):
    name, fit = pair
    comp = fit.components()
    ref = FIXTURE["fits"][name]["inclusion"]
    for row, key in (("Effect", "effect"), ("Heterogeneity", "heterogeneity"), ("Bias", "bias")):
        assert comp.loc[row, "Post. prob."] == pytest.approx(ref[key]["posterior_prob"], abs=0.02), row
