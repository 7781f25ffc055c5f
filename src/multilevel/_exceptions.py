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
    """Base class of every error raised on purpose by :mod:`multilevel`."""


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
    """The data cannot be used as given (wrong types, invalid values)."""


class ArgumentError(MultilevelError, ValueError):
    """An argument has a value the function cannot use (a confidence level of 1, an unknown option)."""


class UnknownColumnError(DataError, KeyError):
    """A column named in a formula or argument is not in the data."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelSpecificationError(MultilevelError, ValueError):
    """The model cannot be estimated from these data as specified.

    Examples: a grouping factor with a single level, more random effects than
    observations, a cluster with one estimate where that is not allowed.
    """


class NotFittedError(MultilevelError, RuntimeError):
    """A quantity was requested that the fit does not provide."""


class RowsUnavailableError(NotFittedError):
    """A quantity that needs the rows (fitted values, residuals, simulation) was requested from an
    ``lmer`` fit to a Dask DataFrame or Parquet files, which keeps only cross-products."""


class UnsupportedObjectError(MultilevelError, TypeError):
    """A function was given an object of a type it does not handle (a forest plot of an lmer fit)."""


class MultilevelWarning(UserWarning):
    """Base class of every warning issued by :mod:`multilevel`."""


class MissingDataWarning(MultilevelWarning):
    """Rows with missing values were dropped (as R's ``na.omit``)."""


class RankDeficiencyWarning(MultilevelWarning):
    """Columns of a rank-deficient fixed-effects design were dropped."""


class ConvergenceWarning(MultilevelWarning):
    """The optimizer or sampler did not meet its convergence criteria."""


class SingularFitWarning(MultilevelWarning):
    """The fit is on the boundary of the parameter space (singular)."""


class PredictorScaleWarning(MultilevelWarning):
    """Fixed-effects predictors are on very different scales (lme4's ``check.scaleX``)."""
