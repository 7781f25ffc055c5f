"""predict(newdata) matches grouping levels as R's factor labels: 308, 308.0 and "308" are one subject.

lme4 matches new data to the fitted levels by their text, so the reference numbers of
``workflow_predict.json`` (computed by lme4 with the labels "308", "999", "372") are also
lme4's answer for integer, float and categorical labels.
"""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from workflow_common import data, fit, fixture

PRED = fixture("predict")
SLOPE = "Reaction ~ Days + (Days | Subject)"
LABELS = PRED["newdata"]["Subject"]


def _as(kind):
    ints = [int(v) for v in LABELS]
    return {
        "int": ints,
        "float": [float(v) for v in ints],
        "categorical_int": pd.Categorical(ints),
        "categorical_str": pd.Categorical(LABELS),
        "object_mixed": [v if i % 2 else int(v) for i, v in enumerate(LABELS)],
    }[kind]


@pytest.mark.parametrize("kind", ["int", "float", "categorical_int", "categorical_str", "object_mixed"])
def test_known_subjects_with_labels_of_another_type(kind):
    newdata = pd.DataFrame({"Days": PRED["newdata"]["Days"], "Subject": _as(kind)})
    got = fit(SLOPE, "sleep").predict(newdata, allow_new_levels=True)
    np.testing.assert_allclose(got.to_numpy(), PRED["slope_allow_new"], rtol=1e-8)


@pytest.mark.parametrize("kind", ["int", "float", "categorical_int"])
def test_genuinely_new_levels_still_raise(kind):
    newdata = pd.DataFrame({"Days": PRED["newdata"]["Days"], "Subject": _as(kind)})
    with pytest.raises(ml.DataError, match="new levels detected in newdata for Subject: 999"):
        fit(SLOPE, "sleep").predict(newdata)


def test_non_integral_float_is_a_new_level():
    newdata = pd.DataFrame({"Days": [1.0], "Subject": [308.5]})
    with pytest.raises(ml.DataError, match="Subject: 308.5"):
        fit(SLOPE, "sleep").predict(newdata)


@pytest.mark.parametrize("labels", [["308", "372"], [308.0, 372.0], pd.Categorical(["308", "372"])])
def test_fit_with_integer_levels_predicts_text_labels(labels):
    sleep = data("sleep").assign(Subject=lambda d: d["Subject"].astype(str).astype(int))
    m = ml.lmer(SLOPE, sleep)
    assert m.frame.blocks[0].levels.dtype.kind == "i"
    got = m.predict(pd.DataFrame({"Days": [1.0, 9.0], "Subject": labels}))
    ref = fit(SLOPE, "sleep").predict(pd.DataFrame({"Days": [1.0, 9.0], "Subject": ["308", "372"]}))
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-8)


def test_random_design_codes_match_by_label():
    frame = ml.model_frame(SLOPE, data("sleep"))
    codes, _ = frame.random_design({"Days": [1.0, 2.0, 3.0], "Subject": [308, 309.0, 999]}, 0)
    np.testing.assert_array_equal(codes, [0, 1, -1])
