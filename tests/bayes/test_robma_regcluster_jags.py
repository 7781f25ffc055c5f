"""``ml.robma(..., mods=..., cluster=...)`` component models against JAGS and quadrature in R.

The fixture (tests/fixtures/bayes/robma_regcluster_jags.json, from
tools/fixtures/robma_regcluster_jags.R) fits four clustered meta-regression models to four
districts of dat.konstantopoulos2011 (cluster = district, moderator year, standardized):
effect and heterogeneity without bias, with PET, without effect with PEESE, and with the
one-sided weight function (.05). JAGS samples the cluster effects explicitly; the marginal
likelihoods come from bridge sampling of the marginal density written independently in R and,
without selection, from nested adaptive quadrature (mu and the coefficient in closed form);
those models' posterior means and SDs also come from a Gauss-Legendre grid over tau and rho.
Checked per model:

* the log marginal likelihood: against the quadrature to 1e-6 (our quadrature; importance
  sampling within 4 of its standard errors), and against bridge sampling for the selection model
  within 4 combined standard errors (bridgesampling's coefficient of variation doubled, as
  tools/fixtures/robma_models.md finds it understates the error about twofold);
* posterior means of mu, tau, rho, PET, PEESE, omega and the coefficient of year within 4
  combined Monte Carlo standard errors of JAGS's;
* without selection, posterior means and SDs against the deterministic moments, within 4
  standard errors of our independent draws (for the SD, sqrt((kurtosis - 1) / (4 n)) relative).
  JAGS's SDs are not a test: tau's heavy right tail (four clusters) mixes slowly with explicit
  cluster effects, and JAGS's SD of tau is 14 % off the deterministic one in the PET model.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multilevel.bayes import prior
from multilevel.bayes.robma._averaging import weighted_moments
from multilevel.bayes.robma._fit import _ensemble
from multilevel.bayes.robma._moderators import moderator_design
from multilevel.bayes.robma._regfit import _fit_model
from multilevel.bayes.robma._regression import RegressionModel
from multilevel.bayes.robma._result import RobmaData

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bayes" / "robma_regcluster_jags.json").read_text())
DATA = FIXTURE["dataset"]
BIAS = ["none", "2s(.05)", "2s(.05,.10)", "1s(.05)", "1s(.025,.05)", "1s(.05,.50)", "1s(.025,.05,.50)", "PET",
        "PEESE"]
FITS = {f["id"]: f for f in FIXTURE["fits"]}


@pytest.fixture(scope="module")
def design():
    return moderator_design("~ year", pd.DataFrame({"year": DATA["year"]}))


@pytest.fixture(scope="module")
def rd():
    cluster = np.asarray(DATA["cluster"])
    labels, codes = np.unique(cluster, return_inverse=True)
    return RobmaData(np.asarray(DATA["yi"], float), np.asarray(DATA["sei"], float),
                     tuple(str(i) for i in range(1, cluster.size + 1)), "SMD", 1, DATA["cutoff_rule"], 0, codes,
                     tuple(labels), prior("beta", 1, 1))


def _model(rec, design):
    base = _ensemble("PSMA", None, None, None, None, None, True, clustered=True)
    b = base[(rec["effect"] == "alt") * 18 + (rec["heterogeneity"] == "alt") * 9 + BIAS.index(rec["bias"])]
    return RegressionModel(b.mu, b.tau, b.bias, b.effect, b.heterogeneity, 1.0, design.names, (True,), (1,),
                           (prior("normal", 0, 0.25),), rho=b.rho, hierarchical=b.hierarchical)


@pytest.fixture(scope="module")
def fits(design, rd):
    """{id: (record, model, our fit)}: quadrature for the models without selection (3 parameters
    with PET or PEESE), importance sampling for the selection model."""
    out = {}
    for key, rec in FITS.items():
        model = _model(rec, design)
        method = "importance" if "logml_quadrature" not in rec else "quadrature"
        out[key] = rec, model, _fit_model(model, rd, design.X, method, 20000, 3)
    return out


@pytest.fixture(params=sorted(FITS))
def fitted(request, fits):
    return fits[request.param]


def test_fixture_is_the_documented_dataset(design):
    assert DATA["measure"] == "SMD" and DATA["effect_direction"] == "positive" and DATA["cutoff_rule"] == "normal"
    assert len(DATA["yi"]) == 21 and sorted(set(DATA["cluster"])) == [11, 18, 58, 71]
    assert design.terms[0].kind == "continuous"
    for rec in FIXTURE["fits"]:
        assert rec["rhat"] < 1.05, rec["id"]
        if rec["normalizer_max_error"]:  # the JAGS and bridge rules against adaptive quadrature
            assert rec["normalizer_max_error"]["jags_rule"] < 1e-4
            assert rec["normalizer_max_error"]["bridge_rule"] < 1e-6
        if "logml_quadrature" in rec:  # the quadrature's own accuracy, and bridge sampling against it
            assert abs(rec["logml_quadrature"] - rec["logml_quadrature_coarse"]) < 1e-8
            assert abs(rec["logml_quadrature"] - rec["quadrature_moments"]["logml_grid"]) < 1e-8
            assert abs(rec["logml"] - rec["logml_quadrature"]) < 4 * 2 * rec["logml_cv"]


def test_the_models_get_the_cluster_level(fitted):
    _, model, res = fitted
    assert model.heterogeneity and "rho" in res.samples
    assert res.integral.method == ("importance" if model.bias is not None and model.bias.kind == "weightfunction"
                                   else "quadrature")


def test_log_marginal_likelihood(fitted, design, rd):
    rec, model, res = fitted
    if "logml_quadrature" in rec:
        assert abs(res.log_ml - rec["logml_quadrature"]) < 1e-6
        sampled = _fit_model(model, rd, design.X, "importance", 20000, 5).integral
        assert abs(sampled.log_ml - rec["logml_quadrature"]) < 4 * sampled.error
    else:
        se = math.hypot(2 * rec["logml_cv"], res.integral.error)
        assert abs(res.log_ml - rec["logml"]) < 4 * se


def _values(name, model, res):
    if name in ("mu", "tau", "rho", "PET", "PEESE"):
        return res.samples[name]
    if name.startswith("omega["):
        lo = float(name[6:-1].split(",")[0])
        edges = [0.0, *model.bias.weightfunction.steps]
        return res.samples["omega"][:, next(j for j, e in enumerate(edges) if math.isclose(e, lo))]
    assert name == "year"
    return res.samples["beta"][:, 0]


def test_posterior_means_against_jags(fitted):
    rec, model, res = fitted
    for name, ref in rec["summary"].items():
        mean, sd = weighted_moments(_values(name, model, res), res.weights)
        se = math.hypot(ref["mcse"], sd / math.sqrt(res.integral.ess))
        assert abs(mean - ref["mean"]) < 4 * se, (name, mean, ref["mean"], se)


@pytest.mark.parametrize("key", sorted(k for k, rec in FITS.items() if "quadrature_moments" in rec))
def test_posterior_means_and_sds_against_quadrature(fits, key):
    rec, model, res = fits[key]
    n = res.weights.size  # independent draws from the grid, equal weights
    assert np.allclose(res.weights, 1 / n)
    moments = rec["quadrature_moments"]["moments"]
    assert set(moments) <= set(rec["summary"])
    for name, ref in moments.items():
        x = _values(name, model, res)
        mean, sd = x.mean(), x.std()
        kurtosis = np.mean((x - mean) ** 4) / sd**4
        assert abs(mean - ref["mean"]) < 4 * sd / math.sqrt(n), (name, mean, ref["mean"])
        assert abs(sd / ref["sd"] - 1) < 4 * math.sqrt((kurtosis - 1) / (4 * n)), (name, sd, ref["sd"])
