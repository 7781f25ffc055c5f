"""R's rule for coding factors in a term, as a formulaic materializer.

formulaic (like patsy) keeps a design structurally full rank by splitting a
term whose margins are missing into sub-terms; R instead codes each factor of
a term either by contrasts or by indicator (dummy) columns (``TermCode`` in R's
``model.c``):

* factor ``f`` of term ``T`` is coded by contrasts when ``T`` without ``f`` is
  empty or contained in an earlier term, and by indicators otherwise;
* without an intercept, the first factor of the first term that has one is
  coded by indicators.

``y ~ a:b`` thus gives R's ``(Intercept)`` plus every ``a:b`` combination (one
column is then dropped for rank deficiency, as lme4 does), where formulaic
would give ``b`` contrasts plus ``a:b`` columns. Everything else (evaluation,
encoding, the saved spec for new data) is formulaic's pandas materializer.
"""

from __future__ import annotations

import functools
import operator

from formulaic.materializers.pandas import PandasMaterializer
from formulaic.materializers.types import ScopedFactor, ScopedTerm
from formulaic.parser.types import Factor
from formulaic.transforms.contrasts import C
from interface_meta import override

from ._contrasts import coding

__all__ = ["RCodingMaterializer", "MATERIALIZER"]

MATERIALIZER = "multilevel_r"


class RCodingMaterializer(PandasMaterializer):
    """formulaic's pandas materializer with R's contrasts-or-indicators rule.

    ``materializer_params={"variable_order": (...)}`` gives R's variable order
    (first appearance in the formula), used to pick the factor coded by
    indicators in a model without an intercept; ``"contrasts"`` (pairs of
    column and R contrast name) codes those columns as ``C(column, contrasts)``
    would, keeping the column's name (R's ``contrasts.arg``).
    """

    REGISTER_NAME = MATERIALIZER

    @override
    def _lookup(self, name: str):
        values, variables = super()._lookup(name)
        contrasts = dict(self.params.get("contrasts", ()))
        if name in contrasts:
            values = C(values, contrasts=coding(contrasts[name]))
        return values, variables

    @override
    def _get_scoped_terms(self, terms, ensure_full_rank: bool = True):
        if not ensure_full_rank:
            yield from super()._get_scoped_terms(terms, ensure_full_rank=False)
            return
        terms = list(terms)
        evaluated = [[self.factor_cache[f.expr] for f in term.factors
                      if self.factor_cache[f.expr].values.__wrapped__ is not None] for term in terms]
        variables = [frozenset(ev.expr for ev in evs if not _constant(ev)) for evs in evaluated]
        has_intercept = any(evs and not v for evs, v in zip(evaluated, variables))
        first = None if has_intercept else self._first_indicator(evaluated)
        for i, (term, evs) in enumerate(zip(terms, evaluated)):
            if not evs:
                yield term, []
                continue
            scale = functools.reduce(operator.mul, [ev.values for ev in evs if _constant(ev)], 1)
            factors = []
            for ev in evs:
                if _constant(ev):
                    continue
                if not ev.metadata.spans_intercept:  # numerical: one coding only
                    factors.append(ScopedFactor(ev, reduced=False))
                    continue
                rest = variables[i] - {ev.expr}
                by_contrasts = not rest or any(rest <= variables[k] for k in range(i))
                if (i, ev.expr) == first:
                    by_contrasts = False
                factors.append(ScopedFactor(ev, reduced=by_contrasts))
            yield term, [ScopedTerm(factors=factors, scale=scale)]

    def _first_indicator(self, evaluated) -> tuple[int, str] | None:
        """(term index, factor) coded by indicators when there is no intercept."""
        order = {expr: j for j, expr in enumerate(self.params.get("variable_order", ()))}
        for i, evs in enumerate(evaluated):
            categorical = [ev.expr for ev in evs if not _constant(ev) and ev.metadata.spans_intercept]
            if categorical:
                return i, min(categorical, key=lambda e: order.get(e, len(order)))
        return None


def _constant(ev) -> bool:
    return ev.metadata.kind is Factor.Kind.CONSTANT
