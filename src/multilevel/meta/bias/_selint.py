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
_TABLE_MAX = 1 << 22              # keys beyond this many (and 8 per row) are made distinct by sorting


def _groups(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Group number of each row of ``values`` (equal rows share one) and the number of groups."""
    _, inverse = np.unique(values, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return inverse, int(inverse.max(initial=-1)) + 1


class _Distinct:
    """Distinct integer keys of a batch without sorting, through a scratch table indexed by key
    (by sorting when the key space is much larger than the batch).

    Only the entries of the keys in hand are written before they are read, so the table is
    never cleared between batches.
    """

    def __init__(self) -> None:
        self.table = np.empty(0, dtype=np.intp)

    def __call__(self, key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows holding one of each distinct ``key`` (values below ``size``) and, for every row,
        the position of its key among them."""
        if size > max(8 * key.size, _TABLE_MAX):  # a sparse key space: sort instead
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            return first, inverse.reshape(-1)
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
        if data.kind == "beta":  # p^(d1 - 1) (1 - p)^(d2 - 1): each factor on its own parameter
            self.factors = [_groups(deltas[:, j:j + 1]) for j in range(2)]
        else:
            self.factors = [_groups(deltas)]
        self.m = m
        self.share_p = m > 2
        self.share_density = self.num_density < m * k
        self.any_shared = self.share_p or self.share_density or any(count < m for _, count in self.factors)
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

    def _share(self, shared: bool, key, size: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(one row per distinct key, position of each row's key) when the factor is ``shared`` by
        some parameter sets, else (None, None): every row computes its own."""
        return self.distinct(key(), size) if shared else (None, None)

    def at_intervals(self, owners: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The folded integrand at the (n, 15) nodes ``y`` of intervals ``(a, b)`` of integrals ``owners``."""
        k = self.k
        interval, count = self._intervals(a, b) if self.any_shared else (None, 0)
        s, i = np.divmod(owners, k)
        first, at_p = self._share(self.share_p, lambda: interval * k + i, count * k)
        nodes, studies = _take(y, first), _take(i, first)
        p = self._pvalues(np.concatenate([nodes, -nodes], axis=1), studies)
        w = self._selection(p, at_p, interval, count, s, i)
        first, at_d = self._share(self.share_density, lambda: interval * self.num_density + self.density_group[owners],
                                  count * self.num_density)
        nodes, rows = _take(y, first), _take(owners, first)
        dens = self._dnorm(np.concatenate([nodes, -nodes], axis=1), self.yhat[rows][:, None], self.sd[rows][:, None])
        f = w * _take(dens, at_d)
        return f[:, :15] + f[:, 15:]

    @staticmethod
    def _power(p: np.ndarray, rows: np.ndarray | None, complement: bool, exponent: np.ndarray) -> np.ndarray:
        """``p[rows] ** exponent`` (of ``1 - p[rows]`` with ``complement``), row by row."""
        base = _take(p, rows)
        if complement:
            base = 1 - base
        with np.errstate(all="ignore"):
            return base ** exponent[:, None]

    def _selection(self, p: np.ndarray, at_p: np.ndarray | None, interval: np.ndarray | None, intervals: int,
                   s: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Selection weights of every row: each factor once per (interval, study, its parameter)
        where parameter sets share it."""
        k, data = self.k, self.data
        if data.kind == "beta":
            out = None
            for j, (group, count) in enumerate(self.factors):
                first, at = self._share(count < self.m, lambda: (interval * count + group[s]) * k + i,
                                        intervals * count * k)
                part = self._power(p, _compose(at_p, first), j == 1, self.deltas[_take(s, first), j] - 1)
                part = _take(part, at)
                out = part if out is None else out * part
            return out
        group, count = self.factors[0]
        first, at = self._share(count < self.m, lambda: (interval * count + group[s]) * k + i, intervals * count * k)
        rows = _take(s, first)
        w = self._weights(data.kind, _take(p, _compose(at_p, first)), self.deltas[rows].T[:, :, None],
                          data.prec[_take(i, first)][:, None], data.steps)
        return _take(w, at)


def _take(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values[rows]


def _compose(outer: np.ndarray | None, inner: np.ndarray | None) -> np.ndarray | None:
    """The rows ``outer[inner]`` with None as the identity."""
    if outer is None:
        return inner
    return outer if inner is None else outer[inner]
