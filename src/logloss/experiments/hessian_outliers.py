"""Experiment ``hessian-outliers``: Gauss–Newton spectrum, λ₁ and participation ratio
(Fig. 6, R11), for our pretrained nets or for the reader's saved model and data."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..data import mnist_even_odd
from ..dynamics.pretrain import pretrain
from ..measure.gradients import jacobian
from ..measure.hessian import hessian_outliers, spectral_density
from ..models.user_files import load_user_inputs, load_user_model
from ._registry import Outcome, RunContext, experiment
from ._shared import PAPER, pretrained_spectrum

HESS_PRESETS = {
    "smoke": dict(model="", data="", trust_model=False, n=2_000, pre_steps=2_000, pre_seeds=[0], k=10,
                  density_steps=30, density_probes=1),
    "book": dict(model="", data="", trust_model=False, n=10_000, pre_steps=30_000, pre_seeds=[0, 1, 2], k=30,
                 density_steps=80, density_probes=2),
    "paper": dict(model="", data="", trust_model=False, n=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2], k=30,
                  density_steps=150, density_probes=4),
}


@experiment("hessian-outliers",
            description="Gauss-Newton spectrum, lambda_1 and participation ratio (Fig. 6, R11); "
                        "--set model=PATH data=PATH for your own model",
            presets=HESS_PRESETS,
    measured=('lambda_max', 'participation_ratio'),
    reference=('lambda_max', 'participation_ratio'),
    tables=('seeds', 'top_eigenvalues', 'top_eigenvalues_mean'),
    checks=dict(model="any", data="any", pre_seeds=">=0"),
)
def run_hessian(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    out = Outcome()
    if not p["model"] and p["k"] > 7861:
        raise InvalidInput(f"k={p['k']} exceeds the P = 7861 parameters of the 784-10-1 net")
    if p["data"] and not p["model"]:
        raise InvalidInput("data= was given without model=: set both, --set model=PATH "
                           "--set data=PATH, or neither for the pretrained nets")
    if p["model"]:
        if not p["data"]:
            raise InvalidInput("model= needs its inputs: --set data=PATH (.pt tensor or dict "
                               "with 'x', or .npz with array 'x')")
        model = load_user_model(p["model"], trust=p["trust_model"])
        x = load_user_inputs(p["data"], model)
        if p["k"] > x.shape[0] * sum(q.numel() for q in model.parameters()):
            raise InvalidInput(f"k={p['k']} exceeds the size of the Gauss-Newton matrix")
        models = [model]
        out.notes.append(f"user model: {p['model']} on {p['data']}")
    else:
        data = mnist_even_odd(p["n"])
        # pretrained on ctx.device, so that first-passage-nn shares these nets; the spectra
        # are computed on the CPU
        out.device = ctx.device
        pre = pretrain(n=p["n"], steps=p["pre_steps"], seeds=p["pre_seeds"], device=ctx.device)
        models = [pre["params"].model(r).cpu() for r in range(len(p["pre_seeds"]))]
        x = data.x
        out.arrays["pretrained_loss"] = np.asarray(pre["loss"])
        out.notes.append(f"784-10-1 MLP pretrained {p['pre_steps']} steps (eta=0.01, B=100) on "
                         f"{data.name}; seeds {p['pre_seeds']}")
    rows, tops = [], []
    for s, m in enumerate(models):
        if p["model"]:
            spec = hessian_outliers(m, x, k=p["k"], seed=0)
            spec = dict(eigenvalues=spec.eigenvalues, trace=spec.trace, trace_sq=spec.trace_sq,
                        participation_ratio=spec.participation_ratio,
                        participation_ratio_stderr=spec.participation_ratio_stderr,
                        lambda_max=spec.lambda_max, method=spec.method, P=spec.P, N=spec.N,
                        loss=None)
        else:
            spec = pretrained_spectrum(n=p["n"], pre_steps=p["pre_steps"],
                                       pre_seeds=p["pre_seeds"], index=s, k=p["k"],
                                       device=ctx.device)
        top = spec["eigenvalues"][: p["k"]]
        if s == 0:
            J = jacobian(m, x)
            nodes, counts = spectral_density(J, x.shape[0], steps=p["density_steps"],
                                             probes=p["density_probes"],
                                             seed=int(rng.integers(2**31)))
            del J
            out.arrays["density_nodes"], out.arrays["density_counts"] = nodes, counts
            out.arrays["top"] = top
            out.tables["top_eigenvalues"] = [dict(i=i + 1, h=float(h)) for i, h in enumerate(top)]
        tops.append(top)
        rows.append(dict(seed=s, **{k: spec[k] for k in ("lambda_max", "trace", "trace_sq",
                                                          "participation_ratio",
                                                          "participation_ratio_stderr",
                                                          "method", "P", "N", "loss")}))
    out.arrays["top_by_seed"] = np.array(tops)
    out.tables["seeds"] = rows
    lam = np.array([r["lambda_max"] for r in rows])
    pr = np.array([r["participation_ratio"] for r in rows])
    spread = (lambda v: float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan"))
    out.measured["lambda_max"] = Measured(float(lam.mean()), spread(lam))
    out.measured["participation_ratio"] = Measured(float(pr.mean()), spread(pr))
    out.tables["top_eigenvalues_mean"] = [dict(i=i + 1, h=float(h)) for i, h in
                                          enumerate(np.array(tops).mean(0))]
    if not p["model"]:
        out.reference["lambda_max"] = PAPER["lambda_max"]
        out.reference["participation_ratio"] = PAPER["participation_ratio"]
    return out
