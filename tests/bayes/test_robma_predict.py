"""``RobmaRegFit.predict``: model-averaged and conditional predictions at moderator values
(RoBMA's ``predict.RoBMA.reg``), checked by hand from the component models' weighted draws."""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel._exceptions import ArgumentError, DataError, UnknownColumnError
from multilevel.bayes.robma._averaging import exact_transform, weighted_moments, weighted_quantile
from multilevel.bayes.robma._moderators import meandif_contrast
from multilevel.bayes.robma._regpredict import moderator_matrix

NEW = pd.DataFrame({"ablat": [10.0, 33.5, 55.0], "alloc": ["systematic", "alternate", "random"]},
                   index=["a", "b", "c"])


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


def _draws(fit, X, conditional=False):
    """Each model's draws of mu + X beta (Cohen's d), pooled with the model-averaging weights."""
    vals, ws = [], []
    for res, p in zip(fit.models, fit.post_prob):
        if p > 0 and (res.model.effect or not conditional):
            vals.append(res.samples["mu"][:, None] + res.samples["beta"] @ X.T)
            ws.append(p * res.weights)
    w = np.concatenate(ws)
    return np.concatenate(vals), w / w.sum()


def _hand_design(bcg, new):
    ablat = bcg["ablat"].to_numpy(float)
    C = meandif_contrast(3)
    rows = [("alternate", "random", "systematic").index(v) for v in new["alloc"]]
    return np.column_stack([(new["ablat"] - ablat.mean()) / ablat.std(ddof=1), C[rows]])


def test_predictions_at_the_fitted_data_are_the_fitted_mean_structure(robma_reg_fit, bcg):
    fit = robma_reg_fit
    np.testing.assert_allclose(moderator_matrix(fit.design, bcg)[0], fit.design.X, atol=1e-12)
    pred = fit.predict()
    assert list(pred.index) == list(fit.data.labels) and list(pred.columns) == ["Mean", "Median", "0.025", "0.975"]
    x, w = _draws(fit, fit.design.X)
    np.testing.assert_allclose(pred["Mean"], w @ x, rtol=1e-10)
    pd.testing.assert_frame_equal(fit.predict(bcg).set_axis(pred.index), pred, rtol=1e-10)


@pytest.mark.parametrize("scale", ["d", "logOR", "r"])
@pytest.mark.parametrize("conditional", [False, True])
def test_predictions_at_new_data_by_hand(robma_reg_fit, bcg, scale, conditional):
    fit = robma_reg_fit
    X = _hand_design(bcg, NEW)
    np.testing.assert_allclose(moderator_matrix(fit.design, NEW)[0], X, atol=1e-12)
    pred = fit.predict(NEW, conditional=conditional, output_scale=scale, level=0.9)
    assert list(pred.index) == ["a", "b", "c"] and list(pred.columns) == ["Mean", "Median", "0.05", "0.95"]
    x, w = _draws(fit, X, conditional)
    x = exact_transform(x, scale)
    for j, label in enumerate(pred.index):
        expect = [weighted_moments(x[:, j], w)[0], *weighted_quantile(x[:, j], w, [0.5, 0.05, 0.95])]
        np.testing.assert_allclose(pred.loc[label].to_numpy(), expect, rtol=1e-10)


def test_conditional_predictions_leave_out_the_models_without_the_effect(robma_reg_fit, bcg):
    fit = robma_reg_fit
    avg, cond = fit.predict(NEW), fit.predict(NEW, conditional=True)
    p_effect = fit.components().loc["Effect", "Post. prob."]
    X = _hand_design(bcg, NEW)
    null = [(r.samples["beta"] @ X.T, p * r.weights) for r, p in zip(fit.models, fit.post_prob)
            if not r.model.effect]  # mu = 0: the moderators alone
    w = np.concatenate([b for _, b in null])
    null_mean = (w / w.sum()) @ np.concatenate([a for a, _ in null])
    np.testing.assert_allclose(avg["Mean"], p_effect * cond["Mean"] + (1 - p_effect) * null_mean, rtol=1e-8)


def test_effect_predictions_add_the_heterogeneity(robma_reg_fit, bcg):
    fit = robma_reg_fit
    X = _hand_design(bcg, NEW)
    x, w = _draws(fit, X)
    tau = np.concatenate([r.samples["tau"] for r, p in zip(fit.models, fit.post_prob) if p > 0])
    z = np.random.default_rng(fit.seed + 13).standard_normal((X.shape[0], x.shape[0]))
    theta = exact_transform(x + tau[:, None] * z.T, "logOR")
    pred = fit.predict(NEW, type="effect", output_scale="logOR")
    for j, label in enumerate(pred.index):
        expect = [weighted_moments(theta[:, j], w)[0], *weighted_quantile(theta[:, j], w, [0.5, 0.025, 0.975])]
        np.testing.assert_allclose(pred.loc[label].to_numpy(), expect, rtol=1e-10)
    terms = fit.predict(NEW, output_scale="logOR")
    assert np.all(pred["0.975"] - pred["0.025"] > terms["0.975"] - terms["0.025"])


def test_transformed_moderators_are_rebuilt_for_new_data(bcg):
    fit = ml.robma("yi", "vi", measure="OR", mods="~ log(ablat)", data=bcg, model_type="PP",
                   effect_direction="negative", draws=500, seed=5)
    new = pd.DataFrame({"ablat": [12.0, 40.0]})
    la = np.log(bcg["ablat"].to_numpy(float))
    X = ((np.log(new["ablat"]) - la.mean()) / la.std(ddof=1)).to_numpy()[:, None]
    np.testing.assert_allclose(moderator_matrix(fit.design, new)[0], X, rtol=1e-12)
    x, w = _draws(fit, X)
    np.testing.assert_allclose(fit.predict(new)["Mean"], w @ x, rtol=1e-10)


def test_bad_newdata(robma_reg_fit):
    fit = robma_reg_fit
    with pytest.raises(UnknownColumnError, match="'alloc'"):
        fit.predict(pd.DataFrame({"ablat": [20.0]}))
    with pytest.raises(DataError, match=r"column 'alloc' has levels not seen when fitting .*offending rows: 2 \(other\)"):
        fit.predict(pd.DataFrame({"ablat": [20.0, 30.0], "alloc": ["random", "other"]}))
    with pytest.raises(DataError, match=r"missing moderator values .*offending rows: 1"):
        fit.predict(pd.DataFrame({"ablat": [np.nan, 30.0], "alloc": ["random", "random"]}))
    with pytest.raises(ArgumentError, match="newdata must be a data frame"):
        fit.predict([[20.0, "random"]])
    with pytest.raises(ArgumentError, match="type must be 'terms'"):
        fit.predict(NEW, type="response")
    with pytest.raises(ArgumentError, match="level"):
        fit.predict(NEW, level=150)
