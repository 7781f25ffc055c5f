r"""The integrand of the selection models' normalising integrals, each factor computed once.

The integrand of :math:`A_i` at parameter set :math:`s` is :math:`w(p_i(y); \delta_s)\,
\phi(y; \hat y_{si}, v_i + \tau^2_s)`. QUADPACK evaluates it at the 15 Kronrod nodes of
intervals that all come from bisecting (0, 1], so a batch of rules (one per integral being
refined) repeats the same intervals many times over: every study's integral at every
parameter set starts on (0, 1], and the parameter sets of a finite-difference gradient or
Hessian differ in one or two coordinates and mostly bisect the same intervals. Each factor
depends on fewer things than the rule does:

* the clamped p-values on the interval and the study only;
* the selection function on them and on the parameter its factor uses (for the beta
  function :math:`p^{\delta_1 - 1}` on :math:`\delta_1`, :math:`(1 - p)^{\delta_2 - 1}` on
  :math:`\delta_2`; for the others, on the whole :math:`\delta`);
* the normal density on the interval, the study and :math:`(\hat y_{si}, \tau^2_s)`.

Each is evaluated once per distinct combination in the batch and gathered back. Every value is
computed by the same operations on the same numbers as the plain integrand, so the rules, and
the integrals, are unchanged to the last bit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Integrand"]

_MAX_DEPTH = 16                   # intervals of width 2^-16 and wider are numbered through a table
_TREE_SIZE = 1 << (_MAX_DEPTH + 1)


def _groups(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Group number of each row of ``values`` (equal rows share one) and the number of groups."""
    _, inverse = np.unique(values, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return inverse, int(inverse.max(initial=-1)) + 1


class _Distinct:
    """Distinct integer keys of a batch without sorting, through a scratch table indexed by key.

    Only the entries of the keys in hand are written before they are read, so the table is
    never cleared between batches.
    """

    def __init__(self) -> None:
        self.table = np.empty(0, dtype=np.intp)

    def __call__(self, key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding one of each distinct ``key`` (values below ``size``) and, for every row,
        the position of its key among them."""
        if self.table.size < size:
            self.table = np.empty(max(size, 2 * self.table.size), dtype=np.intp)
        table, rows = self.table, np.arange(key.size)
        table[key] = rows
        first = np.flatnonzero(table[key] == rows)
        table[key[first]] = np.arange(first.size)
        return first, table[key]


class Integrand:
    """``f(y) + f(-y)`` at the nodes of the integrals of ``m`` parameter sets x ``k`` studies.

    Integral ``owner`` is study ``owner % k`` at parameter set ``owner // k``. ``weights`` and
    ``dnorm`` are :func:`._selcore.weights` and :func:`._selcore.dnorm`, ``pvalues`` maps the
    (rows, 30) nodes of studies ``i`` (``y`` then ``-y``) to their clamped p-values.
    """

    def __init__(self, data, yhat: np.ndarray, tau2s: np.ndarray, deltas: np.ndarray, *, pvalues, weights, dnorm):
        m, k = yhat.shape
        self.data, self.k = data, k
        self._pvalues, self._weights, self._dnorm = pvalues, weights, dnorm
        self.yhat = yhat.ravel()
        self.sd = np.sqrt(data.v[None, :] + tau2s[:, None]).ravel()
        # one group per distinct (study, yhat, tau2): the density's arguments
        study = np.broadcast_to(np.arange(k)[None, :], (m, k))
        self.density_group, self.num_density = _groups(np.column_stack(
            [study.ravel(), yhat.ravel(), np.broadcast_to(tau2s[:, None], (m, k)).ravel()]))
        self.deltas = deltas
        self.bounds = (data.pval_min, 1 - data.pval_min)  # p-values are clamped to these
        if data.kind == "beta":  # p^(d1 - 1) (1 - p)^(d2 - 1): each factor on its own parameter
            self.factors = [_groups(deltas[:, j:j + 1]) for j in range(2)]
        else:
            self.factors = [_groups(deltas)]
        self.tree = np.full(_TREE_SIZE, -1, dtype=np.int64)  # running number of each interval seen
        self.count = 0
        self.distinct = _Distinct()

    def _intervals(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
        """A number (below the returned count) for each interval, the same for equal intervals
        within the batch.

        Bisection from (0, 1] makes every interval ``[j, j + 1] / 2^L``; its place ``2^L + j`` in
        the binary tree of bisections is mapped to a running number through a table. Should an
        interval not be of that form or lie deeper than the table allows, the midpoints (distinct
        for such intervals) are numbered by sorting instead.
        """
        width = b - a
        mant, expo = np.frexp(width)
        depth = 1 - expo                       # width = 2^-depth when mant == 0.5
        if a.size and np.all(mant == 0.5) and 0 <= depth.min() and depth.max() <= _MAX_DEPTH:
            pos = a / width
            if np.all(pos == np.floor(pos)):
                node = (np.int64(1) << depth.astype(np.int64)) + pos.astype(np.int64)
                number = self.tree[node]
                new = number < 0
                if new.any():
                    fresh = np.unique(node[new])
                    self.tree[fresh] = np.arange(self.count, self.count + fresh.size)
                    self.count += fresh.size
                    number = self.tree[node]
                return number, self.count
        # (not reached by bisection from (0, 1]: numbered by sorting the midpoints, distinct for such intervals)
        _, number = np.unique(0.5 * (a + b), return_inverse=True)
        number = number.reshape(-1)
        return number, int(number.max(initial=-1)) + 1

    def at_intervals(self, owners: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The folded integrand at the (n, 15) nodes ``y`` of intervals ``(a, b)`` of integrals ``owners``."""
        k, distinct = self.k, self.distinct
        interval, count = self._intervals(a, b)
        self.intervals = count
        s, i = np.divmod(owners, k)
        first, at_p = distinct(interval * k + i, count * k)
        nodes = y[first]
        p = self._pvalues(np.concatenate([nodes, -nodes], axis=1), i[first])
        low, high = self.bounds
        self.clamped = (p == low) | (p == high)
        w = self._selection(p, at_p, interval, s, i)
        first, at_d = distinct(interval * self.num_density + self.density_group[owners], count * self.num_density)
        nodes, rows = y[first], owners[first]
        dens = self._dnorm(np.concatenate([nodes, -nodes], axis=1), self.yhat[rows][:, None], self.sd[rows][:, None])
        f = w * dens[at_d]
        return f[:, :15] + f[:, 15:]

    def _power(self, p: np.ndarray, rows: np.ndarray, complement: bool, exponent: np.ndarray) -> np.ndarray:
        """``p[rows] ** exponent`` (of ``1 - p[rows]`` with ``complement``), row by row; the clamped
        p-values (over half of them) share two values per row, whose powers are taken once."""
        base = p[rows]
        if complement:
            base = 1 - base
        clamped = self.clamped[rows]
        with np.errstate(all="ignore"):
            low, high = self.bounds
            if complement:
                low, high = 1 - high, 1 - low
            out = np.where(base == low, (low ** exponent)[:, None], (high ** exponent)[:, None])
            free = ~clamped
            out[free] = base[free] ** np.broadcast_to(exponent[:, None], base.shape)[free]
        return out

    def _selection(self, p: np.ndarray, at_p: np.ndarray, interval: np.ndarray, s: np.ndarray, i: np.ndarray
                   ) -> np.ndarray:
        """Selection weights of every row: each factor once per (interval, study, its parameter)."""
        k, data, intervals = self.k, self.data, self.intervals
        if data.kind == "beta":
            out = None
            for j, (group, count) in enumerate(self.factors):
                first, at = self.distinct((interval * count + group[s]) * k + i, intervals * count * k)
                part = self._power(p, at_p[first], j == 1, self.deltas[s[first], j] - 1)
                out = part[at] if out is None else out * part[at]
            return out
        group, count = self.factors[0]
        first, at = self.distinct((interval * count + group[s]) * k + i, intervals * count * k)
        w = self._weights(data.kind, p[at_p[first]], self.deltas[s[first]].T[:, :, None], data.prec[i[first]][:, None],
                          data.steps)
        return w[at]
