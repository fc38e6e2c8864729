"""Experiment ``noise-strength``: 𝒩 against L during SGD training (R4, Fig. 2; R5, Fig. 5)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import ks_2samp

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import FLOP_RATE, Cost
from ..core.validation import check_batch_size
from ..data import DatasetMissingError, cifar10, data_dir, fashion_mnist
from ..dynamics.training import log_schedule, train_sgd
from ..measure.kernel import FACTORS, per_sample_kernel
from ..measure.losses import get_loss
from ..models.nets import cnn, mlp
from ..stats.decomposition import slope_decomposition
from ..stats.lines import fit_power_law, rolling_slopes
from ._cost import F4, mlp_params, torch_training
from ._shared import VENDORED
from .params import Param
from .result import Outcome, RunContext
from .spec import experiment

PRESETS = {
    "smoke": dict(model="mlp", dataset="auto", loss="mse", N=200, widths=[64, 64, 64],
                  cnn_widths=[4, 8, 8], convs_per_stack=1, eta=0.1, B=100, epochs=400, points=24,
                  fit_from=0.3, mid_window=[0.02, 0.3], seeds=1, ratio_at=[0.5, 1.0],
                  bootstrap=50, kernel=True),
    "book": dict(model="mlp", dataset="auto", loss="mse", N=500, widths=[256, 256, 256],
                 cnn_widths=[8, 16, 32], convs_per_stack=1, eta=0.1, B=100, epochs=400, points=80,
                 fit_from=0.25, mid_window=[0.02, 0.3], seeds=6, ratio_at=[0.5, 1.0],
                 bootstrap=200, kernel=True),
    "paper": dict(model="mlp", dataset="auto", loss="mse", N=60000, widths=[2000, 2000, 2000],
                  cnn_widths=[64, 128, 256], convs_per_stack=3, eta=0.1, B=100, epochs=1000,
                  points=60, fit_from=0.25, mid_window=[0.02, 0.3], seeds=1,
                  ratio_at=[0.5, 1.0], bootstrap=200, kernel=True),
}


def _data(p: dict):
    """Inputs, one-hot targets and a description; CIFAR-10 only where the user has it."""
    notes = []
    want = p["dataset"]  # checked by _validate: cifar10 only with model=cnn
    if p["model"] == "cnn" and want in {"auto", "cifar10"}:
        try:
            d = cifar10(p["N"])
            return d.x, d.y, d.name, 3, 32, notes
        except DatasetMissingError as exc:
            if want == "cifar10":
                raise
            notes.append(f"CIFAR-10 not available ({exc}); the CNN runs on Fashion-MNIST "
                         "(1×28×28) instead of the paper's CIFAR-10")
    d = fashion_mnist(p["N"])
    if p["model"] == "cnn":
        return d.x.reshape(-1, 1, 28, 28), d.y, d.name, 1, 28, notes
    return d.x, d.y, d.name, None, None, notes


def _model(p: dict, seed: int, channels, side):
    if p["model"] == "mlp":
        return mlp([784, *p["widths"], 10], seed=seed), "MLP 784-" + "-".join(map(str, p["widths"])) + "-10"
    if p["model"] == "cnn":
        net = cnn(p["cnn_widths"], seed=seed, convs_per_stack=p["convs_per_stack"],
                  in_channels=channels, image_size=side)
        desc = ", ".join(f"{p['convs_per_stack']}×[{w},3,3,1]" for w in p["cnn_widths"])
        return net, f"CNN {desc}, MaxPool(2) after each stack"
    raise ValueError(f"model must be mlp or cnn, got {p['model']!r}")


def _loss_ratios(net, x, y, loss) -> np.ndarray:
    """ℓ_μ / L for every sample at the network's current parameters."""
    with torch.no_grad():
        ell = loss(net(x), y).double().cpu().numpy()
    return ell / ell.mean()


