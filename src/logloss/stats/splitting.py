"""Rare first passages by adaptive multilevel splitting on the levels of log L.

The mean first-passage time t_p(c) from a minimum to the level set L ≥ c·L* grows like a
power of c (paper Eq. 15): at η = 0.1, B = 1 it is about 10⁷ steps at c ≈ 4 and 10⁵⁷ at
c ≈ 12.5, far beyond brute force.  This module estimates it over as many decades as needed,
with the reaction coordinate ξ = log(L/L*) itself:

* **Exits from the bulk.**  Let A = {ξ ≤ ξ_A} be the bulk of the quasi-stationary state
  (by default ξ_A is its median).  Every escape starts with a step out of A, after which
  the chain reaches c before it returns to A.  In the quasi-stationary state the chain is
  in A a fraction p_A of the time, so the escape rate is

      k(c) = p_A · E_{x ∼ π_A}[ P_x(leave A in the next step, then reach c before A) ],

  with π_A the quasi-stationary law restricted to A, and t_p(c) = 1/k(c): the mean
  first-passage time from the quasi-stationary state, exact up to one excursion (a few
  relaxation times), i.e. to a relative O(1/(ηh*·t_p)) where escape is rare.  p_A and
  states from π_A come from a brute-force run (:meth:`System.flux`).  The step out of A
  belongs to the excursion, so a single large kick from the bulk straight past c, the way
  SGD escapes far from the minimum, is part of the estimate.
* **Splitting.**  The probability for every level at once by generalised adaptive
  multilevel splitting (Cérou & Guyader 2007; Bréhier, Gazeau, Goudenège, Lelièvre &
  Rousset, Ann. Appl. Probab. 26, 2016), on a grid of levels of ξ above ξ_A: n replicas
  start from states of π_A; each runs until it is back in A or at the top level, and
  records its highest level M and the state at which it first reached each level.  An
  iteration kills every replica whose M is at most the k-th smallest M (ties are killed
  together: this keeps the estimator unbiased for a discrete-time chain, whose jumps skip
  levels and make many replicas share one level), and restarts each from the state at
  which a survivor chosen at random first went *above* that level, with fresh randomness.
  Then

      P̂(level g) = Π_q (1 − K_q/n) × (fraction of replicas with M ≥ g),

  the product over the iterations q whose kill level is below g; it is unbiased for every
  g.  A jump past several levels is a success for all of them.
* **Errors, and where splitting cannot see the escape.**  Independent repetitions (each
  with its own brute-force run and splitting run) give rates k_m(c); their mean (not the
  mean of 1/k) and its standard error over repetitions give t_p and a delta-method error.
  Slopes of log t_p against log c come from a bootstrap over repetitions.  Splitting on ξ
  works when escapes climb the levels.  When they are made by single kicks too rare for a
  few hundred short trajectories to draw (online SGD with B = 1 escapes from the bulk by
  one sample with |x| ≈ 4 and |y| ≈ 3, probability ~10⁻⁷ per step), the estimate is still
  unbiased but heavy-tailed: most repetitions miss the kick and one carries the mean.  The
  *dominance* of each threshold, the largest repetition's share of Σ_m k_m, measures this:
  a threshold whose dominance exceeds ½ is reported as not resolved.
* **Importance-sampled kicks.**  A System may draw its noise from a tilted law that makes
  the rare kicks common (``tilted``: :class:`logloss.LinregSystem` online, ``tilt=ε``) and
  carry the log likelihood ratio of each path.  The ratio is part of the state: a clone
  inherits its parent's at the branching point, and P̂(level g) weights each replica that
  reached g by its ratio at its first state there.  The estimator stays unbiased (the
  weighted chain is a Markov chain, and splitting is unbiased for any function of the
  path); it was checked against plain excursions and against the exact online chain of
  d = 1 to 10¹³ steps.

A :class:`System` wraps a replica kernel (linear regression, the barrier landscapes, the
MLP) with two operations, :meth:`~System.flux` and :meth:`~System.excursions`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numba
import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured, standard_error
from ..core.progress import progress
from ..core.validation import check_positive_int
from ..dynamics.excursions import Excursions, FluxRun

__all__ = ["Excursions", "FluxRun", "System", "SplittingRun", "RareFirstPassage",
           "splitting", "rare_first_passage", "level_grid"]


class System(Protocol):
    """A replica kernel seen through the reaction coordinate ξ = log(L/L*).

    A System whose ``tilted`` attribute is true (optional; false when absent) is
    importance-sampled: its :meth:`excursions` also take ``log_weights`` (the start log
    likelihood ratio of each trajectory) and ``weight_records`` (rows, G), which it fills
    like ``records`` with the ratio at each record.
    """

    state_size: int
    relaxation: float  # steps: 1/(η h*), the relaxation time of the top curvature

    def levels(self, states: np.ndarray) -> np.ndarray:
        """ξ = log(L/L*) of each state, shape (R,)."""

    def flux(self, seed: int, *, replicas: int, burn: int, steps: int, xi_A: float,
             cap: int) -> FluxRun:
        """Brute-force runs from the minimum into the quasi-stationary state: the time spent
        in A, and states drawn from A."""

    def excursions(self, states: np.ndarray, start_level: np.ndarray, seed: int, *,
                   grid: np.ndarray, xi_A: float, max_steps: int,
                   records: np.ndarray | None = None,
                   rows: np.ndarray | None = None) -> Excursions:
        """One trajectory from each state, with fresh randomness from ``seed``; the first
        state at each level goes to ``records[rows[r], level]``."""


def level_grid(c_A: float, cs, spacing: float) -> np.ndarray:
    """Levels ξ of the splitting: uniform in log c with ``spacing`` above log c_A up to the
    largest threshold, with every threshold log c included exactly."""
    top = float(np.log(np.max(cs)))
    xi_A = float(np.log(c_A))
    uniform = xi_A + spacing * np.arange(1, int(np.ceil((top - xi_A) / spacing)) + 1)
    grid = np.union1d(uniform[uniform < top], np.log(np.asarray(cs, dtype=float)))
    return grid[grid > xi_A]


@dataclass
class SplittingRun:
    """One run of generalised adaptive multilevel splitting.

    Attributes
    ----------
    probability : ndarray, shape (G,)
        P̂(leave A in one step and reach grid[g] before A | a state of π_A), unbiased for
        every g.
    cost : ndarray of int64, shape (G,)
        Replica-steps spent before the estimate of level g was final.
    iterations : int
        Kill-and-restart iterations.
    capped : int
        Trajectories stopped by the step cap (counted as ending where they were).
    """

    probability: np.ndarray
    cost: np.ndarray
    iterations: int
    capped: int


def splitting(system: System, bulk: np.ndarray, *, grid: np.ndarray, xi_A: float,
              replicas: int, kill: int, rng: np.random.Generator, max_steps: int) -> SplittingRun:
    """Generalised adaptive multilevel splitting from the bulk (see the module docstring).

    Parameters
    ----------
    system : System
        The kernel.
    bulk : ndarray, shape (K, S)
        States of π_A; the n initial replicas are drawn from them uniformly.
    grid : ndarray, shape (G,)
        Increasing levels of ξ above ξ_A; grid[-1] is the target.
    xi_A : float
        The boundary of A (a trajectory with ξ ≤ ξ_A has returned).
    replicas, kill : int
        n and the number k of replicas killed per iteration (at least; ties are all killed).
    rng : numpy.random.Generator
        Source of every choice and seed.
    max_steps : int
        Step cap of a trajectory.
    """
    n = check_positive_int(replicas, "splitting replicas")
    k = min(check_positive_int(kill, "replicas killed per iteration"), n)
    G = grid.size
    levels = np.arange(G)
    states = np.ascontiguousarray(bulk[rng.integers(0, bulk.shape[0], n)])
    start = np.full(n, -1, dtype=np.int64)  # in A: below every level
    # in the states' own floating dtype (a float32 net's records take half the memory)
    records = np.full((n, G, states.shape[1]), np.nan,
                      dtype=np.result_type(states.dtype, np.float32))
    # log likelihood ratio of each replica's path at each record (0 unless importance-sampled)
    W = np.zeros((n, G))
    tilted = bool(getattr(system, "tilted", False))

    def run(new, lvl, log_w, rows):
        weights = dict(log_weights=log_w, weight_records=W) if tilted else {}
        return system.excursions(new, lvl, int(rng.integers(2**63)), grid=grid, xi_A=xi_A,
                                 max_steps=max_steps, records=records, rows=rows, **weights)

    ex = run(states, start, np.zeros(n), np.arange(n))
    M = ex.level.copy()
    spent = int(ex.steps.sum())
    capped = int((ex.outcome == 2).sum())
    prob = np.zeros(G)
    cost = np.zeros(G, dtype=np.int64)
    weight = 1.0
    done = np.zeros(G, dtype=bool)  # levels whose estimate is final
    iterations = 0
    while True:
        Z = int(np.partition(M, k - 1)[k - 1])
        # levels up to Z: their estimate is final (every later kill level is above them)
        final = (~done) & (levels <= Z)
        prob[final] = weight * _weighted_share(M, W, levels[final])
        cost[final] = spent
        done |= final
        if Z >= G - 1 or done.all():
            break
        killed = np.flatnonzero(M <= Z)
        survivors = np.flatnonzero(M > Z)
        if survivors.size == 0:
            break  # extinction: every level above Z has estimate 0
        weight *= 1.0 - killed.size / n
        parents = survivors[rng.integers(0, survivors.size, killed.size)]
        # restart from the state at which the parent first went above Z; that state is the
        # first state of the clone at every level from Z + 1 up to its own (later kill levels
        # are higher still, so the records below Z are never read again)
        new = records[parents, Z + 1].copy()
        log_w = W[parents, Z + 1].copy()
        lvl = np.searchsorted(grid, system.levels(new), side="right") - 1
        for row, top, state, w in zip(killed, lvl, new, log_w):
            records[row, Z + 1:top + 1] = state
            W[row, Z + 1:top + 1] = w
        ex = run(new, lvl, log_w, killed)
        M[killed] = ex.level
        spent += int(ex.steps.sum())
        capped += int((ex.outcome == 2).sum())
        iterations += 1
    rest = ~done
    prob[rest] = weight * _weighted_share(M, W, levels[rest])
    cost[rest] = spent
    return SplittingRun(prob, cost, iterations, capped)


def _weighted_share(M: np.ndarray, W: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(1/n) Σ_r w_r(g) 1[M_r ≥ g] at each level g: the share of replicas that reached g,
    each weighted by its path's likelihood ratio at the first state at g (1 untilted)."""
    reached = M[None, :] >= levels[:, None]  # (levels, n)
    w = np.exp(W[:, levels].T)
    return np.where(reached, w, 0.0).mean(axis=1)


