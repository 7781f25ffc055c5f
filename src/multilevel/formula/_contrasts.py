"""The ``contrasts=`` argument of lm / lmer (R's ``contrasts.arg``): a coding per factor.

``contrasts={"tension": "contr.sum"}`` codes the factor ``tension`` of the
fixed part with R's sum-to-zero contrasts, named as R names them
(``tension1``, ``tension2``). The random-effects terms keep treatment
contrasts, as in lme4 (whose ``contrasts`` argument reaches only the fixed
effects' model matrix).
"""

from __future__ import annotations

from collections.abc import Mapping

from formulaic.transforms.contrasts import (
    HelmertContrasts, PolyContrasts, SASContrasts, SumContrasts, TreatmentContrasts,
)

from .._exceptions import ArgumentError

__all__ = ["CODINGS", "check_contrasts", "coding"]

#: R's contrast functions (by name) and the formulaic coding that gives the same matrix.
CODINGS = {
    "contr.treatment": TreatmentContrasts,
    "contr.sum": SumContrasts,
    "contr.helmert": HelmertContrasts,
    "contr.poly": PolyContrasts,
    "contr.SAS": SASContrasts,
}


def check_contrasts(contrasts) -> tuple[tuple[str, str], ...]:
    """``contrasts`` as ``(column, R function name)`` pairs in the order given; raise ArgumentError
    if invalid.

    >>> check_contrasts({"tension": "contr.sum", "wool": "contr.helmert"})
    (('tension', 'contr.sum'), ('wool', 'contr.helmert'))
    """
    if contrasts is None:
        return ()
    if not isinstance(contrasts, Mapping):
        raise ArgumentError("contrasts must be a dict mapping factor names to R's contrast names, such as "
                            f"{{'group': 'contr.sum'}}, not {type(contrasts).__name__}")
    pairs = []
    for name, value in contrasts.items():
        if not isinstance(name, str) or not isinstance(value, str) or value not in CODINGS:
            raise ArgumentError(f"contrasts[{name!r}] = {value!r} is not one of {', '.join(CODINGS)}")
        pairs.append((name, value))
    return tuple(pairs)


def coding(name: str):
    """A formulaic contrasts object for R's contrast function ``name``."""
    return CODINGS[name]()
