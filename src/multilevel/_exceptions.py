"""Exception and warning types raised by :mod:`multilevel`.

Every user mistake is reported with one of these types and a message that
names the problem (the column, the formula position, the offending value), so
that callers can catch them precisely::

    try:
        ml.lmer("y ~ x + (1 | g)", data)
    except ml.MultilevelError as err:
        ...
"""

from __future__ import annotations

__all__ = [
    "SeparationWarning",
    "MultilevelError",
    "FormulaError",
    "DataError",
    "ArgumentError",
    "UnknownColumnError",
    "ModelSpecificationError",
    "NotFittedError",
    "RowsUnavailableError",
    "UnsupportedObjectError",
    "MultilevelWarning",
    "MissingDataWarning",
    "RankDeficiencyWarning",
    "ConvergenceWarning",
    "SingularFitWarning",
    "PredictorScaleWarning",
]


class MultilevelError(Exception):
    """Base class of every error raised on purpose by :mod:`multilevel`.

    Examples
    --------
    >>> import multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> try:
    ...     ml.lmer("Reaction ~ Days + (1 | Subjekt)", sleep)
    ... except ml.MultilevelError as err:
    ...     print(type(err).__name__)
    UnknownColumnError
    """


class FormulaError(MultilevelError, ValueError):
    """A model formula cannot be parsed or does not make sense.

    Parameters
    ----------
    message : str
        What is wrong.
    formula : str, optional
        The formula as the user wrote it.
    position : int, optional
        0-based character offset of the problem in ``formula``; the message
        then shows the formula with a caret under that position.

    Examples
    --------
    >>> import multilevel as ml
    >>> try:
    ...     ml.lmer("Reaction ~ Days + (1 | )", ml.datasets.load("sleepstudy"))
    ... except ml.FormulaError as err:
    ...     print(err)
    no grouping factor after '|'
      Reaction ~ Days + (1 | )
                             ^
    """

    def __init__(self, message: str, formula: str | None = None, position: int | None = None):
        self.formula = formula
        self.position = position
        text = message
        if formula is not None:
            text += f"\n  {formula}"
            if position is not None:
                text += "\n  " + " " * max(0, position) + "^"
        super().__init__(text)


class DataError(MultilevelError, ValueError):
    """The data cannot be used as given (wrong types, invalid values).

    Examples
    --------
    >>> import multilevel as ml
    >>> try:
    ...     ml.rma(yi=[0.1, 0.2, 0.3], vi=[0.01, -0.02, 0.01])
    ... except ml.DataError as err:
    ...     print(err)
    vi must be positive and finite; offending rows: 2 (-0.02)
    """


class ArgumentError(MultilevelError, ValueError):
    """An argument has a value the function cannot use (a confidence level of 1, an unknown option).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> try:
    ...     fit.confint("Wald", level=1)
    ... except ml.ArgumentError as err:
    ...     print(str(err).split(" (")[0])
    level must be a proportion
    """


