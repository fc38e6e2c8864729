"""Experiment ``hessian-outliers``: Gauss–Newton spectrum, λ₁ and participation ratio
(Fig. 6, R11), for our pretrained nets or for the reader's saved model and data."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import Cost
from ..data import mnist_even_odd
from ..dynamics.pretrain import pretrain
from ..measure.gradients import jacobian
from ..measure.hessian import hessian_outliers, lanczos_dense_check, spectral_density
from ..models.user_files import load_user_inputs, load_user_model
from ._cost import F4, dense_symmetric, jacobian_matrix
from ._shared import (
    NET_PARAMS,
    PAPER,
    check_pretraining,
    pretrain_cost,
    pretrained_spectrum,
    spectrum_cost,
)
from .params import Param
from .result import Outcome, RunContext
from .spec import experiment

# The book pretrains as the paper does (10⁵ iterations), three seeds to fit the chapter's
# CPU budget (the paper scale has five); the nets are cached and shared with
# first-passage-nn, whose presets use the same n, pre_steps and pre_seeds.
HESS_PRESETS = {
    "smoke": dict(model="", data="", trust_model=False, N=2_000, pre_steps=2_000, pre_seeds=[0], k=10,
                  density_steps=30, density_probes=1, check_N=2_000, check_k=10),
    "book": dict(model="", data="", trust_model=False, N=10_000, pre_steps=100_000,
                 pre_seeds=[0, 1, 2], k=30, density_steps=80, density_probes=2,
                 check_N=2_000, check_k=10),
    "paper": dict(model="", data="", trust_model=False, N=10_000, pre_steps=100_000,
                  pre_seeds=[0, 1, 2, 3, 4], k=30, density_steps=150, density_probes=4,
                  check_N=10_000, check_k=30),
}


def _user_files(p: dict):
    """The reader's model and inputs (checked: loadable, and k within the GN matrix)."""
    model = load_user_model(p["model"], trust=p["trust_model"])
    x = load_user_inputs(p["data"], model)
    if p["k"] > x.shape[0] * sum(q.numel() for q in model.parameters()):
        raise InvalidInput(f"k={p['k']} exceeds the size of the Gauss-Newton matrix")
    return model, x


def _validate(p: dict) -> None:
    if p["data"] and not p["model"]:
        raise InvalidInput("data= was given without model=: set both, --set model=PATH "
                           "--set data=PATH, or neither for the pretrained nets")
    if p["model"]:
        if not p["data"]:
            raise InvalidInput("model= needs its inputs: --set data=PATH (.pt tensor or dict "
                               "with 'x', or .npz with array 'x')")
        _user_files(p)  # files that cannot be used fail now, before any work
        return
    check_pretraining(p)
    if p["k"] > NET_PARAMS:
        raise InvalidInput(f"k={p['k']} exceeds the P = {NET_PARAMS} parameters of the "
                           "784-10-1 net")


def _cost(p: dict) -> Cost:
    """The pretraining (or nothing, for the reader's model: its size is unknown before
    loading it), the Jacobians of the spectra and the dense check."""
    if p["model"]:
        return Cost()
    n = p["N"]
    spectra = len(p["pre_seeds"]) * spectrum_cost(n, p["k"]).seconds
    check_n = min(p["check_N"], n)  # the check takes at most the n inputs there are
    check = jacobian_matrix(N=check_n, params=NET_PARAMS).then(dense_symmetric(check_n))
    density = jacobian_matrix(N=n, params=NET_PARAMS, itemsize=2 * F4)
    pre = pretrain_cost(p)
    return Cost(max(pre.memory, density.memory + check.memory, spectrum_cost(n, p["k"]).memory),
                pre.seconds + spectra + check.seconds + p["density_steps"] * p["density_probes"]
                * density.seconds, "n, pre_steps, the number of pre_seeds")


