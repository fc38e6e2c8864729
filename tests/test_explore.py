"""Explorers: the update functions are deterministic, respond to their inputs as the
theory says, and the widget builders construct and run one update without a display."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import integrate  # noqa: E402

from logloss import theory
from logloss.display import explore, plotting

SMALL = {"N": 500, "replicas": 64, "records": 8, "bins": 21}


def assert_same(a, b):
    """Recursive equality of dicts/arrays/numbers (NaN equal to NaN)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


@pytest.fixture(scope="module")
def history():
    ep = np.array([0, 1, 2, 4, 8, 16, 32, 64])
    L = np.array([1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01])
    return {"mse": {"epoch": ep, "loss": L, "noise": 3.0 * L},
            "ce": {"epochs": ep, "L": L, "N": 2.0 * L**2}}


# --- stationary law ------------------------------------------------------------------


def test_stationary_deterministic_and_seeded():
    a = explore.stationary_data(B=2, eta=0.1, d=2, seed=3, **SMALL)
    b = explore.stationary_data(B=2, eta=0.1, d=2, seed=3, **SMALL)
    assert_same(a, b)
    c = explore.stationary_data(B=2, eta=0.1, d=2, seed=4, **SMALL)
    assert not np.array_equal(a["u_density"], c["u_density"])


def test_stationary_larger_B_larger_phi_narrower():
    lo = explore.stationary_data(B=1, eta=0.1, d=1, seed=0, **SMALL)
    hi = explore.stationary_data(B=16, eta=0.1, d=1, seed=0, **SMALL)
    assert hi["phi"] > lo["phi"]
    assert hi["phi"] == pytest.approx(theory.phi(eta=0.1, B=16, h=hi["h_star"]))
    # SDE: Var u ≈ ηL*/B at small η, so the width falls like 1/√B (16× B: 4× narrower)
    assert hi["u_std"] < lo["u_std"] / 2


def test_stationary_theory_densities_normalised():
    data = explore.stationary_data(B=4, eta=0.1, d=3, seed=0, **SMALL)
    phi, h, L = data["phi"], data["h_star"], data["L_star"]
    s = math.sqrt(2 * L / (h * (2 * phi - 3)))
    pdf = theory.marginal_pdf
    tot, _ = integrate.quad(lambda u: pdf(np.array(u), phi=phi, d=3, h=h, L_star=L), -40 * s, 40 * s)
    assert tot == pytest.approx(1, abs=1e-6)
    tot, _ = integrate.quad(lambda x: theory.excess_loss_pdf(np.array(x), phi=phi, d=3), 0, np.inf)
    assert tot == pytest.approx(1, abs=1e-6)
    # not normalisable once φ ≤ d/2
    assert theory.excess_loss_pdf(np.array([1.0]), phi=1.4, d=3) is None
    assert theory.marginal_pdf(np.array([1.0]), phi=1.4, d=3, h=1.0, L_star=0.5) is None


def test_stationary_histogram_matches_theory_at_small_eta():
    """At small η the simulated variance of u₁ agrees with the L^(−φ) marginal's."""
    data = explore.stationary_data(B=4, eta=0.05, d=1, seed=1, N=1000, replicas=256, records=16)
    phi, h, L = data["phi"], data["h_star"], data["L_star"]
    nu = 2 * phi - 1
    var_theory = 2 * L / (h * nu) * nu / (nu - 2)
    # Two error sources: the decoupling Σ ≈ 2L*H/B holds for one N = 1000 dataset only up
    # to √(Var(r²x²)/N) ≈ 9 %, and 4096 correlated samples give a few %; 30 % is ≈ 3σ.
    assert data["u_std"] ** 2 == pytest.approx(var_theory, rel=0.3)


def test_stationary_discrete_phi():
    """The finite-η φ comes from theory.phi_discrete on the same dataset, below Eq. (17)'s."""
    data = explore.stationary_data(B=1, eta=0.2, d=1, seed=0, **SMALL)
    if not hasattr(theory, "phi_discrete"):
        pytest.skip("theory.phi_discrete not available")
    from logloss.models.linreg import make_linear_regression

    prob = make_linear_regression(SMALL["N"], 1, np.random.default_rng(0))
    assert data["phi_discrete"] == pytest.approx(theory.phi_discrete(prob.X, prob.y, eta=0.2, B=1))
    assert data["phi_discrete"] < data["phi"]
    assert data["u_theory_discrete"] is not None and data["x_theory_discrete"] is not None


# --- escape ------------------------------------------------------------------------


def test_escape_deterministic_and_laws():
    a = explore.escape_data(eta=0.1, B=2, h=1.0, n=3.0, c_max=20.0)
    assert_same(a, explore.escape_data(eta=0.1, B=2, h=1.0, n=3.0, c_max=20.0))
    c, inv_T = a["c"], 2 / 0.1
    base = 2 * np.pi
    np.testing.assert_allclose(a["t_power"], base * c ** (inv_T + 1 - 1.5))
    np.testing.assert_allclose(a["t_arrhenius_min"], base * np.exp(inv_T * (c - 1)))
    np.testing.assert_allclose(a["t_arrhenius_saddle"], base * np.exp(inv_T * (1 - 1 / c)))
    # at n = 2 the power law lies between the two Arrhenius laws (1 − 1/c ≤ log c ≤ c − 1)
    b = explore.escape_data(eta=0.1, B=2, h=1.0, n=2.0, c_max=20.0)
    assert np.all(b["t_arrhenius_saddle"] <= b["t_power"] * (1 + 1e-12))
    assert np.all(b["t_power"] <= b["t_arrhenius_min"] * (1 + 1e-12))
    # the rate of Eq. (15) is the inverse time
    assert 1 / a["t_power"][-1] == pytest.approx(
        theory.escape_rate(B=2, eta=0.1, h=1.0, h_saddle=-1.0, n=3.0, c=c[-1]))