@dataclass
class RareFirstPassage:
    """Mean first-passage times t_p(c) from :func:`rare_first_passage`.

    Attributes
    ----------
    c : ndarray, shape (K,)
        Thresholds c (L ≥ c·L*).
    t_p, t_p_stderr : ndarray, shape (K,)
        t_p = 1/mean_m(k_m(c)) in steps, and its delta-method standard error over the
        repetitions.
    log10_t_p_stderr : ndarray, shape (K,)
        The standard error of log₁₀ t_p.
    rates : ndarray, shape (M, K)
        k_m(c) = p_A,m · P̂_m(c) of each repetition (per step).
    p_A : ndarray, shape (M,)
        The fraction of time in A of each repetition's brute-force run.
    dominance : ndarray, shape (K,)
        max_m k_m(c) / Σ_m k_m(c): 1/M when the repetitions agree, near 1 when one of
        them carries the estimate (NaN where every rate is 0).
    resolved : ndarray of bool, shape (K,)
        dominance ≤ ½: the thresholds whose t_p the repetitions estimate jointly; the
        others are heavy-tailed (a rare route that most repetitions miss) or unreached.
        It cannot see a route that *every* repetition misses: online at d = 1, η = 0.1
        with 16 × 4000 replicas and the kicks importance-sampled, t_p agreed with the exact
        chain to within 0.2 decades up to c ≈ 12 (10¹² steps) and then drifted above it
        (2 decades at c ≈ 160, 9 at c ≈ 5400) while still resolved.  Where an exact
        reference exists, compare with it; otherwise, check that t_p does not fall when
        the replicas are raised.
    c_mid, slope, slope_stderr : ndarray, shape (K − 1,)
        Local slopes d log t_p / d log c between neighbouring thresholds (at the geometric
        mean c_mid), with bootstrap standard errors over repetitions (NaN where a
        resample has a zero rate).
    cost : int
        Replica-steps in all (flux runs, burn-ins and splitting, every repetition).
    cost_to : ndarray, shape (K,)
        Replica-steps spent until the estimate at c was final, summed over repetitions.
    relaxation : float
        1/(η h*) in steps; ``t_p / relaxation`` says how rare each escape is.
    settings : dict
        c_A, the level spacing and the sizes used.
    """

    c: np.ndarray
    t_p: np.ndarray
    t_p_stderr: np.ndarray
    log10_t_p_stderr: np.ndarray
    rates: np.ndarray
    p_A: np.ndarray
    dominance: np.ndarray
    resolved: np.ndarray
    c_mid: np.ndarray
    slope: np.ndarray
    slope_stderr: np.ndarray
    cost: int
    cost_to: np.ndarray
    relaxation: float
    settings: dict = field(default_factory=dict)

    def window_slope(self, which, *, seed, bootstrap: int = 400) -> Measured:
        """The slope of log t_p against log c over the thresholds ``which`` selects.

        A least-squares line through (log c, log t_p) at the selected thresholds, with the
        standard error of a bootstrap over whole repetitions: every threshold of one
        repetition comes from the same excursions, so the estimates at neighbouring c are
        correlated, and an inverse-variance mean of local slopes (which treats them as
        independent) would misstate the error.  ``which`` is a boolean mask over ``c`` or an
        array of indices, chosen before the slope is seen (for example t_p ≥ 100
        relaxation times and resolved); ``seed`` (an int or a sequence of ints) seeds the
        bootstrap.  A resample whose mean rate is 0 at a selected threshold (t_p = ∞) has
        no slope and is left out; the standard error is NaN when more than half are.  NaN
        with fewer than two selected thresholds.
        """
        which = np.asarray(which)
        keep = np.flatnonzero(which) if which.dtype == bool else which.astype(np.intp)
        if keep.size < 2:
            return Measured(float("nan"))
        x = np.log(self.c[keep])
        x = x - x.mean()
        M = self.rates.shape[0]
        draws = np.random.default_rng(seed).integers(0, M, (bootstrap, M))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_t = -np.log(self.rates[:, keep].mean(axis=0))
            log_tb = -np.log(self.rates[draws][:, :, keep].mean(axis=1))  # (bootstrap, k)
        slope = float(x @ log_t / (x @ x))
        slopes_b = log_tb[np.all(np.isfinite(log_tb), axis=1)] @ x / (x @ x)
        stderr = float(np.std(slopes_b, ddof=1)) if slopes_b.size > bootstrap // 2 else np.nan
        return Measured(slope, stderr)