class UnknownColumnError(DataError, KeyError):
    """A column named in a formula or argument is not in the data.

    Also a :class:`DataError` and a :class:`KeyError`.

    Examples
    --------
    >>> import multilevel as ml
    >>> try:
    ...     ml.lmer("Reaction ~ Days + (1 | Subjekt)", ml.datasets.load("sleepstudy"))
    ... except ml.UnknownColumnError as err:
    ...     print(str(err).split(";")[0])
    column 'Subjekt' (did you mean 'Subject'?) named in the formula not found in the data
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelSpecificationError(MultilevelError, ValueError):
    """The model cannot be estimated from these data as specified.

    For instance a grouping factor with a single level, more random effects than
    observations, a cluster with one estimate where that is not allowed.

    Examples
    --------
    >>> import multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy").assign(g="a")
    >>> try:
    ...     ml.lmer("Reaction ~ Days + (1 | g)", sleep)
    ... except ml.ModelSpecificationError as err:
    ...     print(err)
    grouping factors must have > 1 sampled level (problems: g has 1 level)
    """


class NotFittedError(MultilevelError, RuntimeError):
    """A quantity was requested that the fit does not provide.

    Also a :class:`RuntimeError`.

    Examples
    --------
    >>> import multilevel as ml
    >>> issubclass(ml.NotFittedError, (ml.MultilevelError, RuntimeError))
    True
    """


class RowsUnavailableError(NotFittedError):
    """A quantity that needs the rows (fitted values, residuals, simulation) was requested from an
    ``lmer`` fit to a Dask DataFrame or Parquet files, which keeps only cross-products.

    Such a fit raises it from ``residuals()``, ``fitted()`` and ``simulate()``; it is a
    :class:`NotFittedError`, so code that handles that catches it too.

    Examples
    --------
    >>> import multilevel as ml
    >>> issubclass(ml.RowsUnavailableError, ml.NotFittedError)
    True
    """


class UnsupportedObjectError(MultilevelError, TypeError):
    """A function was given an object of a type it does not handle (a forest plot of an lmer fit).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> try:
    ...     ml.forest(fit)
    ... except ml.UnsupportedObjectError as err:
    ...     print(str(err).split(";")[1])
     got a LinearMixedModel object
    """


class MultilevelWarning(UserWarning):
    """Base class of every warning issued by :mod:`multilevel`.

    Examples
    --------
    >>> import warnings, multilevel as ml
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ml.MultilevelWarning)
    ...     fit = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.datasets.load("Dyestuff2"))
    >>> [type(w.message).__name__ for w in caught]
    ['SingularFitWarning']
    """


class MissingDataWarning(MultilevelWarning):
    """Rows with missing values were dropped (as R's ``na.omit``).

    Every fit words it the same way: the inputs with missing values, the count, and the rows
    (1-based positions, or the data's index labels), which the fit records in ``dropped_rows``.

    Examples
    --------
    >>> import warnings, multilevel as ml
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ml.MissingDataWarning)
    ...     fit = ml.rma(yi=[0.1, float("nan"), 0.3, 0.2], vi=[0.01, 0.02, 0.01, 0.03])
    >>> print(caught[0].message)
    1 row with missing values in yi dropped (3 of 4 rows used): row 2
    """


class RankDeficiencyWarning(MultilevelWarning):
    """Columns of a rank-deficient fixed-effects design were dropped.

    Examples
    --------
    >>> import warnings, multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ml.RankDeficiencyWarning)
    ...     fit = ml.lmer("Reaction ~ Days + Days2 + (1 | Subject)", sleep.assign(Days2=2 * sleep.Days))
    >>> print(caught[0].message)
    fixed-effect model matrix is rank deficient so dropping 1 column / coefficient (Days2)
    """


class ConvergenceWarning(MultilevelWarning):
    """The optimizer or sampler did not meet its convergence criteria.

    Examples
    --------
    lme4's gradient check fails for a predictor on a scale of 1e7:

    >>> import warnings, numpy as np, multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> sleep["big"] = sleep.Days * 1e7 + np.arange(180)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ml.MultilevelWarning)
    ...     fit = ml.lmer("Reaction ~ Days + big + (1 | Subject)", sleep)
    >>> "ConvergenceWarning" in {type(w.message).__name__ for w in caught}
    True
    """


class SingularFitWarning(MultilevelWarning):
    """The fit is on the boundary of the parameter space (singular).

    Examples
    --------
    >>> import warnings, multilevel as ml
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ml.SingularFitWarning)
    ...     fit = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.datasets.load("Dyestuff2"))
    >>> print(caught[0].message)
    boundary (singular) fit: see help('isSingular')
    """


class PredictorScaleWarning(MultilevelWarning):
    """Fixed-effects predictors are on very different scales (lme4's ``check.scaleX``).

    Examples
    --------
    >>> import warnings, numpy as np, multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> sleep["big"] = sleep.Days * 1e7 + np.arange(180)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", ml.PredictorScaleWarning)
    ...     fit = ml.lmer("Reaction ~ Days + big + (1 | Subject)", sleep)
    >>> print(caught[0].message)
    Some predictor variables are on very different scales: consider rescaling
    """


class SeparationWarning(MultilevelWarning):
    """A binomial response is perfectly separated by a predictor: its estimate diverges (the
    likelihood has no finite maximum in that direction) and its standard error is meaningless.

    Examples
    --------
    >>> import warnings, pandas as pd, multilevel as ml
    >>> df = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1] * 4, "x": [1, 2, 3, 4, 5, 6] * 4,
    ...                    "g": [c for c in "abcd" for _ in range(6)]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     fit = ml.glmer("y ~ x + (1 | g)", df, family="binomial")
    >>> any(issubclass(w.category, ml.SeparationWarning) for w in caught)
    True
    """
