"""Forest and funnel plots against what metafor 3.8-1 draws (tools/fixtures/meta_plots.R).

The fixture holds the coordinates read back from R's display list: the CI
segments, the points, the summary and fitted-value polygons of ``forest()``,
and the points, centre and pseudo confidence region of ``funnel()``, for rma
and rma.mv fits with and without moderators.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.linalg import block_diag  # noqa: E402

import multilevel as ml  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "plots_metafor.json"
REF = json.loads(FIXTURE.read_text())["cases"]

# tolerances: the data are drawn exactly; model quantities (estimates, weights,
# residual standard errors) carry the fit's agreement with metafor
TOL_DATA = 1e-10
TOL_MODEL = 1e-4
ATOL_MODEL = 1e-7  # residuals and estimates near zero


def _bcg():
    dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    return dat.assign(n=dat["tpos"] + dat["tneg"] + dat["cpos"] + dat["cneg"])


def _berkey_v(dat):
    return block_diag(*[g[["v1i", "v2i"]].to_numpy() for _, g in dat.groupby("trial", sort=True)])


_FITS: dict = {}


def fit_case(name):
    """The fit of a fixture case, built from the call recorded next to metafor's numbers."""
    if name not in _FITS:
        call = dict(REF[name]["call"])
        fn, dataset = call.pop("fn"), call.pop("data")
        if fn == "rma":
            _FITS[name] = ml.rma("yi", "vi", data=_bcg(), **call)
        elif dataset == "berkey1998":
            call.pop("V")
            dat = ml.datasets.load(dataset)
            _FITS[name] = ml.rma_mv("yi", _berkey_v(dat), data=dat, **call)
        else:
            _FITS[name] = ml.rma_mv("yi", "vi", data=ml.datasets.load(dataset), **call)
    return _FITS[name]


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def segments(ax, gid):
    """(y, x0, x1) of the horizontal segments drawn with this gid, sorted by row."""
    segs = [s for coll in by_gid(ax, gid) for s in coll.get_segments()]
    out = np.array([(s[0, 1], s[0, 0], s[1, 0]) for s in segs])
    return out[np.argsort(out[:, 0])]


def polygons(ax, gid):
    """{row: x coordinates (lower, estimate, upper, estimate)} of the diamonds with this gid."""
    out = {}
    for patch in by_gid(ax, gid):
        xy = patch.get_xy()
        out[float(xy[0, 1])] = xy[:4, 0]
    return out


def ref_segments(ci):
    out = np.column_stack([ci["y"], ci["x0"], ci["x1"]])
    return out[np.argsort(out[:, 0])]


def close(actual, expected, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


CASES = sorted(REF)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("level", [None, 90])
def test_forest_draws_what_metafor_draws(name, level):
    ref = REF[name]["forest" if level is None else "forest90"]
    fig = ml.forest(fit_case(name), level=level)
    ax = fig.axes[0]
    study = ref_segments(ref["ci"])
    study = study[study[:, 0] > 0]
    close(segments(ax, "ci"), study, TOL_DATA)
    pts = by_gid(ax, "estimates")[0].get_offsets()
    order = np.argsort(ref["points"]["y"])
    close(pts[np.argsort(pts[:, 1])], np.column_stack([ref["points"]["x"], ref["points"]["y"]])[order], TOL_DATA)
    ref_polys = {float(p["row"]): p["x"] for p in ref["polygons"]}
    ours = polygons(ax, "summary" if REF[name]["int_only"] else "fitted")
    assert sorted(ours) == sorted(ref_polys)
    for row, x in ref_polys.items():
        close(ours[row], x, TOL_MODEL, ATOL_MODEL)


@pytest.mark.parametrize("name", CASES)
def test_forest_point_sizes_follow_the_model_weights(name):
    ax = ml.forest(fit_case(name)).axes[0]
    size = np.sqrt(by_gid(ax, "estimates")[0].get_sizes()) / 6
    close(size, REF[name]["psize"], TOL_MODEL)


@pytest.mark.parametrize("name", [n for n in CASES if REF[n]["forest_pred"] is not None])
def test_forest_prediction_interval_as_metafor_addpred(name):
    ax = ml.forest(fit_case(name), show_pi=True).axes[0]
    pi = ref_segments(REF[name]["forest_pred"]["ci"])
    close(segments(ax, "pi"), pi[pi[:, 0] == -1], TOL_MODEL)
    assert not by_gid(ml.forest(fit_case(name)).axes[0], "pi")  # off by default, as metafor's addpred


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("level", [None, 90])
def test_funnel_draws_what_metafor_draws(name, level):
    ref = REF[name]["funnel" if level is None else "funnel90"]
    ax = ml.funnel(fit_case(name), level=level).axes[0]
    pts = by_gid(ax, "points")[0].get_offsets()
    close(pts[:, 0], ref["x"], TOL_MODEL, ATOL_MODEL)
    close(pts[:, 1], ref["y"], TOL_MODEL)
    centre = by_gid(ax, "refline")[0].get_xdata()
    close(centre, [ref["refline"]] * 2, TOL_MODEL, ATOL_MODEL)
    region = by_gid(ax, "region")[0].get_paths()[0].vertices
    close([region[:, 0].min(), region[:, 0].max()], ref["region_x"], TOL_MODEL, ATOL_MODEL)
    close(region[:, 1].max(), ref["region_ymax"], TOL_MODEL)
    close([*ax.get_xlim(), *ax.get_ylim()], ref["usr"], TOL_MODEL, ATOL_MODEL)  # R's plot window
    assert ax.get_xlabel() == ("Observed Outcome" if REF[name]["int_only"] else "Residual Value")
    assert ax.yaxis_inverted()


# ------------------------------------------------------------------ the fits of the defect report
@pytest.fixture(scope="module")
def three_level():
    return ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=ml.datasets.load("konstantopoulos2011"))


