"""Formula layer: lme4 formulas evaluated on a table.

:func:`model_frame` turns ``"y ~ x + (x | g)"`` and a DataFrame into a
:class:`ModelFrame` (response, fixed-effects design with R's coefficient
names, and one :class:`RandomEffectsBlock` per random-effects term in lme4's
order). :func:`parse_formula` exposes the parsed formula.
"""

from ._bars import parse_formula
from ._build import model_frame
from ._frame import ModelFrame, RandomEffectsBlock

__all__ = ["model_frame", "parse_formula", "ModelFrame", "RandomEffectsBlock"]
