"""``ml.robma(cluster=...)`` against the clustered component models fitted in JAGS.

The fixture (tests/fixtures/bayes/robma_cluster_jags.json, from
tools/fixtures/robma_cluster_jags.R; models in tools/fixtures/robma_models.md, "Clusters") fits
the models with heterogeneity (the ones with a cluster level) to four districts of
dat.konstantopoulos2011 (all 18: effect or not, times no bias, PET, PEESE and the six weight
functions), with the cluster effects sampled explicitly in JAGS and the marginal
likelihoods from bridge sampling of the marginal density written independently in R. Checked
per model: posterior means of mu, tau, rho, PET, PEESE and the weights omega within 4 combined
Monte Carlo standard errors, and the log marginal likelihood within 4 combined standard errors
(bridgesampling's coefficient of variation and this package's integration error).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes.robma._averaging import weighted_moments

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bayes" / "robma_cluster_jags.json").read_text())
WF = {"2s(.05)": ("two.sided", (0.05,)), "2s(.05,.10)": ("two.sided", (0.05, 0.10)),
      "1s(.05)": ("one.sided", (0.05,)), "1s(.025,.05)": ("one.sided", (0.025, 0.05)),
      "1s(.05,.50)": ("one.sided", (0.05, 0.5)), "1s(.025,.05,.50)": ("one.sided", (0.025, 0.05, 0.5))}


@pytest.fixture(scope="module")
def fit():
    d = FIXTURE["dataset"]
    return ml.robma(np.asarray(d["yi"], float), sei=np.asarray(d["sei"], float), measure="SMD",
                    cutoffs=d["cutoff_rule"], cluster=np.asarray(d["cluster"]), seed=5)


def _label(model) -> str:
    b = model.bias
    bias = "none" if b is None else b.kind if b.kind != "weightfunction" else next(
        n for n, (side, steps) in WF.items() if side == b.weightfunction.side and steps == b.weightfunction.steps)
    return (f"effect={'alt' if model.effect else 'null'}|heterogeneity={'alt' if model.heterogeneity else 'null'}"
            f"|bias={bias}")


def _pairs(fit):
    ours = {_label(r.model): r for r in fit.models}
    return [(ours[ref["id"]], ref) for ref in FIXTURE["fits"]]


def _ours(res, key):
    if key.startswith("omega["):
        lo, hi = (float(v) for v in key[6:-1].split(","))
        wf = res.model.bias.weightfunction
        j = int(np.searchsorted(np.asarray(wf.steps), hi - 1e-12))
        x = res.samples["omega"][:, j]
    else:
        x = res.samples[key]
    return weighted_moments(x, res.weights)


def test_the_fixture_covers_every_model_with_heterogeneity():
    # 2 effects x 9 bias choices, the null-effect selection models included
    ids = [m["id"] for m in FIXTURE["fits"]]
    biases = ("none", "PET", "PEESE", *WF)
    assert sorted(ids) == sorted(f"effect={e}|heterogeneity=alt|bias={b}" for e in ("alt", "null") for b in biases)
    assert FIXTURE["models_fitted"] == FIXTURE["models_total"] == 18
    assert all(m["rhat"] < 1.1 for m in FIXTURE["fits"])


def test_log_marginal_likelihoods(fit):
    for res, ref in _pairs(fit):
        tol = 4 * math.hypot(ref["logml_cv"], res.integral.error)
        assert abs(res.log_ml - ref["logml"]) <= tol, (ref["id"], res.log_ml, ref["logml"], tol)


def test_posterior_means(fit):
    for res, ref in _pairs(fit):
        for key, s in ref["summary"].items():
            m, sd = _ours(res, key)
            tol = 4 * math.hypot(s["mcse"], sd / math.sqrt(res.integral.ess))
            assert abs(m - s["mean"]) <= tol, (ref["id"], key, m, s["mean"], tol)
            assert sd == pytest.approx(s["sd"], rel=max(0.1, 6 / math.sqrt(s["ess"]))), (ref["id"], key)


def test_the_jags_selection_normalizer_was_accurate():
    for ref in FIXTURE["fits"]:
        if ref.get("grid_rule_max_error"):
            assert ref["grid_rule_max_error"]["jags_rule"] < 5e-3, ref["id"]  # far below the bridge error