@experiment("hessian-outliers",
            description="Gauss-Newton spectrum, lambda_1 and participation ratio (Fig. 6, R11); "
                        "--set model=PATH data=PATH for your own model",
            presets=HESS_PRESETS,
    measured=('lambda_max', 'participation_ratio', 'pretrained_loss', 'lambda_max_seed_sd',
              'participation_ratio_seed_sd', 'solver_check_worst'),
    reference=('lambda_max', 'participation_ratio', 'pretrained_loss'),
    tables=dict(
        seeds=("N", "P", "lambda_max", "loss", "method", "participation_ratio",
            "participation_ratio_stderr", "seed", "trace", "trace_sq"),
        top_eigenvalues=("h", "i"),
        top_eigenvalues_mean=("h", "i"),
        solver_check=("bound", "dense", "dense_residual", "difference", "i", "lanczos",
            "lanczos_residual"),
        pretraining=("seconds", "seeds", "steps"),
    ),
    arrays=("density_counts", "density_nodes", "pretrain_curve?", "pretrain_curve_steps?",
        "pretrained_loss?", "top", "top_by_seed"),
    fields=dict(
        P="number of parameters P of the net",
        loss="training loss of the pretrained net (None for the reader's model)",
        seed="index of the pretrained net (0, 1, ...), one per pre_seeds entry",
        method="the eigensolver used (Lanczos on the N × N Gram matrix or on P × P)",
        trace="tr of the Gauss–Newton matrix JᵀJ/N",
        trace_sq="tr of its square",
        lanczos="i-th eigenvalue by Lanczos",
        dense="i-th eigenvalue by the dense float64 eigensolver",
        difference="lanczos − dense",
        lanczos_residual="residual norm of the Lanczos eigenpair",
        dense_residual="residual norm of the dense eigenpair",
        bound="the residual bound within which the two must agree",
        seconds="wall time of the pretraining when it was computed (then cached)",
        density_nodes="nodes of the stochastic Lanczos spectral density of the first net",
        density_counts="its weights at the nodes",
        pretrain_curve_steps="steps at which the pretraining loss was recorded",
        pretrain_curve="pretraining loss at those steps, one row per net",
        pretrained_loss="training loss of each pretrained net",
        top="top-k eigenvalues of the first net",
        top_by_seed="top-k eigenvalues of each net (one row per net)",
        lambda_max_seed_sd="standard deviation of λ₁ over the nets",
        participation_ratio_seed_sd="standard deviation of the participation ratio over the nets",
        solver_check_worst="largest |lanczos − dense| over the bound",
    ),
    params=dict(
        model=Param("file of the reader’s own model; empty: the pretrained MLPs"),
        data=Param("file of the reader’s inputs x; empty: the MNIST images"),
        trust_model=Param("allow unpickling the model file (only for files you made)"),
        density_steps=Param("Lanczos steps of the stochastic spectral density"),
        density_probes=Param("random probe vectors of the spectral density"),
        check_N=Param("images used by the dense check of Lanczos", symbol="N"),
        check_k=Param("top eigenvalues compared in the dense check", symbol="k"),
    ),
    checks=dict(model="any", data="any", pre_seeds="seed distinct"),
    cost=_cost,
    validate=_validate,
    bounds=dict(solver_check_worst=1.0),  # ≤ 1: the routes agree within their residuals
)
def run_hessian(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    out = Outcome()
    if p["model"]:
        model, x = _user_files(p)
        models = [model]
        out.notes.append(f"user model: {p['model']} on {p['data']}")
        out.tables["pretraining"] = []  # nothing pretrained
    else:
        data = mnist_even_odd(p["N"])
        # pretrained on ctx.device, so that first-passage-nn shares these nets; the spectra
        # are computed on the CPU
        out.device = ctx.device
        pre = pretrain(n=p["N"], steps=p["pre_steps"], seeds=p["pre_seeds"], device=ctx.device)
        models = [pre["params"].model(r).cpu() for r in range(len(p["pre_seeds"]))]
        x = data.x
        out.arrays["pretrained_loss"] = np.asarray(pre["loss"])
        out.arrays["pretrain_curve_steps"], out.arrays["pretrain_curve"] = pre["curve_steps"], pre["curve"]
        out.tables["pretraining"] = [dict(steps=p["pre_steps"], seeds=len(p["pre_seeds"]),
                                          seconds=float(pre["seconds"]))]
        out.notes.append(f"784-10-1 MLP pretrained {p['pre_steps']} steps (eta=0.01, B=100) on "
                         f"{data.name}; seeds {p['pre_seeds']}; pretraining took "
                         f"{pre['seconds']:.0f} s when it was computed (then cached)")
    rows, tops = [], []
    for s, m in enumerate(models):
        J = jacobian(m, x) if p["model"] or s == 0 else None  # the net's J, once
        if p["model"]:
            if not bool((J != 0).any()):
                raise InvalidInput(f"model {p['model']}: its outputs do not depend on its "
                                   "parameters at these inputs (the Jacobian J is 0), so the "
                                   "Gauss-Newton matrix JᵀJ/N is 0 and has no outliers")
            spec = hessian_outliers(m, x, k=p["k"], seed=0, J=J)
            spec = dict(eigenvalues=spec.eigenvalues, trace=spec.trace, trace_sq=spec.trace_sq,
                        participation_ratio=spec.participation_ratio,
                        participation_ratio_stderr=spec.participation_ratio_stderr,
                        lambda_max=spec.lambda_max, method=spec.method, P=spec.P, N=spec.N,
                        loss=None)
        else:
            spec = pretrained_spectrum(n=p["N"], pre_steps=p["pre_steps"],
                                       pre_seeds=p["pre_seeds"], index=s, k=p["k"],
                                       device=ctx.device)
        top = spec["eigenvalues"][: p["k"]]
        if s == 0:
            nodes, counts = spectral_density(J, x.shape[0], steps=p["density_steps"],
                                             probes=p["density_probes"],
                                             seed=int(rng.integers(2**31)))
            out.arrays["density_nodes"], out.arrays["density_counts"] = nodes, counts
            out.arrays["top"] = top
            out.tables["top_eigenvalues"] = [dict(i=i + 1, h=float(h)) for i, h in enumerate(top)]
        del J
        tops.append(top)
        rows.append(dict(seed=s, **{k: spec[k] for k in ("lambda_max", "trace", "trace_sq",
                                                          "participation_ratio",
                                                          "participation_ratio_stderr",
                                                          "method", "P", "N", "loss")}))
    out.arrays["top_by_seed"] = np.array(tops)
    out.tables["seeds"] = rows
    for name in ("lambda_max", "participation_ratio", "loss"):
        v = np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=float)
        key = "pretrained_loss" if name == "loss" else name
        out.measured[key] = Measured.from_samples(v)
        if name != "loss":
            out.measured[f"{name}_seed_sd"] = Measured(float(v.std(ddof=1)) if len(v) > 1 else float("nan"))
    # An independent check of the Lanczos route: the dense float64 eigensolver of the Gram
    # matrix JJᵀ/N of the first net on its first check_n inputs, within the residual bound.
    xc = x[: p["check_N"]]
    P = sum(q.numel() for q in models[0].parameters() if q.requires_grad)
    chk = lanczos_dense_check(models[0], xc, k=min(p["check_k"], xc.shape[0] - 1, P - 1), seed=0)
    out.tables["solver_check"] = [dict(i=i + 1, lanczos=float(a), dense=float(b),
                                       difference=float(a - b), lanczos_residual=float(ra),
                                       dense_residual=float(rd), bound=chk.bound)
                                  for i, (a, b, ra, rd) in enumerate(zip(
                                      chk.lanczos, chk.dense, chk.lanczos_residual,
                                      chk.dense_residual))]
    out.measured["solver_check_worst"] = Measured(chk.worst)
    out.notes.append(f"solver check: Lanczos against dense eigh of JJ^T/N on net 0, first "
                     f"{xc.shape[0]} inputs, top {len(chk.lanczos)}")
    out.tables["top_eigenvalues_mean"] = [dict(i=i + 1, h=float(h)) for i, h in
                                          enumerate(np.array(tops).mean(0))]
    if not p["model"]:
        out.reference["lambda_max"] = PAPER["lambda_max"]
        out.reference["participation_ratio"] = PAPER["participation_ratio"]
        out.reference["pretrained_loss"] = PAPER["pretrained_loss"]
    return out
