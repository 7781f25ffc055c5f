"""Variance components of a linear mixed model (lme4's ``VarCorr``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._rformat import format_num
from .._display import FrameMapping, TextReport

__all__ = ["VarCorr", "make_unique"]


def make_unique(names) -> list[str]:
    """R's ``make.unique``: later duplicates get ``.1``, ``.2`` ...

    Examples
    --------
    >>> make_unique(["Subject", "Subject", "Residual"])
    ['Subject', 'Subject.1', 'Residual']
    """
    seen: dict[str, int] = {}
    used = set(names)
    out = []
    for name in names:
        if name not in seen:
            seen[name] = 0
            out.append(name)
            continue
        k = seen[name]
        while True:
            k += 1
            cand = f"{name}.{k}"
            if cand not in used:
                break
        seen[name] = k
        used.add(cand)
        out.append(cand)
    return out


@dataclass(frozen=True, eq=False, repr=False)
class VarCorr(TextReport, FrameMapping):
    """Estimated variances, standard deviations and correlations of the random effects.

    Attributes
    ----------
    groups : tuple of str
        One name per random-effects term, made unique as lme4 does (``Subject.1``).
    names : tuple of tuple of str
        Column names of each term.
    covariances : tuple of ndarray
        ``k x k`` covariance matrix of each term (``sigma^2 T T'``).
    sigma : float
        Residual standard deviation.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fit.varcorr_table.to_frame().round(3)
            grp         var1  var2     vcov   sdcor
    0   Subject  (Intercept)   NaN  612.100  24.741
    1   Subject         Days   NaN   35.072   5.922
    2   Subject  (Intercept)  Days    9.604   0.066
    3  Residual          NaN   NaN  654.940  25.592
    """

    groups: tuple[str, ...]
    names: tuple[tuple[str, ...], ...]
    covariances: tuple[np.ndarray, ...]
    sigma: float

    @classmethod
    def from_theta(cls, group_names, column_names, templates, sigma: float) -> "VarCorr":
        """The variance components of relative covariance factors ``templates`` (lme4's lower
        triangular ``Lambda`` blocks, one per grouping factor) and the residual SD ``sigma``:
        each block's covariance is ``sigma^2 T T'``.

        Examples
        --------
        >>> import numpy as np, multilevel as ml
        >>> vc = ml.VarCorr.from_theta(["g"], [["(Intercept)", "x"]], [np.array([[1.0, 0.0], [0.5, 0.2]])], 2.0)
        >>> vc.covariances[0].tolist()
        [[4.0, 2.0], [2.0, 1.16]]
        """
        covs = tuple(sigma ** 2 * (T @ T.T) for T in templates)
        return cls(tuple(make_unique(list(group_names))), tuple(tuple(c) for c in column_names), covs,
                   float(sigma))

    def stddevs(self) -> list[np.ndarray]:
        """Standard deviations of the random effects, one array per grouping factor.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> [sd.round(3).tolist() for sd in fit.varcorr_table.stddevs()]
        [[24.741, 5.922]]
        """
        return [np.sqrt(np.diag(c)) for c in self.covariances]

    def correlations(self) -> list[np.ndarray]:
        """Correlation matrices of the random effects, one per grouping factor.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> [r.round(3).tolist() for r in fit.varcorr_table.correlations()]
        [[[1.0, 0.066], [0.066, 1.0]]]
        """
        out = []
        for c, sd in zip(self.covariances, self.stddevs()):
            with np.errstate(invalid="ignore", divide="ignore"):
                r = c / np.outer(sd, sd)
            np.fill_diagonal(r, 1.0)
            out.append(r)
        return out

    def to_frame(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(m))``: columns grp, var1, var2, vcov, sdcor.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> list(fit.varcorr_table.to_frame().columns)
        ['grp', 'var1', 'var2', 'vcov', 'sdcor']
        """
        rows = []
        for g, nm, c, sd, r in zip(self.groups, self.names, self.covariances, self.stddevs(),
                                   self.correlations()):
            for i, a in enumerate(nm):
                rows.append((g, a, None, c[i, i], sd[i]))
            for i in range(len(nm)):
                for j in range(i + 1, len(nm)):
                    rows.append((g, nm[i], nm[j], c[i, j], r[i, j]))
        rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    # ------------------------------------------------------------------ printing
    def table(self, digits: int = 4, comp=("Variance", "Std.Dev.")) -> tuple[list[str], list[list[str]]]:
        """Header and rows of lme4's ``formatVC`` as strings.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> header, rows = fit.varcorr_table.table()
        >>> header, rows[0]
        (['Groups', 'Name', 'Variance', 'Std.Dev.', 'Corr'], ['Subject', '(Intercept)', '612.10', '24.741', ''])
        """
        sds = list(np.concatenate(self.stddevs() + [np.array([self.sigma])]))
        lens = [len(n) for n in self.names] + [1]
        nrow = sum(lens)
        groups = [""] * nrow
        pos = 0
        for g, k in zip(list(self.groups) + ["Residual"], lens):
            groups[pos] = g
            pos += k
        names = [a for nm in self.names for a in nm] + [""]
        header = ["Groups", "Name"]
        cols = [groups, names]
        if "Variance" in comp:
            header.append("Variance")
            cols.append(format_num(np.square(sds), digits))
        if "Std.Dev." in comp:
            header.append("Std.Dev.")
            cols.append(format_num(sds, digits))
        maxlen = max(lens)
        if maxlen > 1:
            corr = self._corr_columns(digits, maxlen, nrow)
            header += ["Corr"] + [""] * (maxlen - 2)
            cols += corr
        rows = [[c[i] for c in cols] for i in range(nrow)]
        return header, rows

    def _corr_columns(self, digits, maxlen, nrow):
        dig = max(2, digits - 2)
        cells = []
        for r in self.correlations():
            k = r.shape[0]
            fm = np.array(format_num(np.round(r, dig).ravel(), 7, nsmall=dig), dtype=object).reshape(k, k)
            for i, j in zip(*np.nonzero(np.isnan(r))):  # 0/0 (a zero standard deviation): R's NaN, not NA
                fm[i, j] = "NaN".rjust(max(len(fm[i, j]), 3))
            block = [[fm[i, j] if i > j else "" for j in range(k)] + [""] * (maxlen - k) for i in range(k)]
            cells.extend(block)
        cells.extend([[""] * maxlen] * (nrow - len(cells)))
        return [[row[j] for row in cells] for j in range(maxlen - 1)]

    def format(self, digits: int = 4, comp=("Variance", "Std.Dev.")) -> str:
        """The table as R prints a character matrix (left-justified columns).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> print(fit.varcorr_table.format().splitlines()[0])
         Groups   Name        Variance Std.Dev. Corr
        """
        header, rows = self.table(digits, comp)
        widths = [max(len(x) for x in [h] + [r[j] for r in rows]) for j, h in enumerate(header)]
        lines = ["".join(" " + x.ljust(w) for x, w in zip(line, widths)).rstrip()
                 for line in [header] + rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format(digits=5, comp=("Std.Dev.",))