def _scale_free_row(ra: np.ndarray, rb: np.ndarray, n_boot: int, rng: np.random.Generator) -> dict:
    """KS distance and second moments of two ℓ_μ/L samples (same μ), with bootstrap errors.

    The bootstrap resamples the samples μ (pairs (r_a, r_b) together) ``n_boot`` times.
    """
    def stats_of(a, b):
        return ks_2samp(a, b).statistic, np.mean(a**2), np.mean(b**2)

    obs = stats_of(ra, rb)
    N = len(ra)
    boot = np.array([stats_of(ra[i], rb[i]) for i in (rng.integers(0, N, N) for _ in range(n_boot))])
    sd = boot.std(axis=0, ddof=1)
    return dict(ks=float(obs[0]), ks_boot_sd=float(sd[0]),
                ks_crit95=float(1.358 * np.sqrt(2 / N)),
                m2_a=float(obs[1]), m2_a_sd=float(sd[1]), m2_b=float(obs[2]), m2_b_sd=float(sd[2]))


def _image(p: dict) -> tuple[int, int]:
    """(channels, side) of the CNN's input: CIFAR-10 when asked for, else Fashion-MNIST
    (the smaller image, which ``auto`` falls back to)."""
    return (3, 32) if p["dataset"] == "cifar10" else (1, 28)


def _validate(p: dict) -> None:
    check_batch_size(p["B"], p["N"])
    if len(p["mid_window"]) != 2 or not p["mid_window"][0] < p["mid_window"][1]:
        raise InvalidInput(f"mid_window={p['mid_window']} must be two fractions lo < hi")
    if p["points"] < 3:
        raise InvalidInput(f"points={p['points']}: the slope fits need >= 3 records")
    if len({int(round(f * p["epochs"])) for f in p["ratio_at"]}) != 2:
        raise InvalidInput(f"ratio_at={p['ratio_at']} must name two fractions of training that "
                           f"fall on distinct epochs of the {p['epochs']}")
    if p["dataset"] == "cifar10" and p["model"] != "cnn":
        raise InvalidInput("dataset=cifar10 is only for model=cnn")
    if p["dataset"] == "cifar10" or p["N"] > VENDORED:
        data_dir()  # the full data sets live there: a one-line error if it is not set
    if p["model"] == "cnn" and _image(p)[1] >> len(p["cnn_widths"]) < 1:
        raise InvalidInput(f"cnn_widths has {len(p['cnn_widths'])} stacks, each halving the "
                           f"{_image(p)[1]}-pixel image: too many")


def _datasets(p: dict) -> tuple[str, ...]:
    """The user's datasets the run needs: CIFAR-10 for the CNN when asked for, or when N
    exceeds the vendored subset (``auto`` would fall back to the full Fashion-MNIST, not
    the paper's data); the full Fashion-MNIST for more than the vendored images."""
    if p["model"] == "cnn" and (p["dataset"] == "cifar10" or p["dataset"] == "auto" and p["N"] > VENDORED):
        return ("CIFAR-10",)
    return ("Fashion-MNIST",) if p["N"] > VENDORED else ()


def _network(p: dict) -> tuple[float, float, float]:
    """(features, parameters, activations per sample) of the network the run trains."""
    if p["model"] == "mlp":
        widths = [784, *p["widths"], 10]
        return 784.0, mlp_params(widths), float(sum(widths))
    channels, side = _image(p)
    P, act, c, convs = 0.0, 0.0, float(channels), float(p["convs_per_stack"])
    for w in p["cnn_widths"]:  # a stack: one convolution from c channels, then convs − 1 from w
        P += 9 * c * w + w + (convs - 1) * (9 * w * w + w)
        act += 2 * convs * w * float(side) ** 2
        c = float(w)
        side //= 2
    return float(channels * _image(p)[1] ** 2), P + (c * side * side + 1) * 10, act


def _cost(p: dict) -> Cost:
    """Every seed trains the network for ``epochs`` and measures 𝒩 at ``points`` epochs;
    a CNN's parameters are reused over the image, so its flops count the activations."""
    D, P, act = _network(p)
    work = P if p["model"] == "mlp" else max(P, act * 9 * max(p["cnn_widths"]) / 2)
    run = torch_training(N=p["N"], features=D, params=work, epochs=p["epochs"],
                         activations=act, records=p["points"])
    boot = float(p["bootstrap"]) * p["N"] * 50 / FLOP_RATE
    net = "widths" if p["model"] == "mlp" else "cnn_widths, convs_per_stack"
    return Cost(run.memory + 2 * P * F4 + float(p["N"]) * 10 * F4,
                p["seeds"] * (run.seconds + boot), f"N, {net}, epochs, points, seeds, bootstrap")