def test_escape_exponent_vanishes_at_critical_dimension():
    n_c = theory.critical_dimension(B=4, eta=0.2, h=1.5)
    data = explore.escape_data(eta=0.2, B=4, h=1.5, n=n_c, c_max=10.0)
    assert data["exponent"] == pytest.approx(0, abs=1e-12)
    assert data["n_c"] == pytest.approx(n_c)
    np.testing.assert_allclose(data["t_power"], data["t_power"][0])  # flat in c
    i = np.argmin(np.abs(data["n_grid"] - n_c))
    assert abs(data["exponent_vs_n"][i]) < data["n_grid"][1]  # the line crosses 0 at n_c


def test_escape_measured_prefactor_fit():
    c = np.array([1.5, 2.0, 3.0, 5.0])
    t = 7.0 * c ** theory.escape_exponent(B=1, eta=0.1, h=1.0, n=1.0)
    data = explore.escape_data(eta=0.1, B=1, h=1.0, n=1.0, c_max=10.0, measured={"c": c, "t_p": t,
                                                                 "stderr": 0.1 * t})
    assert data["prefactor"]["power"] == pytest.approx(7.0)
    assert data["rms_log_residual"]["power"] == pytest.approx(0, abs=1e-9)
    assert data["rms_log_residual"]["arrhenius_min"] > 1
    with pytest.raises(ValueError, match="c_max"):
        explore.escape_data(eta=0.1, B=1, h=1.0, n=1.0, c_max=1.0)


# --- noise -------------------------------------------------------------------------


def test_noise_deterministic_guides_and_slopes(history):
    a = explore.noise_data(history, "ce", 3)
    assert_same(a, explore.noise_data(history, "ce", 3))
    assert a["loss_types"] == ["mse", "ce"]
    assert a["point"] == (4.0, 0.2, pytest.approx(0.08))
    assert a["local_slope"] == pytest.approx(2.0)
    assert a["late_slope"] == pytest.approx(2.0)
    m = explore.noise_data(history, "mse", -1)
    assert m["late_slope"] == pytest.approx(1.0) and m["guide_2"] is None
    np.testing.assert_allclose(m["guide_1"], 3.0 * m["guide_L"])  # through the points
    assert np.isnan(m["local_slope"])  # an end point has no two neighbours


def test_noise_accepts_single_record_and_objects():
    class Rec:  # like logloss.training.TrainingRecord
        epochs = np.arange(5)
        loss = np.array([1.0, 0.5, 0.25, 0.1, 0.05])
        noise = loss * 2

    d = explore.noise_data(Rec(), "mse", 2)
    assert d["point"] == (2.0, 0.25, 0.5)

    class Res:  # like a logloss Result of the noise-strength experiment: (seeds, epochs)
        arrays = {"epochs": Rec.epochs, "L": np.stack([Rec.loss, 2 * Rec.loss]),
                  "noise": np.stack([Rec.noise, Rec.noise])}

    d = explore.noise_data({"ce": Res()}, "ce", 2)
    assert d["point"] == (2.0, 0.25, 0.5)  # the first seed
    with pytest.raises(ValueError, match="loss type"):
        explore.noise_data({"mse": Rec()}, "ce")
    with pytest.raises(ValueError, match="noise"):
        explore.noise_data({"mse": {"epoch": [0], "loss": [1.0]}})


# --- drawing, grids and widgets ----------------------------------------------------


def test_draw_functions_and_grids(history):
    fig, axes = plotting.figure(2)
    explore.draw_stationary(explore.stationary_data(B=1, eta=0.1, d=1, seed=0, **SMALL), axes)
    explore.draw_escape(explore.escape_data(eta=0.1, B=1), axes)
    explore.draw_noise(explore.noise_data(history, "mse", 2), axes)
    plt.close(fig)
    for fig in (explore.stationary_grid((0.1, 0.3), (1, 4), **SMALL),
                explore.escape_grid((0.1,), (1,), measured={"c": [2, 3], "t_p": [5, 9],
                                                            "eta": 0.1, "B": 1}),
                explore.noise_grid(history)):
        assert "explorer grid" in fig.texts[-1].get_text()
        plt.close(fig)


def test_builders_construct_and_update(history):
    import time

    boxes, cpu = [], []
    for build in (lambda: explore.stationary_explorer(**SMALL), explore.escape_explorer,
                  lambda: explore.noise_explorer(history)):
        start = time.process_time()  # CPU time: what another job on the cores cannot inflate
        boxes.append(build())
        cpu.append(time.process_time() - start)
    for box, seconds in zip(boxes, cpu):
        st = box.explorer_state
        assert st["updates"] == 1 and st["data"] is not None and st["seconds"] >= 0
        # tolerance: criterion: a slider must answer within seconds; its first draw included
        assert seconds < 5
    # moving a control recomputes
    box = boxes[1]
    box.explorer_controls["n"].value = 7.0
    assert box.explorer_state["updates"] == 2
    assert box.explorer_state["data"]["params"]["n"] == 7.0
    box = boxes[2]
    box.explorer_controls["loss"].value = "ce"
    assert box.explorer_state["data"]["loss"] == "ce"
    plt.close("all")
