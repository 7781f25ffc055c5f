"""Every table object the library returns converts with ``pd.DataFrame(table)``.

The table types are discovered (classes with ``to_frame()`` in any module of the package,
fitted models aside), so a new table type fails :func:`test_every_table_type_is_produced`
until it is a :class:`~multilevel._display.FrameMapping` and has a producer here.
"""

import copy
import importlib
import inspect
import pickle
import pkgutil

import pandas as pd
import pytest

import multilevel as ml
from fit_kinds import FIT_FIXTURES
from multilevel._display import FrameMapping
from multilevel._protocol import FitProtocol


def _table_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(ml.__path__, "multilevel."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and hasattr(obj, "to_frame") \
                    and obj not in FIT_FIXTURES and not issubclass(obj, FitProtocol):
                found[name] = obj
    return found


TABLES = _table_classes()


def _lmer_ml_pair(sleep):
    return ml.lmer("Reaction ~ Days + (1 | Subject)", sleep), ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)


def _rma_ml_pair(bcg):
    return (ml.rma("yi", "vi", data=bcg, mods="~ ablat", method="ML"), ml.rma("yi", "vi", data=bcg, method="ML"))


def _rma_mv_ml_pair(konst):
    random = "~ 1 | district/school"
    return (ml.rma_mv("yi", "vi", random=random, data=konst, mods="~ year", method="ML"),
            ml.rma_mv("yi", "vi", random=random, data=konst, method="ML"))


# how the library hands out each table type: fixture names and the call
PRODUCERS = {
    "AnovaTable": (("sleep",), lambda s: ml.anova(*_lmer_ml_pair(s))),
    "LmerSummary": (("lmer_fit",), lambda f: f.summary()),
    "FitCriteria": (("lmer_fit",), lambda f: f.summary().criteria),
    "ScaledResiduals": (("lmer_fit",), lambda f: f.summary().residuals),
    "NoScaledResiduals": (("lmer_dask_fit",), lambda f: f.summary().residuals),
    "FixedEffectsTable": (("lmer_fit",), lambda f: f.summary().fixed),
    "FixefCorrelation": (("lmer_fit",), lambda f: f.summary().correlation),
    "VarCorr": (("lmer_fit",), lambda f: f.varcorr_table),
    "LmerTestSummary": (("lmer_fit",), lambda f: f.lmertest_summary()),
    "LinearModelSummary": (("lm_fit",), lambda f: f.summary()),
    "LmListSummary": (("lm_list_fit",), lambda f: f.summary()),
    "RmaAnova": (("bcg_rr",), lambda b: ml.anova(*_rma_ml_pair(b))),
    "RmaSummary": (("rma_fit",), lambda f: f.summary()),
    "RmaMhSummary": (("rma_mh_fit",), lambda f: f.summary()),
    "RmaGlmmSummary": (("rma_glmm_fit",), lambda f: f.summary()),
    "RmaMvSummary": (("rma_mv_fit",), lambda f: f.summary()),
    "AnovaRmaMv": (("konst",), lambda k: ml.anova(*_rma_mv_ml_pair(k))),
    "ConfintReport": (("rma_mv_fit",), lambda f: f.confint_report()),
    "ProfileLikelihood": (("rma_mv_fit",), lambda f: f.profile("sigma2.1", steps=5)),
    "RobustRmaMv": (("rma_mv_fit",), lambda f: f.robust("district").summary()),
    "RobustRma": (("bcg_rr",), lambda d: ml.rma("yi", "vi", data=d).robust("alloc", data=d).summary()),
    "LinearHypotheses": (("rma_fit",), lambda f: ml.anova(f, X=[[0, 1]])),
    "OmnibusTest": (("rma_fit",), lambda f: ml.anova(f, btt=1)),
    "BrmaSummary": (("brma_fit",), lambda f: f.summary()),
    "HeterogeneitySummary": (("brma_fit",), lambda f: f.summary_heterogeneity()),
    "RobmaSummary": (("robma_fit",), lambda f: f.summary()),
    "ModelsOverview": (("robma_fit",), lambda f: f.models_overview()),
    "RobmaRegSummary": (("robma_reg_fit",), lambda f: f.summary()),
    "RegModelsOverview": (("robma_reg_fit",), lambda f: f.models_overview()),
    "GlmerSummary": (("glmer_fit",), lambda f: f.summary()),
    "FixedEffectsZTable": (("glmer_fit",), lambda f: f.summary().fixed),
    "RegtestResult": (("bcg_rr",), lambda d: ml.regtest(ml.rma("yi", "vi", data=d))),
    "WeightedRegression": (("bcg_rr",), lambda d: ml.regtest(ml.rma("yi", "vi", data=d), model="lm").fit),
    "RanktestResult": (("bcg_rr",), lambda d: ml.ranktest(ml.rma("yi", "vi", data=d))),
    "FsnResult": (("bcg_rr",), lambda d: ml.fsn("yi", "vi", data=d)),
    "_TrimfillReport": (("trimfill_fit",), lambda f: f.summary()),
    "SelmodelSummary": (("selmodel_fit",), lambda f: f.summary()),
    "HcResult": (("hackshaw",), lambda d: ml.hc(ml.rma("yi", "vi", data=d))),
    "GlmmVarCorr": (("glmer_fit",), lambda f: f.summary().varcorr),
    "_WeightedLmSummary": (("bcg_rr",), lambda d: ml.regtest(ml.rma("yi", "vi", data=d), model="lm").fit.summary()),
    "InfluenceDiagnostics": (("rma_fit",), lambda f: ml.influence(f)),
    "LeaveOneOut": (("bcg_rr",), lambda d: ml.leave1out(ml.rma("yi", "vi", data=d))),
    "CumulativeResults": (("bcg_rr",), lambda d: ml.cumul(ml.rma("yi", "vi", data=d))),
    "StandardizedResiduals": (("rma_fit",), lambda f: ml.rstandard(f)),
    "ClusterResiduals": (("rma_mv_fit",), lambda f: ml.rstandard(f, cluster="district")),
    "GoshResult": (("bcg_rr",), lambda d: ml.gosh(ml.rma("yi", "vi", data=d.head(5)))),
    "VifResult": (("bcg_rr",), lambda d: ml.vif(ml.rma("yi", "vi", data=d, mods="~ ablat + year"))),
    "PermutationTest": (("bcg_rr",), lambda d: ml.permutest(ml.rma("yi", "vi", data=d.head(5), mods="~ ablat"))),
}


