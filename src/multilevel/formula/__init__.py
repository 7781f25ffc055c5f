"""Formula layer: lme4 formulas evaluated on a table.

:func:`model_frame` turns ``"y ~ x + (x | g)"`` and a DataFrame into a
:class:`ModelFrame` (response, fixed-effects design with R's coefficient
names, and one :class:`RandomEffectsBlock` per random-effects term in lme4's
order). :func:`parse_formula` exposes the parsed formula.

The fixed-effects design of every model (``lmer``, ``glmer``, ``lm``, ``rma``, ``rma_mv``,
``brma``) is built by :mod:`._design` (formulaic with R's coding and column names). The
names here load on first use, so that modules needing only the formula text helpers
(:mod:`._quoting`) do not import formulaic.
"""

from typing import TYPE_CHECKING

from .._lazy import attach

__all__ = ["model_frame", "parse_formula", "ModelFrame", "RandomEffectsBlock"]
__getattr__, __dir__, _ = attach(__name__, {
    "._build": ("model_frame",),
    "._bars": ("parse_formula",),
    "._frame": ("ModelFrame", "RandomEffectsBlock"),
})

if TYPE_CHECKING:  # static analysers and documentation tools see the eager imports
    from ._bars import parse_formula
    from ._build import model_frame
    from ._frame import ModelFrame, RandomEffectsBlock