def _decomposition_row(seed: int, power: float, kern: list, fac: np.ndarray, L: np.ndarray,
                       slope: float) -> dict:
    """The late slope of one run split into the slopes of the factors of 𝒩 (measure.kernel).

    ``kern`` holds the per-sample measurements at the records of the late-training fit,
    ``fac`` their factors (records × FACTORS), ``L`` the loss there and ``slope`` the fitted
    slope of 𝒩 against L over the same records, which the factors must add up to (the same
    θ, measured twice).
    """
    parts = slope_decomposition(L, {f: fac[:, j] for j, f in enumerate(FACTORS)})
    total = power + parts.pop("total")
    if not np.isclose(total, slope, rtol=0, atol=1e-6):
        raise RuntimeError(f"the factors' slopes add up to {total}, the fitted slope is {slope}")
    first, last = kern[0].jacobian_sq_norms, kern[-1].jacobian_sq_norms
    return dict(seed=seed, power=power, slope=slope, **{f"d_{f}": parts[f] for f in FACTORS},
                kernel_ratio=kern[-1].kernel / kern[0].kernel,
                kernel_change=float(np.linalg.norm(last - first) / np.linalg.norm(first)),
                epochs=len(kern))


def _decomposition_summary(out: Outcome, rows: list[dict]) -> None:
    """Mean ± seed standard error of each factor's slope and of the per-sample kernel change."""
    for f in FACTORS:
        out.measured[f"slope_{f}"] = Measured.from_samples([r[f"d_{f}"] for r in rows])
    out.measured["kernel_change"] = Measured.from_samples([r["kernel_change"] for r in rows])


