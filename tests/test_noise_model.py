"""The paper's decoupled-noise model as a rare-event System: its stationary mean, its
lumped directions, and its first passage against the radial SDE quadrature."""

import numpy as np
import pytest

from logloss import InvalidInput
from logloss.dynamics.noise_model import NoiseModelSystem, lumped_spectrum
from logloss.stats.splitting import rare_first_passage
from logloss.theory.escape import radial_mfpt


def test_stationary_mean_loss_is_exact():
    """E[L]/L* = 1/(1 − (η/B) Σ m h/(2 − ηh)) for the discrete chain, with lumped groups
    (m > 1: the χ² draw) and single directions; the simulated mean within 4 s.e. of the
    replica means."""
    s = NoiseModelSystem([1.0, 0.5, 0.1], [1, 3, 20], eta=0.05, B=1.0, L_star=0.3)
    run = s.flux(2, replicas=64, burn=2000, steps=50_000, xi_A=0.0, cap=1, samples=500)
    ratio = np.exp(run.levels).mean(axis=1)  # one mean per replica (independent)
    se = ratio.std(ddof=1) / np.sqrt(ratio.size)
    assert abs(ratio.mean() - s.mean_loss_ratio()) < 4 * se, (ratio.mean(), s.mean_loss_ratio(), se)


def test_a_lumped_group_is_its_directions():
    """m equal directions lumped into one χ² group have the law of m single directions:
    the two chains' stationary means of L agree with each other and with the exact value."""
    one = NoiseModelSystem([0.8], [6], eta=0.1, B=2.0)
    six = NoiseModelSystem([0.8] * 6, eta=0.1, B=2.0)
    assert one.mean_loss_ratio() == pytest.approx(six.mean_loss_ratio(), rel=1e-12)
    a = np.exp(one.flux(3, replicas=64, burn=500, steps=20_000, xi_A=0.0, cap=1,
                        samples=400).levels).mean(1)
    b = np.exp(six.flux(4, replicas=64, burn=500, steps=20_000, xi_A=0.0, cap=1,
                        samples=400).levels).mean(1)
    se = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(64)
    assert abs(a.mean() - b.mean()) < 4 * se
    assert abs(a.mean() - one.mean_loss_ratio()) < 4 * a.std(ddof=1) / 8


def test_isotropic_first_passage_matches_the_radial_sde_at_weak_noise():
    """d equal curvatures at ηh = 0.0025, β = B/(ηh) = 20: splitting's t_p over seven
    decades against the exact MFPT of the decoupled-noise SDE (radial quadrature), within
    3 s.e. of the repetitions (thresholds where t_p ≥ 100 relaxation times 1/(ηh))."""
    d, eta, beta = 4, 0.0025, 20.0
    s = NoiseModelSystem([1.0], [d], eta=eta, B=beta * eta)
    cs = np.geomspace(1.8, 3.0, 5)
    res = rare_first_passage(s, cs, seed=3, repetitions=8, replicas=150, spacing=0.03,
                             flux_replicas=8, jobs=2)
    ref = radial_mfpt(cs, eta=eta, B=beta * eta, d=d, h=1.0, L_star=1.0, exact_noise=False)
    assert np.all(res.t_p >= 100 * s.relaxation)
    assert np.log10(res.t_p[-1] / res.t_p[0]) > 3
    z = (np.log10(res.t_p) - np.log10(ref)) / res.log10_t_p_stderr
    assert np.all(np.abs(z) < 3), z


def test_lumped_spectrum_keeps_the_traces():
    """Top eigenvalues kept, the bulk one group with the bulk's trace and square trace."""
    top = np.array([10.0, 50.0, 20.0])  # Σ = 80, Σ² = 3000
    h, m = lumped_spectrum(top, trace=100.0, trace_sq=3040.0, P=1000)
    np.testing.assert_array_equal(h[:3], [50.0, 20.0, 10.0])
    assert list(m) == [1, 1, 1, 10] and h[3] == pytest.approx(2.0)  # 20²/40 = 10 of h = 2
    assert np.sum(m * h) == pytest.approx(100.0) and np.sum(m * h**2) == pytest.approx(3040.0)
    with pytest.raises(InvalidInput, match="bulk"):
        lumped_spectrum(top, trace=100.0, trace_sq=2990.0, P=1000)


@pytest.mark.parametrize("bad", [
    dict(eigenvalues=[1.0, -1.0]),
    dict(eigenvalues=[1.0], multiplicities=[0]),
    dict(eigenvalues=[30.0]),  # η h = 3 ≥ 2: unstable
])
def test_bad_input(bad):
    with pytest.raises(InvalidInput):
        NoiseModelSystem(**bad, eta=0.1, B=1.0)
