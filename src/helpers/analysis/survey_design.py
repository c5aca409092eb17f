"""Design-based estimation for complex survey samples (stratified, clustered, weighted).

The estimator follows the R ``survey`` package (Lumley), ``svydesign(id=~psu, strata=~strata,
weights=~weight, fpc=~fpc)`` with a single sampling stage, and reproduces its ``svymean``,
``svytotal``, ``svyratio``, factor means (proportions) and ``svyby`` domain estimates.

Method (documented choices)
---------------------------
- **Point estimates** are weighted (Horvitz-Thompson) totals and ratios of totals:
  a mean is ``sum(w y) / sum(w)``, a proportion is the mean of a 0/1 indicator, a ratio is
  ``sum(w y) / sum(w x)``.
- **Standard errors** by Taylor linearisation. Each estimate has an influence value per row
  (``w y`` for a total, ``w (y - R x) / sum(w x)`` for a ratio; a mean is a ratio with
  ``x = 1``). Influence values are summed to PSU totals ``t_hi`` and the variance is the
  with-replacement (first-stage) estimator
  ``sum_h (1 - f_h) n_h / (n_h - 1) sum_i (t_hi - mean_h t)^2`` with ``n_h`` the number of PSUs
  in stratum ``h``. ``f_h = 0`` unless ``fpc`` is given (then it is a without-replacement SRS of
  PSUs within strata, as in R).
- **fpc** is a column constant within a stratum holding either the population number of PSUs
  ``N_h`` (all values > 1; ``f_h = n_h / N_h``) or the sampling fraction (all values <= 1),
  exactly as R's ``svydesign(fpc=)`` accepts either.
- **No psu**: each row is its own PSU (R's ``id=~1``). **No strata**: one stratum.
- **PSU identifiers** must be unique across strata (R's default ``nest=FALSE``); pass
  ``nest=True`` when PSU codes restart within each stratum.
- **Domains** (``by=`` groups and ``domain=`` masks) use the full design: influence values are
  zero outside the domain and every PSU of the design still counts in ``n_h``; the sample is
  never subset. This is R's ``svyby`` / ``subset(design, ...)`` behaviour.
- **Missing values** in the analysis variable are always dropped with ``na.rm=TRUE``
  semantics, i.e. treated as a domain (the rows stay in the design with zero influence), as
  R's ``svymean(..., na.rm=TRUE)`` does. ``n`` reports the rows actually used.
- **Single-PSU strata** ("lonely PSUs", R's ``options(survey.lonely.psu=)``): ``"fail"``
  (default) raises ``LonelyPSUError`` when the design is built; ``"remove"`` lets such a stratum
  contribute nothing to the variance; ``"adjust"`` centres its PSU total at the average PSU total
  of the whole sample (conservative), as R does. A stratum sampled completely (``f_h = 1``)
  contributes nothing, whatever its size.
- **Confidence intervals** are 95% normal-approximation intervals ``estimate +/- 1.959964 se``,
  which is what R's ``confint()`` gives for ``svymean``/``svytotal``/``svyratio`` results (it
  uses ``df = Inf``). Set ``level=`` to change the coverage.
- ``n`` is the unweighted number of rows used in the cell; ``n_eff`` is Kish's effective sample
  size ``(sum w)^2 / sum w^2`` over those rows.

- **Raking** (:func:`rake`, :meth:`SurveyDesign.raked`): calibration of the weights to known
  population totals of several margins by iterative proportional fitting (Deming & Stephan
  1940; the raking-ratio estimator of Deville & Särndal 1992, calibration with the multiplicative
  distance), as R's ``survey::rake``: each margin in turn is post-stratified (the weights of a
  cell multiplied by total / weighted count) until every weighted margin equals its totals. The
  variance then uses the influence values residualised on the margins, iterated ten times over
  the margins as R's ``svyrecvar`` does for a raked design (``x - w * ave(x / w, margin)``),
  at the level of the raked unit (a respondent, whose rows share one PSU).

Every computation is vectorised: all cells of a ``by`` estimate are computed as the columns of
one influence matrix, so 10,000 rows by 35 strata by dozens of cells takes milliseconds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

LONELY_PSU_OPTIONS = ("fail", "remove", "adjust")
RESULT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "n", "n_eff"]


class SurveyDesignError(ValueError):
    """The design specification or the data given to it is invalid."""


class LonelyPSUError(SurveyDesignError):
    """A stratum has a single PSU and ``lonely_psu='fail'``."""


class RakingError(SurveyDesignError):
    """Raking is impossible (a cell without sample, a sample cell without a total) or did not
    converge."""


def rake(
    data: pd.DataFrame,
    weight: np.ndarray | str,
    margins: Sequence[tuple[Sequence[str], pd.DataFrame]],
    *,
    maxit: int = 100,
    epsilon: float = 1e-12,
) -> np.ndarray:
    """Raked weights: ``weight`` calibrated to each margin's population totals by iterative
    proportional fitting (R ``survey::rake``).

    ``margins`` is a list of (variables, totals) with ``totals`` a frame holding the variables
    and a ``total`` column (one row per cell). One pass post-stratifies on every margin in
    order; passes repeat until the largest gap between a weighted margin cell and its total is
    below ``epsilon`` x the population total (R's ``control = list(epsilon = ...)`` with
    epsilon < 1 is the same relative rule; R's default, epsilon = 1 on counts and at most 10
    passes, stops earlier). Raises :class:`RakingError` when a cell with a total has no
    sample, a sampled cell has no total, or the passes do not converge within ``maxit``.
    """
    w = (
        pd.to_numeric(data[weight], errors="coerce").to_numpy(dtype=float)
        if isinstance(weight, str)
        else np.asarray(weight, dtype=float).copy()
    )
    if len(w) != len(data) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise RakingError("raking needs a positive weight for every row")
    cells = []
    for cols, totals in margins:
        cols = list(cols)
        for c in cols:
            if c not in data.columns:
                raise RakingError(f"raking variable {c!r} is not in the data")
        key = (
            data[cols].astype(str).agg("\x1f".join, axis=1)
            if len(cols) > 1
            else data[cols[0]].astype(str)
        )
        tkey = (
            totals[cols].astype(str).agg("\x1f".join, axis=1)
            if len(cols) > 1
            else totals[cols[0]].astype(str)
        )
        tmap = dict(zip(tkey, totals["total"].astype(float), strict=True))
        missing = sorted(set(key) - set(tmap))
        if missing:
            raise RakingError(
                f"{', '.join(cols)} = {missing[0].replace(chr(31), ', ')}: respondents in a cell "
                "without a population total"
            )
        empty = sorted(set(tmap) - set(key))
        if empty:
            raise RakingError(
                f"{', '.join(cols)} = {empty[0].replace(chr(31), ', ')}: a population total for a "
                "cell without respondents"
            )
        codes, uniq = pd.factorize(key, sort=True)
        target = np.array([tmap[u] for u in uniq])
        cells.append((codes, target))
    grand = float(cells[0][1].sum()) if cells else float(w.sum())
    for _ in range(maxit):
        for codes, target in cells:
            sums = np.bincount(codes, weights=w, minlength=len(target))
            w = w * (target / sums)[codes]
        gap = max(
            float(np.abs(np.bincount(c, weights=w, minlength=len(t)) - t).max()) for c, t in cells
        )
        if gap <= epsilon * grand:
            return w
    raise RakingError(f"raking did not converge in {maxit} passes (largest gap {gap:,.3g})")


@dataclass(frozen=True)
class _Cells:
    """Internal: k estimation cells as columns of (n, k) matrices."""

    num: np.ndarray  # numerator variable, 0 where unused
    den: np.ndarray | None  # denominator variable (None for totals)
    mask: np.ndarray  # bool, row is in the cell (domain and non-missing)


class SurveyDesign:
    """A one-stage stratified cluster sample design, like R's ``svydesign``.

    Parameters
    ----------
    data:
        One row per sampled unit (respondent, school, ...).
    weight:
        Column with sampling weights (finite, >= 0, not all zero).
    strata:
        Column with stratum codes, or None for an unstratified design.
    psu:
        Column with primary sampling unit (cluster) codes, or None when units are sampled
        individually (each row is its own PSU).
    fpc:
        Column with the stratum population size in PSUs ``N_h`` (values > 1) or the sampling
        fraction ``f_h`` (values <= 1); constant within a stratum. None: with replacement.
    lonely_psu:
        What to do with a stratum holding a single PSU: ``"fail"`` (default), ``"remove"`` or
        ``"adjust"`` (see the module docstring).
    nest:
        PSU codes are only unique within strata (R's ``nest=TRUE``).
    level:
        Confidence level of the intervals (default 0.95).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        weight: str,
        strata: str | None = None,
        psu: str | None = None,
        fpc: str | None = None,
        *,
        lonely_psu: str = "fail",
        nest: bool = False,
        level: float = 0.95,
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise SurveyDesignError("data must be a pandas DataFrame")
        if len(data) == 0:
            raise SurveyDesignError("the survey data has no rows")
        if lonely_psu not in LONELY_PSU_OPTIONS:
            raise SurveyDesignError(
                f"lonely_psu must be one of {LONELY_PSU_OPTIONS}, got {lonely_psu!r}"
            )
        if not 0 < level < 1:
            raise SurveyDesignError(f"level must be between 0 and 1, got {level}")
        for role, col in (("weight", weight), ("strata", strata), ("psu", psu), ("fpc", fpc)):
            if col is not None and col not in data.columns:
                raise SurveyDesignError(f"{role} column {col!r} is not in the data")

        self.data = data.reset_index(drop=True)
        self.weight, self.strata, self.psu, self.fpc = weight, strata, psu, fpc
        self.lonely_psu = lonely_psu
        self.level = float(level)
        self._z = float(norm.ppf(0.5 + level / 2))
        n = len(self.data)

        w = pd.to_numeric(self.data[weight], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(w)):
            raise SurveyDesignError(f"weight column {weight!r} has missing or non-numeric values")
        if np.any(w < 0):
            raise SurveyDesignError(f"weight column {weight!r} has negative values")
        if w.sum() <= 0:
            raise SurveyDesignError(f"weight column {weight!r} sums to zero")
        self.w = w

        # Strata codes 0..H-1.
        if strata is None:
            s_codes = np.zeros(n, dtype=np.int64)
            s_labels = pd.Index([0])
        else:
            s = self.data[strata]
            if s.isna().any():
                raise SurveyDesignError(f"strata column {strata!r} has missing values")
            s_codes, s_labels = pd.factorize(s, sort=True)
        n_strata = len(s_labels)

        # PSU codes 0..P-1, numbered so that the PSUs of a stratum are contiguous.
        if psu is None:
            p_raw = np.arange(n, dtype=np.int64)
        else:
            p = self.data[psu]
            if p.isna().any():
                raise SurveyDesignError(f"psu column {psu!r} has missing values")
            p_raw = pd.factorize(p)[0].astype(np.int64)
            if not nest:
                per_psu = pd.DataFrame({"p": p_raw, "s": s_codes}).groupby("p")["s"].nunique()
                if (per_psu > 1).any():
                    raise SurveyDesignError(
                        f"{int((per_psu > 1).sum())} PSU code(s) in {psu!r} appear in more than "
                        "one stratum; pass nest=True if PSU codes restart within strata"
                    )
        pairs = pd.DataFrame({"s": s_codes, "p": p_raw})
        key = pairs.drop_duplicates().sort_values(["s", "p"]).reset_index(drop=True)
        key["code"] = np.arange(len(key))
        psu_codes = pairs.merge(key, on=["s", "p"], how="left")["code"].to_numpy()
        psu_stratum = key["s"].to_numpy()
        n_psu_h = np.bincount(psu_stratum, minlength=n_strata)

        # Finite population correction per stratum.
        f_h = np.zeros(n_strata)
        if fpc is not None:
            fv = pd.to_numeric(self.data[fpc], errors="coerce")
            if fv.isna().any():
                raise SurveyDesignError(f"fpc column {fpc!r} has missing or non-numeric values")
            per_stratum = pd.DataFrame({"s": s_codes, "f": fv.to_numpy()}).groupby("s")["f"]
            if (per_stratum.nunique() > 1).any():
                raise SurveyDesignError(f"fpc column {fpc!r} varies within a stratum")
            fh = per_stratum.first().reindex(range(n_strata)).to_numpy(dtype=float)
            if np.any(fh <= 0):
                raise SurveyDesignError(f"fpc column {fpc!r} has values <= 0")
            if np.all(fh <= 1):
                f_h = fh
            elif np.all(fh > 1):
                if np.any(fh < n_psu_h):
                    raise SurveyDesignError(
                        f"fpc column {fpc!r}: a stratum population size is smaller than the "
                        "number of PSUs sampled from it"
                    )
                f_h = n_psu_h / fh
            else:
                raise SurveyDesignError(
                    f"fpc column {fpc!r} mixes sampling fractions (<= 1) and population sizes (> 1)"
                )

        lonely = (n_psu_h == 1) & (f_h < 1)
        if lonely.any() and lonely_psu == "fail":
            names = ", ".join(str(s_labels[i]) for i in np.flatnonzero(lonely)[:10])
            raise LonelyPSUError(
                f"{int(lonely.sum())} stratum/strata have a single PSU ({names}); the variance "
                "cannot be estimated. Collapse strata, or pass lonely_psu='remove' or 'adjust'."
            )

        self._n_strata = n_strata
        self._strata_labels = s_labels
        self._psu_codes = psu_codes
        self._psu_stratum = psu_stratum
        self._n_psu_h = n_psu_h
        self._f_h = f_h
        self._lonely = lonely
        # Scale per stratum: (1 - f_h) n_h / (n_h - 1); lonely strata are handled separately.
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = (1 - f_h) * n_psu_h / (n_psu_h - 1)
        scale[n_psu_h <= 1] = 0.0
        self._scale = scale
        self._calibration: tuple | None = None  # (unit code per row, [margin codes per unit])
        self._row_order = np.argsort(psu_codes, kind="stable")
        sorted_codes = psu_codes[self._row_order]
        # Every PSU code 0..P-1 occurs, so the run starts are exactly the P PSUs in order.
        self._psu_starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])

    # ------------------------------------------------------------------ design facts
    @property
    def n_strata(self) -> int:
        """Number of strata."""
        return self._n_strata

    @property
    def n_psu(self) -> int:
        """Number of sampled PSUs."""
        return len(self._psu_stratum)

    def __repr__(self) -> str:
        return (
            f"SurveyDesign(rows={len(self.data)}, strata={self.n_strata}, psu={self.n_psu}, "
            f"fpc={'yes' if self.fpc else 'no'}, lonely_psu={self.lonely_psu!r})"
        )

    def raked(
        self,
        margins: Sequence[tuple[Sequence[str], pd.DataFrame]],
        unit: str | None = None,
        **kw,
    ) -> SurveyDesign:
        """This design with its weights raked to ``margins`` (see :func:`rake`), like R's
        ``rake(design, ...)``; estimates then use the raked weights and calibrated variances.

        ``unit``: a column identifying the raked unit when a unit has several rows (a
        respondent with one row per service used): the unit's weight (its first row's) is
        raked, and every row of the unit gets the raked weight. Margin variables must be
        constant within a unit."""
        data = self.data
        if unit is None:
            ucodes = np.arange(len(data))
        else:
            ucodes = pd.factorize(data[unit])[0]
        first = np.unique(ucodes, return_index=True)[1]
        units = data.iloc[first].reset_index(drop=True)
        w_unit = rake(units, self.w[first], margins, **kw)
        out = SurveyDesign.__new__(SurveyDesign)
        out.__dict__.update(self.__dict__)
        out.w = w_unit[ucodes]
        mcodes = []
        for cols, _totals in margins:
            cols = list(cols)
            key = (
                units[cols].astype(str).agg("\x1f".join, axis=1)
                if len(cols) > 1
                else units[cols[0]].astype(str)
            )
            mcodes.append(pd.factorize(key)[0])
        out._calibration = (ucodes, mcodes, w_unit)
        out.raking = [list(c) for c, _ in margins]
        return out

    raking: list | None = None

    def _calibrate(self, z: np.ndarray) -> np.ndarray:
        """Influence values residualised on the raking margins (R ``svyrecvar``, class
        "raking": ten passes of ``x <- x - w * ave(x / w, margin)`` over the margins), summed
        per raked unit; each unit's total is put on its first row (a unit lies in one PSU)."""
        if self._calibration is None:
            return z
        ucodes, mcodes, w_unit = self._calibration
        n_units = len(w_unit)
        zu = np.zeros((n_units, z.shape[1]))
        np.add.at(zu, ucodes, z)
        for _ in range(10):
            for codes in mcodes:
                k = codes.max() + 1
                counts = np.bincount(codes, minlength=k).astype(float)
                ratio = zu / w_unit[:, None]
                means = np.zeros((k, z.shape[1]))
                np.add.at(means, codes, ratio)
                means /= counts[:, None]
                zu = zu - w_unit[:, None] * means[codes]
        out = np.zeros_like(z, dtype=float)
        first = np.unique(ucodes, return_index=True)[1]
        out[first] = zu
        return out

    # ------------------------------------------------------------------ variance engine
    def vcov(self, influence: np.ndarray) -> np.ndarray:
        """Design-based covariance matrix of the totals of the influence columns.

        ``influence`` is an (n, k) array (or a length-n vector) of linearised values, one row per
        data row. Returns the (k, k) covariance matrix.
        """
        z = np.asarray(influence, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        if z.shape[0] != len(self.w):
            raise SurveyDesignError("influence must have one row per data row")
        z = self._calibrate(z)
        dev = self._psu_deviations(z)
        return dev.T @ (dev * self._scale_per_psu()[:, None]) + self._lonely_term(z)

    def variance(self, influence: np.ndarray) -> np.ndarray:
        """Variances (the diagonal of :meth:`vcov`) of the totals of the influence columns."""
        z = np.asarray(influence, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        z = self._calibrate(z)
        dev = self._psu_deviations(z)
        out = (dev**2 * self._scale_per_psu()[:, None]).sum(axis=0)
        if self._lonely.any() and self.lonely_psu == "adjust":
            out = out + np.diag(self._lonely_term(z))
        return out

    def _psu_totals(self, z: np.ndarray) -> np.ndarray:
        """Sum the rows of ``z`` within each PSU (rows pre-sorted by PSU: one reduceat)."""
        return np.add.reduceat(z[self._row_order], self._psu_starts, axis=0)

    def _psu_deviations(self, z: np.ndarray) -> np.ndarray:
        t = self._psu_totals(z)
        sums = np.zeros((self.n_strata, t.shape[1]))
        np.add.at(sums, self._psu_stratum, t)
        means = sums / np.maximum(self._n_psu_h, 1)[:, None]
        return t - means[self._psu_stratum]

    def _scale_per_psu(self) -> np.ndarray:
        return self._scale[self._psu_stratum]

    def _lonely_term(self, z: np.ndarray) -> np.ndarray:
        k = z.shape[1]
        if not self._lonely.any() or self.lonely_psu != "adjust":
            return np.zeros((k, k))
        t = self._psu_totals(z)
        centred = t - t.mean(axis=0)
        is_lonely = self._lonely[self._psu_stratum]
        d = centred[is_lonely] * np.sqrt(1 - self._f_h[self._psu_stratum][is_lonely])[:, None]
        return d.T @ d

    # ------------------------------------------------------------------ helpers
    def _column(self, var: str) -> pd.Series:
        if var not in self.data.columns:
            raise SurveyDesignError(f"column {var!r} is not in the survey data")
        return self.data[var]

    def _numeric(self, var: str) -> np.ndarray:
        col = self._column(var)
        if pd.api.types.is_bool_dtype(col):
            col = col.astype("float64")
        if not pd.api.types.is_numeric_dtype(col):
            raise SurveyDesignError(
                f"column {var!r} is not numeric (dtype {col.dtype}); use proportion() for "
                "categorical variables"
            )
        return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def _domain_mask(self, domain) -> np.ndarray:
        if domain is None:
            return np.ones(len(self.w), dtype=bool)
        if isinstance(domain, str):
            domain = self._column(domain)
        arr = pd.Series(domain)
        if len(arr) != len(self.w):
            raise SurveyDesignError("domain mask must have one value per data row")
        if arr.isna().any():
            raise SurveyDesignError("domain mask has missing values")
        if not pd.api.types.is_bool_dtype(arr):
            raise SurveyDesignError("domain must be a boolean mask or the name of a boolean column")
        return arr.to_numpy(dtype=bool)

    def _groups(self, by) -> tuple[pd.DataFrame, np.ndarray]:
        """Return (group key frame, group code per row with -1 for rows in no group)."""
        if by is None:
            return pd.DataFrame(index=[0]), np.zeros(len(self.w), dtype=np.int64)
        cols = [by] if isinstance(by, str) else list(by)
        for c in cols:
            self._column(c)
        keys = self.data[cols]
        valid = ~keys.isna().any(axis=1).to_numpy()
        codes = np.full(len(self.w), -1, dtype=np.int64)
        if valid.any():
            sub = keys[valid]
            if len(cols) == 1:
                # one column: its values factorised as the one-element keys would be (a
                # MultiIndex of one level first builds a tuple per row: a tenth of a survey
                # report's time)
                c, uniq = pd.factorize(sub[cols[0]].to_numpy(dtype=object), sort=True)
                uniq = [(u,) for u in uniq]
            else:
                c, uniq = pd.factorize(pd.MultiIndex.from_frame(sub), sort=True)
            codes[valid] = c
            frame = pd.DataFrame(list(uniq), columns=cols)
        else:
            frame = pd.DataFrame(columns=cols)
        return frame.reset_index(drop=True), codes

    def _estimate(self, cells: _Cells) -> pd.DataFrame:
        """Estimates, SEs, CIs, n and n_eff for k cells (one row per cell)."""
        w = self.w[:, None]
        m = cells.mask
        wm = w * m
        num_tot = (wm * cells.num).sum(axis=0)
        if cells.den is None:
            est = num_tot
            z = wm * cells.num
        else:
            den_tot = (wm * cells.den).sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                est = np.where(den_tot != 0, num_tot / den_tot, np.nan)
                z = (
                    wm
                    * (cells.num - np.nan_to_num(est) * cells.den)
                    / np.where(den_tot != 0, den_tot, 1.0)
                )
        var = self.variance(z)
        se = np.sqrt(np.maximum(var, 0.0))
        se = np.where(np.isnan(est), np.nan, se)
        n = m.sum(axis=0)
        sw = wm.sum(axis=0)
        sw2 = (wm * w).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            n_eff = np.where(sw2 > 0, sw**2 / sw2, 0.0)
        return pd.DataFrame(
            {
                "estimate": est,
                "se": se,
                "ci_low": est - self._z * se,
                "ci_high": est + self._z * se,
                "n": n.astype(np.int64),
                "n_eff": n_eff,
            }
        )

    def _by_cells(
        self, num: np.ndarray, den: np.ndarray | None, ok: np.ndarray, by, domain
    ) -> tuple[pd.DataFrame, _Cells]:
        keys, codes = self._groups(by)
        base = ok & self._domain_mask(domain)
        g = len(keys)
        mask = (codes[:, None] == np.arange(g)[None, :]) & base[:, None]
        numm = np.where(mask, np.nan_to_num(num)[:, None], 0.0)
        denm = None if den is None else np.where(mask, np.nan_to_num(den)[:, None], 0.0)
        return keys, _Cells(numm, denm, mask)

    @staticmethod
    def _finish(keys: pd.DataFrame, res: pd.DataFrame, by) -> pd.DataFrame:
        if by is None:
            return res.reset_index(drop=True)
        return pd.concat([keys.reset_index(drop=True), res], axis=1)

    # ------------------------------------------------------------------ public estimators
    def total(self, var: str, by: str | Sequence[str] | None = None, domain=None) -> pd.DataFrame:
        """Estimated population total of ``var`` (R ``svytotal``), per ``by`` group if given."""
        y = self._numeric(var)
        keys, cells = self._by_cells(y, None, ~np.isnan(y), by, domain)
        return self._finish(keys, self._estimate(cells), by)

    def mean(self, var: str, by: str | Sequence[str] | None = None, domain=None) -> pd.DataFrame:
        """Estimated population mean of ``var`` (R ``svymean``), per ``by`` group if given."""
        y = self._numeric(var)
        ones = np.ones_like(y)
        keys, cells = self._by_cells(y, ones, ~np.isnan(y), by, domain)
        return self._finish(keys, self._estimate(cells), by)

    def ratio(
        self, num: str, den: str, by: str | Sequence[str] | None = None, domain=None
    ) -> pd.DataFrame:
        """Ratio of population totals ``sum(num) / sum(den)`` (R ``svyratio``)."""
        y, x = self._numeric(num), self._numeric(den)
        keys, cells = self._by_cells(y, x, ~np.isnan(y) & ~np.isnan(x), by, domain)
        return self._finish(keys, self._estimate(cells), by)

    def proportion(
        self, var: str, by: str | Sequence[str] | None = None, domain=None
    ) -> pd.DataFrame:
        """Share of the population in each level of ``var`` (R ``svymean(~factor)``).

        One row per (group, level) with a ``level`` column; missing values are excluded from
        the denominator (``na.rm`` semantics).
        """
        col = self._column(var)
        ok = ~col.isna().to_numpy()
        if isinstance(col.dtype, pd.CategoricalDtype):
            levels = [lv for lv in col.cat.categories if (col == lv).any()]
        else:
            levels = sorted(col[ok].unique().tolist())
        if not levels:
            raise SurveyDesignError(f"column {var!r} has no non-missing values")
        keys, codes = self._groups(by)
        base = ok & self._domain_mask(domain)
        g = len(keys)
        gmask = (codes[:, None] == np.arange(g)[None, :]) & base[:, None]  # (n, g)
        values = col.to_numpy(dtype=object)
        nums, masks = [], []
        for lv in levels:
            ind = np.where(ok, values == lv, False).astype(float)
            nums.append(gmask * ind[:, None])
            masks.append(gmask)
        num = np.concatenate(nums, axis=1)
        mask = np.concatenate(masks, axis=1)
        res = self._estimate(_Cells(num, mask.astype(float), mask))
        level_col = np.repeat(np.array(levels, dtype=object), g)
        key_rep = pd.concat([keys] * len(levels), ignore_index=True)
        out = pd.concat([key_rep, pd.DataFrame({"level": level_col}), res], axis=1)
        sort_cols = ([] if by is None else keys.columns.tolist()) + ["level"]
        order = out[sort_cols].assign(_lv=[levels.index(v) for v in out["level"]])
        order = order.sort_values([*sort_cols[:-1], "_lv"], kind="stable").index
        return out.loc[order].reset_index(drop=True)

    def by(self, by: str | Sequence[str], statistic: str, *args: str) -> pd.DataFrame:
        """Domain estimates for each group of ``by`` (R ``svyby``).

        ``statistic`` is one of 'mean', 'total', 'ratio', 'proportion'; ``args`` are the
        variable(s) it takes, e.g. ``design.by("stype", "mean", "api00")``.
        """
        methods = {
            "mean": self.mean,
            "total": self.total,
            "ratio": self.ratio,
            "proportion": self.proportion,
        }
        if statistic not in methods:
            raise SurveyDesignError(f"statistic must be one of {sorted(methods)}")
        return methods[statistic](*args, by=by)

    def means(
        self,
        variables: Sequence[str],
        by: str | Sequence[str] | None = None,
        domain=None,
    ) -> pd.DataFrame:
        """Means of several numeric variables in one pass: a ``variable`` column is added."""
        frames = []
        keys, codes = self._groups(by)
        base = self._domain_mask(domain)
        g = len(keys)
        gm = (codes[:, None] == np.arange(g)[None, :]) & base[:, None]
        nums, dens, masks = [], [], []
        for v in variables:
            y = self._numeric(v)
            mk = gm & ~np.isnan(y)[:, None]
            nums.append(np.where(mk, np.nan_to_num(y)[:, None], 0.0))
            dens.append(mk.astype(float))
            masks.append(mk)
        res = self._estimate(
            _Cells(np.concatenate(nums, 1), np.concatenate(dens, 1), np.concatenate(masks, 1))
        )
        for i, v in enumerate(variables):
            part = res.iloc[i * g : (i + 1) * g].reset_index(drop=True)
            part.insert(0, "variable", v)
            frames.append(part if by is None else pd.concat([keys, part], axis=1))
        return pd.concat(frames, ignore_index=True)

    # ------------------------------------------------------------------ regression
    def logit(
        self,
        outcome: str | pd.Series | np.ndarray,
        predictors: Sequence[str] | pd.DataFrame,
        domain=None,
        add_constant: bool = True,
    ) -> pd.DataFrame:
        """Survey-weighted logistic regression with design-based standard errors (R ``svyglm``).

        Coefficients maximise the weighted (pseudo) likelihood; the covariance is the
        linearisation sandwich ``A^-1 V A^-1`` with ``A = sum w mu (1 - mu) x x'`` and ``V`` the
        design covariance of the score totals ``w (y - mu) x`` (strata, PSUs, fpc), i.e. what
        R's ``svyglm(..., family=quasibinomial())`` reports. Rows with a missing outcome or
        predictor, and rows outside ``domain``, have zero influence (a domain of the full
        design). ``outcome`` must be 0/1. Returns one row per term with ``coef``, ``se``, ``z``,
        ``p_value``, ``ci_low``, ``ci_high``, ``odds_ratio``, ``or_low``, ``or_high`` and ``n``.
        """
        # Direct imports: statsmodels.api pulls in time series and graphics (seconds of import).
        from statsmodels.genmod import families
        from statsmodels.genmod.generalized_linear_model import GLM
        from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

        n = len(self.w)
        y = (
            self._numeric(outcome)
            if isinstance(outcome, str)
            else np.asarray(pd.to_numeric(pd.Series(outcome), errors="coerce"), dtype=float)
        )
        if isinstance(predictors, pd.DataFrame):
            x = predictors.reset_index(drop=True).astype(float)
        else:
            x = pd.DataFrame({c: self._numeric(c) for c in predictors})
        if len(y) != n or len(x) != n:
            raise SurveyDesignError("outcome and predictors must have one value per data row")
        if add_constant:
            x.insert(0, "const", 1.0)
        ok = self._domain_mask(domain) & ~np.isnan(y) & x.notna().all(axis=1).to_numpy()
        ok &= self.w > 0
        if not np.isin(y[ok], (0.0, 1.0)).all():
            raise SurveyDesignError("the logit outcome must be coded 0/1")
        if ok.sum() <= x.shape[1]:
            raise SurveyDesignError(
                f"too few complete rows ({int(ok.sum())}) for {x.shape[1]} model terms"
            )
        xm = x.to_numpy(dtype=float)
        if np.linalg.matrix_rank(xm[ok]) < xm.shape[1]:
            raise SurveyDesignError("the predictors are collinear in the model rows")
        w_ok = self.w[ok]
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                fit = GLM(
                    y[ok], xm[ok], family=families.Binomial(), freq_weights=w_ok / w_ok.mean()
                ).fit()
            except PerfectSeparationWarning as exc:
                raise SurveyDesignError(
                    "perfect separation: a predictor (or combination) predicts the outcome "
                    "exactly, so the odds ratios are not identified"
                ) from exc
            except ConvergenceWarning as exc:
                raise SurveyDesignError("the logistic regression did not converge") from exc
        beta = np.asarray(fit.params, dtype=float)
        eta = np.where(ok, np.nan_to_num(xm) @ beta, 0.0)
        mu = expit(eta)
        wz = np.where(ok, self.w, 0.0)
        bread = (xm[ok] * (wz[ok] * mu[ok] * (1 - mu[ok]))[:, None]).T @ xm[ok]
        a_inv = np.linalg.inv(bread)
        scores = np.where(
            ok[:, None], np.nan_to_num(xm) * (wz * (np.nan_to_num(y) - mu))[:, None], 0.0
        )
        cov = a_inv @ self.vcov(scores) @ a_inv
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = beta / se
        return pd.DataFrame(
            {
                "term": list(x.columns),
                "coef": beta,
                "se": se,
                "z": zval,
                "p_value": 2 * norm.sf(np.abs(zval)),
                "ci_low": beta - self._z * se,
                "ci_high": beta + self._z * se,
                "odds_ratio": np.exp(beta),
                "or_low": np.exp(beta - self._z * se),
                "or_high": np.exp(beta + self._z * se),
                "n": int(ok.sum()),
            }
        )