def _produce(request, name):
    fixtures, call = PRODUCERS[name]
    return call(*[request.getfixturevalue(f) for f in fixtures])


def test_every_table_type_is_produced():
    assert set(TABLES) == set(PRODUCERS)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_type_is_a_frame_mapping(name):
    assert issubclass(TABLES[name], FrameMapping)


@pytest.mark.parametrize("name", sorted(PRODUCERS))
def test_dataframe_constructor_accepts_the_table(request, name):
    table = _produce(request, name)
    assert type(table) is TABLES[name]
    frame = table.to_frame()
    pd.testing.assert_frame_equal(pd.DataFrame(table), frame)
    assert list(table) == list(frame.columns) and len(table) == frame.shape[1]
    first = frame.columns[0]
    pd.testing.assert_series_equal(table[first], frame[first])
    assert first in table and table.get("no such column") is None


@pytest.mark.parametrize("name", sorted(PRODUCERS))
def test_table_stays_an_immutable_report(request, name):
    table = _produce(request, name)
    text = str(table)
    with pytest.raises(TypeError, match="read-only"):
        table["new"] = 1
    with pytest.raises(TypeError, match="read-only"):
        table.update({})
    assert bool(table)
    assert table == table
    assert str(pickle.loads(pickle.dumps(table))) == text == str(copy.deepcopy(table))


def test_anova_tables_convert(sleep, bcg_rr, konst):
    """``pd.DataFrame(ml.anova(m1, m2))`` raised "DataFrame constructor not properly called"."""
    for pair in (_lmer_ml_pair(sleep), _rma_ml_pair(bcg_rr), _rma_mv_ml_pair(konst)):
        table = ml.anova(*pair)
        frame = pd.DataFrame(table)
        assert frame.shape[0] == 2
        pd.testing.assert_frame_equal(frame, table.to_frame())


def test_tables_of_distinct_fits_are_not_equal(lmer_fit, lm_fit):
    """A dict of columns would compare by content; a report compares as the object it is."""
    a, b = lm_fit.summary(), lm_fit.summary()
    assert a is not b and a != b and a == a
    assert len({a, b}) == 2


def test_frame_mapping_columns_are_series_with_the_table_index(rma_fit):
    summary = rma_fit.summary()
    frame = summary.to_frame()
    assert all(summary[c].index.equals(frame.index) for c in summary)
    assert dict(summary).keys() == set(frame.columns)