@experiment(
    "noise-strength",
    description="Noise strength 𝒩 against the loss L during SGD (R4 Fig. 2, R5 Fig. 5)",
    presets=PRESETS,
    measured=('L_final', 'mid_slope', 'mid_slope_seed_sd', 'slope', 'slope_ols_stderr',
              'slope_seed_sd', 'ks_distance', 'm2_ratio', 'kernel_change',
              *(f"slope_{f}" for f in FACTORS)),
    theory=('slope',),
    tables=dict(
        seeds=("L_final", "dataset", "mid_slope", "mid_slope_stderr", "n_fit", "noise_final",
            "seed", "slope", "slope_stderr"),
        scale_free=("dataset", "epoch_a", "epoch_b", "ks", "ks_boot_sd", "ks_crit95", "m2_a",
            "m2_a_sd", "m2_b", "m2_b_sd", "seed"),
        decomposition=("d_across", "d_gradient", "d_kernel", "d_moment", "d_shape", "d_within",
            "epochs", "kernel_change", "kernel_ratio", "power", "seed", "slope"),
    ),
    arrays=("L", "epochs", "factors", "fit_mask", "grad_sq", "local_slope", "noise"),
    fields=dict(
        L_final="L at the end of training",
        noise_final="𝒩 at the end of training",
        mid_slope="log–log slope of 𝒩 against L over the intermediate window (mid_window)",
        n_fit="records in the late-training fit",
        epoch_a="first epoch of the scale-free comparison of ℓ_μ/L",
        epoch_b="second epoch of that comparison",
        ks="KS distance between the laws of ℓ_μ/L at epoch_a and epoch_b",
        ks_boot_sd="its bootstrap standard deviation",
        ks_crit95="the 95 % critical KS distance for two samples of N",
        m2_a="mean (ℓ_μ/L)² at epoch_a",
        m2_a_sd="its bootstrap standard deviation",
        m2_b="mean (ℓ_μ/L)² at epoch_b",
        m2_b_sd="its bootstrap standard deviation",
        power="the power p of 𝒩 ∝ L^p tested: 1 (mse) or 2 (ce)",
        d_moment="slope of the factor M_p (shape of the law of ℓ_μ/L) against L",
        d_shape="slope of the loss-shape factor s against L",
        d_kernel="slope of the kernel factor κ (NTK trace per sample) against L",
        d_across="slope of the across-sample coupling factor a against L",
        d_within="slope of the within-sample factor w against L",
        d_gradient="slope of the −‖∇L‖² factor g against L",
        kernel_ratio="κ at the last fit record over κ at the first",
        kernel_change="relative change of the per-sample kernel norms over the fit",
        factors="the factors of 𝒩 (seeds × records × 6) at the fit records, nan elsewhere",
        fit_mask="1 at the records of the late-training fit",
        local_slope="rolling log–log slope of 𝒩 against L (seeds × records)",
        mid_slope_seed_sd="standard deviation of mid_slope over seeds",
        slope_ols_stderr="the least-squares error of the mean slope (ignores correlated records)",
        slope_seed_sd="standard deviation of the slope over seeds",
        ks_distance="mean KS distance over seeds",
        m2_ratio="mean m2_b/m2_a over seeds",
        slope_moment="mean d_moment over seeds",
        slope_shape="mean d_shape over seeds",
        slope_kernel="mean d_kernel over seeds",
        slope_across="mean d_across over seeds",
        slope_within="mean d_within over seeds",
        slope_gradient="mean d_gradient over seeds",
    ),
    params=dict(
        cnn_widths=Param("channels of the CNN’s three stacks"),
        bootstrap=Param("bootstrap resamples of the scale-free test"),
    ),
    checks=dict(model=("mlp", "cnn"), dataset=("auto", "fashion-mnist", "cifar10"),
                loss=("mse", "ce"), fit_from="[0,1)", mid_window="[0,1]"),
    cost=_cost,
    validate=_validate,
    data=_datasets,
)
def run(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    loss = get_loss(p["loss"])
    x, y, dname, channels, side, notes = _data(p)
    x, y = x.to(ctx.device), y.to(ctx.device)
    sched = log_schedule(p["epochs"], p["points"])
    ratio_epochs = sorted({int(round(f * p["epochs"])) for f in p["ratio_at"]})
    out = Outcome(notes=notes, device=ctx.device)
    power = 1.0 if p["loss"] == "mse" else 2.0  # 𝒩 ∝ L (Eq. 9), or ∝ L² near zero loss (App. D)
    fit_epochs = {e for e in sched if e >= p["fit_from"] * p["epochs"]}
    Ls, Ns, Gs, slopes, rows, sf_rows, dec_rows, factors = [], [], [], [], [], [], [], []
    for s in range(int(p["seeds"])):
        seed = int(rng.integers(2**31))
        net, mdesc = _model(p, seed, channels, side)
        net = net.to(ctx.device)
        kern: dict[int, object] = {}

        def decompose(epoch, model, kern=kern):
            if p["kernel"] and epoch in fit_epochs:
                kern[epoch] = per_sample_kernel(model, x, y, loss=loss)

        rec = train_sgd(net, x, y, eta=p["eta"], B=p["B"], epochs=p["epochs"], seed=seed + 1,
                        loss=loss, record_at=sched, snapshot_at=ratio_epochs, callback=decompose,
                        desc=f"SGD seed {s}")
        fit_mask = rec.epochs >= p["fit_from"] * p["epochs"]
        fit = fit_power_law(rec.loss[fit_mask], rec.noise[fit_mask])
        fac = np.full((len(rec.epochs), len(FACTORS)), np.nan)
        if kern:
            at_fit = [kern[int(e)] for e in rec.epochs[fit_mask]]
            fac[fit_mask] = [[k.factors(power)[f] for f in FACTORS] for k in at_fit]
            dec_rows.append(_decomposition_row(seed, power, at_fit, fac[fit_mask], rec.loss[fit_mask],
                                               fit.slope))
        factors.append(fac)
        lo, hi = p["mid_window"]
        mid_mask = (rec.epochs >= lo * p["epochs"]) & (rec.epochs <= hi * p["epochs"])
        mid = fit_power_law(rec.loss[mid_mask], rec.noise[mid_mask])
        Ls.append(rec.loss)
        Ns.append(rec.noise)
        Gs.append(rec.grad_sq_norm)
        slopes.append(rolling_slopes(rec.loss, rec.noise))
        rows.append(dict(seed=seed, slope=fit.slope, slope_stderr=fit.slope_stderr, n_fit=fit.n,
                         mid_slope=mid.slope, mid_slope_stderr=mid.slope_stderr,
                         L_final=rec.loss[-1], noise_final=rec.noise[-1], dataset=dname))
        # Is the distribution of ℓ_μ/L scale-free late in training?  Compare two epochs.
        ratios = []
        for e in ratio_epochs:
            net.load_state_dict(rec.snapshots[e])
            ratios.append(_loss_ratios(net, x, y, loss))
        sf = _scale_free_row(*ratios, int(p["bootstrap"]), rng)
        sf_rows.append(dict(seed=seed, epoch_a=ratio_epochs[0], epoch_b=ratio_epochs[1], **sf,
                            dataset=dname))
    k = len(rows)
    sl = np.array([r["slope"] for r in rows])
    se = np.array([r["slope_stderr"] for r in rows])
    mid = np.array([r["mid_slope"] for r in rows])
    mid_se = np.array([r["mid_slope_stderr"] for r in rows])
    # With several seeds (independent runs) the error of the mean slope is the seed-to-seed
    # standard deviation over √k; the per-seed least-squares error ignores the correlation
    # of consecutive records along one trajectory and is reported separately.
    ols = float(np.sqrt(np.sum(se**2)) / k)
    if k > 1:
        out.measured["slope"] = Measured.from_samples(sl)
        out.measured["mid_slope"] = Measured.from_samples(mid)
        out.measured["slope_seed_sd"] = Measured(float(sl.std(ddof=1)))
        out.measured["mid_slope_seed_sd"] = Measured(float(mid.std(ddof=1)))
    else:
        out.measured["slope"] = Measured(float(sl.mean()), ols)
        out.measured["mid_slope"] = Measured(float(mid.mean()), float(np.sqrt(np.sum(mid_se**2)) / k))
        out.measured["slope_seed_sd"] = Measured(float("nan"))
        out.measured["mid_slope_seed_sd"] = Measured(float("nan"))
    out.measured["slope_ols_stderr"] = Measured(ols)
    out.measured["L_final"] = Measured(float(np.mean([r["L_final"] for r in rows])))
    ks = np.array([r["ks"] for r in sf_rows])
    m2 = np.array([r["m2_b"] / r["m2_a"] for r in sf_rows])
    # one seed: the bootstrap errors of that seed's KS distance and second moments instead
    out.measured["ks_distance"] = (Measured.from_samples(ks) if k > 1
                                   else Measured(float(ks[0]), sf_rows[0]["ks_boot_sd"]))
    out.measured["m2_ratio"] = (Measured.from_samples(m2) if k > 1
                                else Measured(float(m2[0]), float(m2[0] * np.hypot(
                                    sf_rows[0]["m2_a_sd"] / sf_rows[0]["m2_a"],
                                    sf_rows[0]["m2_b_sd"] / sf_rows[0]["m2_b"]))))
    _decomposition_summary(out, dec_rows)
    out.theory["slope"] = power
    out.tables["seeds"] = rows
    out.tables["scale_free"] = sf_rows
    out.tables["decomposition"] = dec_rows
    out.arrays.update(epochs=np.asarray(sched), L=np.array(Ls), noise=np.array(Ns),
                      grad_sq=np.array(Gs), local_slope=np.array(slopes),
                      fit_mask=fit_mask.astype(np.int8),
                      # (seeds, records, factors): the factors of 𝒩 in the order of
                      # measure.kernel.FACTORS at the fit records, NaN elsewhere
                      factors=np.array(factors))
    out.notes.append(f"{mdesc} on {dname}; {p['loss']} loss, η={p['eta']}, B={p['B']}, "
                     f"{p['epochs']} epochs; late-training fit over epochs ≥ {p['fit_from']}·epochs "
                     f"({int(fit_mask.sum())} records)"
                     + ("; the slope split into the factors of 𝒩 at the same records" if p["kernel"] else ""))
    return out
