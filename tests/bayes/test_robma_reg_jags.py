"""``ml.robma(..., mods=...)`` component models against JAGS with the same priors.

The fixture (tests/fixtures/bayes/robma_reg_jags.json, from tools/fixtures/robma_reg_jags.R)
fits seven meta-regression component models of the log odds ratios of bcg (moderators
``ablat``, continuous, and ``alloc``, a factor with three levels; effect direction negative):
with and without effect and heterogeneity, without bias, with PET, PEESE and three weight
functions. Checked per model:

* the log marginal likelihood: against the fixture's deterministic integration (models without
  selection; closed form over the coefficients, adaptive quadrature over tau and PET / PEESE)
  to 1e-4, and against bridge sampling (selection models) within 4 combined standard errors
  (bridgesampling's coefficient of variation doubled, as tools/fixtures/robma_models.md finds it
  understates the error about twofold, and this package's integration error);
* posterior means of mu, tau, PET, PEESE, omega, the coefficient of ablat and the deviations of
  the levels of alloc from their mean (basis free), within 4 combined Monte Carlo standard
  errors (JAGS: sd / sqrt(ESS); here: sd / sqrt(Kish's ESS)), and posterior SDs within 5 %.
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

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bayes" / "robma_reg_jags.json").read_text())
DATA = FIXTURE["dataset"]
BIAS = ["none", "2s(.05)", "2s(.05,.10)", "1s(.05)", "1s(.025,.05)", "1s(.05,.50)", "1s(.025,.05,.50)", "PET",
        "PEESE"]
FITS = {f["id"]: f for f in FIXTURE["fits"]}


@pytest.fixture(scope="module")
def design():
    df = pd.DataFrame({"ablat": DATA["ablat"], "alloc": DATA["alloc"]})
    return moderator_design("~ ablat + alloc", df)


def _model(rec, design):
    base = _ensemble("PSMA", None, None, None, None, None, True)
    b = base[(rec["effect"] == "alt") * 18 + (rec["heterogeneity"] == "alt") * 9 + BIAS.index(rec["bias"])]
    included = tuple(t in rec["terms"] for t in design.names)
    widths = tuple(t.width for t in design.terms)
    return RegressionModel(b.mu, b.tau, b.bias, b.effect, b.heterogeneity, 1.0, design.names, included, widths,
                           (prior("normal", 0, 0.25),) * len(widths))


@pytest.fixture(scope="module", params=sorted(FITS))
def fitted(request, design):
    rec = FITS[request.param]
    model = _model(rec, design)
    rd = RobmaData(np.asarray(DATA["yi"], float), np.asarray(DATA["sei"], float),
                   tuple(str(i) for i in range(1, len(DATA["yi"]) + 1)), "OR", -1, DATA["cutoff_rule"])
    return rec, model, _fit_model(model, rd, design.X, "auto", 20000, 3)


def test_fixture_is_the_documented_dataset(design):
    assert DATA["measure"] == "OR" and DATA["effect_direction"] == "negative"
    assert math.isclose(DATA["scale"], math.pi / math.sqrt(3), rel_tol=1e-12)
    assert list(design.terms[1].levels) == list(DATA["levels"])


def test_log_marginal_likelihood(fitted):
    rec, _, res = fitted
    if "logml_quadrature" in rec:
        assert res.integral.method in ("quadrature", "exact")
        assert abs(res.log_ml - rec["logml_quadrature"]) < 1e-4
    else:
        assert res.integral.method == "importance"
        se = math.hypot(2 * rec["logml_cv"], res.integral.error)
        assert abs(res.log_ml - rec["logml"]) < 4 * se


def _values(name, model, res, design):
    if name in ("mu", "tau", "PET", "PEESE"):
        return res.samples[name]
    if name.startswith("omega["):
        lo = float(name[6:-1].split(",")[0])
        edges = [0.0, *model.bias.weightfunction.steps]
        return res.samples["omega"][:, next(j for j, e in enumerate(edges) if math.isclose(e, lo))]
    term = next(t for t in design.terms if name.split("[")[0] == t.name)
    row = 0 if term.kind == "continuous" else list(term.levels).index(name[len(term.name) + 1:-1])
    return res.samples["beta"][:, list(term.columns)] @ term.effect_map()[row]


def test_posterior_means_and_sds(fitted, design):
    rec, model, res = fitted
    ess = res.integral.ess
    assert rec["rhat"] < 1.01
    for name, ref in rec["summary"].items():
        mean, sd = weighted_moments(_values(name, model, res, design), res.weights)
        se = math.hypot(ref["mcse"], sd / math.sqrt(ess))
        assert abs(mean - ref["mean"]) < 4 * se, (name, mean, ref["mean"], se)
        assert abs(sd / ref["sd"] - 1) < 0.05, (name, sd, ref["sd"])


def test_absent_moderators_have_zero_coefficients(fitted, design):
    _, model, res = fitted
    for term, included in zip(design.terms, model.included):
        block = res.samples["beta"][:, list(term.columns)]
        assert np.any(block != 0) if included else np.all(block == 0)