def test_rma_mv_forest_rows_are_yi_with_wald_intervals(three_level):
    fig = ml.forest(three_level)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    dat = ml.datasets.load("konstantopoulos2011")
    half = 1.959963984540054 * np.sqrt(dat["vi"].to_numpy())
    k = len(dat)
    segs = segments(ax, "ci")[::-1]  # rows k..1 are the estimates in data order
    close(segs[:, 0], np.arange(k, 0, -1), 0)
    close(segs[:, 1], dat["yi"] - half, 1e-12)
    close(segs[:, 2], dat["yi"] + half, 1e-12)
    diamond = polygons(ax, "summary")[-1.0]
    close(diamond[[0, 1, 2]], [three_level.ci_lb.iloc[0], three_level.beta.iloc[0], three_level.ci_ub.iloc[0]],
          1e-12)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "RE Model" and len(labels) == k + 1


def test_rma_mv_funnel_centred_at_the_fixed_estimate(three_level):
    ax = ml.funnel(three_level).axes[0]
    dat = ml.datasets.load("konstantopoulos2011")
    pts = by_gid(ax, "points")[0].get_offsets()
    close(pts[:, 0], dat["yi"], 0)
    close(pts[:, 1], np.sqrt(dat["vi"]), 1e-12)
    close(by_gid(ax, "refline")[0].get_xdata(), [three_level.beta.iloc[0]] * 2, 1e-12)


def test_plots_draw_into_a_given_axes(three_level):
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert ml.forest(three_level, ax=left) is fig
    assert ml.funnel(three_level, ax=right) is fig
    assert by_gid(left, "estimates") and by_gid(right, "points")
    assert len(fig.axes) == 2


def test_rma_mv_forest_labels_from_a_column_of_its_data(three_level):
    dat = ml.datasets.load("konstantopoulos2011")
    ax = ml.forest(three_level, slab="study").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][:-1] == [str(s) for s in dat["study"]]
    with pytest.raises(ml.ArgumentError, match="'nope' is not a column"):
        ml.forest(three_level, slab="nope")
    with pytest.raises(ml.ArgumentError, match="3 labels but the plot has 56"):
        ml.forest(three_level, slab=["a", "b", "c"])


# ------------------------------------------------------------------ escalc tables (metafor's forest(yi, vi))
def test_forest_and_funnel_of_an_escalc_table():
    dat = _bcg()
    ax = ml.forest(dat, slab="author").axes[0]
    segs = segments(ax, "ci")[::-1]
    half = 1.959963984540054 * np.sqrt(dat["vi"].to_numpy())
    close(segs[:, 1], dat["yi"] - half, 1e-12)
    close(segs[:, 2], dat["yi"] + half, 1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(dat["author"])  # no model row
    assert not by_gid(ax, "summary")
    fax = ml.funnel(dat).axes[0]
    close(by_gid(fax, "points")[0].get_offsets()[:, 1], np.sqrt(dat["vi"]), 1e-12)
    close(by_gid(fax, "refline")[0].get_xdata(), [0.0, 0.0], 0)  # metafor's funnel.default: refline = 0


def test_escalc_table_rows_with_missing_values_are_dropped():
    dat = _bcg()
    dat.loc[2, "yi"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="1 row"):
        ax = ml.forest(dat).axes[0]
    assert len(segments(ax, "ci")) == len(dat) - 1


# ------------------------------------------------------------------ unsupported objects
@pytest.fixture(scope="module")
def lmer_fit():
    return ml.lmer("Reaction ~ Days + (1 | Subject)", data=ml.datasets.load("sleepstudy"))


@pytest.mark.parametrize("plot", [ml.forest, ml.funnel])
def test_unsupported_objects_raise_type_error(plot, lmer_fit, three_level):
    robust = three_level.robust("district")
    for obj, words in [(lmer_fit, f"got a {type(lmer_fit).__name__} object"), (None, "got None$"),
                       (pd.DataFrame({"y": [1.0], "v": [0.1]}), "no column 'yi' or 'vi'"),
                       (pd.DataFrame({"yi": [1.0]}), "no column 'vi'"), ([0.1, 0.2], "got a list object"),
                       (robust, f"got a {type(robust).__name__} object")]:
        with pytest.raises(TypeError, match=words) as err:
            plot(obj)
        assert isinstance(err.value, ml.UnsupportedObjectError)
