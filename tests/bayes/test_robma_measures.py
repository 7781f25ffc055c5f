"""Effect sizes and standard errors on the fitting scale by RoBMA's rules (``combine_data``):
every standard error is tied to a sample size n, and Fisher's z has se = 1 / sqrt(n - 3).
Expected values are computed by hand in the comments."""

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes.robma._measures import fitting_scale, n_from_r, se_from_n

KW = {"model_type": "PP", "draws": 300, "seed": 1}
R = [0.3, -0.5, 0.1, 0.2]
N = [50.0, 30.0, 120.0, 80.0]


def test_hand_computed_values():
    # r = .3 with n = 50: z = atanh(.3) = 0.30951960420311175, se_z = 1 / sqrt(47)
    y, se = fitting_scale("COR", np.array([0.3]), se_from_n("COR", np.array([0.3]), np.array([50.0])))
    assert y[0] == pytest.approx(0.30951960420311175, rel=1e-14)
    assert se[0] == pytest.approx(0.14586499149789456, rel=1e-12)
    # r = .3 with se_r = .12: n = (1 - .3^2 / 2) (1 - .3^2)^2 / .12^2 = .955 * .8281 / .0144
    #   = 54.919131944444445, se_z = 1 / sqrt(n - 3) = 0.1387830055815102 (delta method: .12 / .91 = .1319)
    assert n_from_r(np.array([0.3]), np.array([0.12]))[0] == pytest.approx(54.919131944444445, rel=1e-13)
    _, se = fitting_scale("COR", np.array([0.3]), np.array([0.12]))
    assert se[0] == pytest.approx(0.1387830055815102, rel=1e-12)
    # z with n = 30: 1 / sqrt(27); d = .5 with n = 40: sqrt(4 / 40 + .25 / 80) = sqrt(.103125)
    assert se_from_n("ZCOR", np.array([0.2]), np.array([30.0]))[0] == pytest.approx(0.19245008972987526, rel=1e-13)
    assert se_from_n("SMD", np.array([0.5]), np.array([40.0]))[0] == pytest.approx(0.3211308144666282, rel=1e-13)


def test_the_correlation_round_trip_recovers_n():
    r, n = np.array(R), np.array(N)
    np.testing.assert_allclose(n_from_r(r, se_from_n("COR", r, n)), n, rtol=1e-12)


@pytest.mark.parametrize("measure", ["COR", "ZCOR", "SMD"])
def test_robma_takes_sample_sizes(measure):
    r, n = np.array(R), np.array(N)
    y = np.arctanh(r) if measure == "ZCOR" else r
    fit = ml.robma(y, ni=n, measure=measure, **KW)
    if measure == "SMD":
        np.testing.assert_allclose(fit.data.se, np.sqrt(4 / n + r**2 / (2 * n)), rtol=1e-12)
    else:  # Fisher's z for correlations too, whatever r
        np.testing.assert_allclose(fit.data.se, 1 / np.sqrt(n - 3), rtol=1e-12)
        np.testing.assert_allclose(fit.data.y, np.arctanh(r), rtol=1e-12)


def test_correlations_with_standard_errors_and_with_n_agree():
    r, n = np.array(R), np.array(N)
    by_n = ml.robma(r, ni=n, measure="COR", **KW)
    by_se = ml.robma(r, sei=se_from_n("COR", r, n), measure="COR", **KW)
    np.testing.assert_allclose(by_se.data.se, by_n.data.se, rtol=1e-12)
    np.testing.assert_allclose(by_se.models_overview().to_frame()["log(marglik)"],
                               by_n.models_overview().to_frame()["log(marglik)"], rtol=1e-9)


def test_sample_size_errors():
    with pytest.raises(ml.DataError, match=r"ni must be sample sizes above 3 .*offending rows: 2 \(3\)"):
        ml.robma(R, ni=[50, 3, 120, 80], measure="COR", **KW)
    with pytest.raises(ml.ArgumentError, match="one of vi .*, sei .* or ni"):
        ml.robma(R, [0.01] * 4, ni=N, measure="COR", **KW)
    with pytest.raises(ml.ArgumentError, match="no sample-size rule for 'OR'"):
        ml.robma(R, ni=N, measure="OR", **KW)
    with pytest.raises(ml.UnknownColumnError, match="'n'"):
        ml.robma("yi", ni="n", measure="ZCOR", data={"yi": R, "ni": N}, **KW)