def rare_first_passage(system: System, cs, *, seed: int, c_A: float | None = None,
                       repetitions: int = 8, replicas: int = 500, kill_fraction: float = 0.1,
                       spacing: float = 0.02, flux_replicas: int = 16, flux_burn: int | None = None,
                       flux_steps: int | None = None, bulk_per_replica: int = 64,
                       max_steps: int | None = None, bootstrap: int = 400,
                       jobs: int | None = None) -> RareFirstPassage:
    """Mean first-passage times t_p(c) from the quasi-stationary state, for any rarity.

    Parameters
    ----------
    system : System
        The kernel (e.g. :class:`logloss.LinregSystem`).
    cs : array_like
        Increasing thresholds c (L ≥ c·L*).  Those inside the bulk (c ≤ c_A), where escape
        is not a rare event, get t_p = NaN: measure them by brute force.
    seed : int
        Master seed: the pilot run and repetition m draw from children of
        ``SeedSequence(seed)``.
    c_A : float, optional
        The bulk A = {L ≤ c_A·L*} (in units of L*).  By default the median of L/L* in the
        quasi-stationary state, from a pilot brute-force run from the minimum
        (``flux_replicas`` replicas, the same burn-in and steps).  t_p does not depend on
        this choice (only its variance does) where escape is rare.
    repetitions : int
        Independent repetitions M (each: its own brute-force run and splitting run).
    replicas : int
        Splitting replicas n per repetition.
    kill_fraction : float
        Share of the replicas killed per iteration (at least one).
    spacing : float
        Level spacing in log c.
    flux_replicas, flux_burn, flux_steps : int
        Brute-force replicas, their burn-in and their steps after it (defaults: 20 and 200
        relaxation times).
    bulk_per_replica : int
        States of A kept per brute-force replica.
    max_steps : int
        Step cap of a splitting trajectory (default 10⁴ relaxation times).
    bootstrap : int
        Resamples for the slopes' standard errors.
    jobs : int
        Repetitions run at once on threads (default: numba's thread count).  The result does
        not depend on it: repetition m draws only from its own seed.
    """
    c = np.asarray(cs, dtype=float).ravel()
    if c.size == 0 or not np.all(np.isfinite(c)):
        raise InvalidInput("thresholds c must be a non-empty list of finite numbers")
    if np.any(np.diff(c) <= 0):
        raise InvalidInput("thresholds c must be strictly increasing")
    if not 0 < kill_fraction < 1:
        raise InvalidInput(f"kill_fraction must lie in (0, 1), got {kill_fraction}")
    if not (np.isfinite(spacing) and spacing > 0):
        raise InvalidInput(f"level spacing must be finite and > 0, got {spacing}")
    M = check_positive_int(repetitions, "repetitions")
    if M < 2:
        raise InvalidInput("need at least 2 repetitions for a standard error")
    n = check_positive_int(replicas, "splitting replicas")
    relax = float(system.relaxation)
    burn = int(flux_burn if flux_burn is not None else max(1, round(20 * relax)))
    fsteps = int(flux_steps if flux_steps is not None else max(1, round(200 * relax)))
    cap_steps = int(max_steps if max_steps is not None else max(1000, round(1e4 * relax)))
    children = np.random.SeedSequence(seed).spawn(M + 2)
    pilot_cost = 0
    if c_A is None:
        pilot = system.flux(int(np.random.default_rng(children[M + 1]).integers(2**63)),
                            replicas=flux_replicas, burn=burn, steps=fsteps, xi_A=-np.inf,
                            cap=1)
        pilot_cost = pilot.cost
        ratio = np.exp(pilot.levels[np.isfinite(pilot.levels)])
        if ratio.size == 0:
            raise InvalidInput("the pilot run recorded no loss: give c_A")
        c_A = float(np.median(ratio))
    if not (np.isfinite(c_A) and 1.0 <= c_A < c[-1]):
        raise InvalidInput(f"need 1 <= c_A < max(c), where A = {{L <= c_A L*}} is the "
                           f"quasi-stationary bulk; got c_A = {c_A:.4g}, max(c) = {c[-1]:.4g}: "
                           "raise the thresholds above the bulk")
    above = c > c_A
    grid = level_grid(c_A, c[above], spacing)
    kill = max(1, int(round(kill_fraction * n)))
    at = np.searchsorted(grid, np.log(c[above]))
    xi_A = float(np.log(c_A))

    def repetition(m: int):
        rng = np.random.default_rng(children[m])
        fr = system.flux(int(rng.integers(2**63)), replicas=flux_replicas, burn=burn,
                         steps=fsteps, xi_A=xi_A, cap=bulk_per_replica)
        if fr.in_A == 0 or fr.bulk.shape[0] == 0:
            raise InvalidInput(f"the quasi-stationary run never visited A = {{L <= {c_A:.4g} L*}} "
                               f"in {fr.exposure} replica-steps: raise c_A")
        run = splitting(system, fr.bulk, grid=grid, xi_A=xi_A, replicas=n, kill=kill,
                        rng=rng, max_steps=cap_steps)
        return fr, run

    workers = max(1, int(jobs if jobs is not None else numba.get_num_threads()))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(progress(pool.map(repetition, range(M)), total=M,
                             desc="splitting repetitions"))
    p_A = np.array([fr.in_A / fr.exposure for fr, _ in done])
    rates = np.full((M, c.size), np.nan)
    rates[:, above] = np.array([p_A[m] * run.probability[at] for m, (_, run) in enumerate(done)])
    cost = pilot_cost + sum(fr.cost + int(run.cost[-1]) for fr, run in done)
    cost_to = np.full(c.size, np.nan)
    cost_to[above] = sum(fr.cost + run.cost[at] for fr, run in done)
    with np.errstate(divide="ignore", invalid="ignore"):
        dominance = rates.max(axis=0) / rates.sum(axis=0)
    mean_rate = rates.mean(axis=0)
    se_rate = standard_error(rates, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_p = 1.0 / mean_rate
        rel = se_rate / mean_rate
    log_c = np.log(c)
    boot = np.random.default_rng(children[M])
    draws = boot.integers(0, M, (bootstrap, M))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_t = -np.log(rates[draws].mean(axis=1))  # (bootstrap, K)
        slopes_b = np.diff(log_t, axis=1) / np.diff(log_c)
        slope = -np.diff(np.log(mean_rate)) / np.diff(log_c)
    ok = np.all(np.isfinite(slopes_b), axis=0)  # NaN below the bulk and beyond extinction
    slope_se = np.where(ok, np.std(np.where(np.isfinite(slopes_b), slopes_b, 0.0), axis=0,
                                   ddof=1), np.nan)
    return RareFirstPassage(
        c=c, t_p=t_p, t_p_stderr=t_p * rel, log10_t_p_stderr=rel / np.log(10), rates=rates,
        p_A=p_A, dominance=dominance, resolved=dominance <= 0.5, c_mid=np.sqrt(c[1:] * c[:-1]), slope=slope, slope_stderr=slope_se,
        cost=int(cost), cost_to=cost_to, relaxation=relax,
        settings=dict(c_A=float(c_A), spacing=float(spacing), replicas=n,
                      kill=kill, repetitions=M, flux_replicas=int(flux_replicas),
                      flux_burn=burn, flux_steps=fsteps, max_steps=cap_steps))
