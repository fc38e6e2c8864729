"""Replica kernel: many independent SGD runs of a one-hidden-layer ReLU network at once.

The network is the paper's f(θ, x) = w₂ᵀ relu(W₁x + b₁) + b₂ (784-10-1 in Fig. 3c,
P = 7861), trained on ℓ_μ = ½(f(θ, x_μ) − y_μ)² with minibatches of B distinct samples
drawn independently per replica at every step.  All R replicas advance together with
batched matrix products and a hand-written backward pass (no autograd), so one step costs
a handful of ``bmm`` calls whatever R is.

First passage needs the *full* training loss L(θ_k) of every replica at *every* step (a
crossing can last a single step, so checking every m steps would miss some).  Evaluating
it directly costs R·N·D·h multiply-adds per step.  Instead the kernel keeps the
pre-activations A = X W₁ᵀ (R × N × h) up to date: a step changes W₁ by
−(η/B) Σ_{b} δ_b x_bᵀ, hence A by −(η/B) K[:, idx] δ with the data Gram matrix K = XXᵀ,
which costs R·N·B·h, D/B = 78 times less.  A is recomputed exactly after every
``resync_every`` steps (at the end of the chunk of steps that passes a multiple of it)
so that rounding cannot accumulate.  This monitored mode is one numba kernel
(:func:`.tracked._monitored_chunk`, CPU) that runs each replica's steps of a chunk on one thread,
so that the replica's Aᵀ (h × N) stays in its core's cache from step to step; on a GPU
the same steps run batched in torch (:func:`.torch_path._monitored_steps_torch`).

The unmonitored mode on the CPU is a numba kernel too (:func:`.sparse._sparse_chunk`).  It uses
the zeros of the inputs: an MNIST image has about 150 nonzero pixels of 784, so a step
that touches only the rows of W₁ᵀ at the minibatch's nonzero pixels, in the forward pass
a_b = Σ_i x_bi W₁ᵀ[i] and in the update W₁ᵀ[i] −= η x_bi δ_b, costs about a fifth of the
dense products (it is exact: the skipped terms are zero times a weight).  Each replica
keeps W₁ᵀ (D × h, h padded to a multiple of 16 lanes) in its core's cache for the whole
chunk.  On a GPU the unmonitored steps are batched torch (:func:`.torch_path._plain_chunk`).

One module per execution path:

* :mod:`.replicas`: the parameters of the replicas, their minibatches and full loss;
* :mod:`.tracked`: the monitored CPU kernel (dense, numba);
* :mod:`.sparse`: the unmonitored CPU kernel (CSR rows, numba with llvmlite intrinsics);
* :mod:`.head`: the output layer's part of a step, shared by the two CPU kernels;
* :mod:`.torch_path`: both modes in torch, for tensors on a GPU;
* :mod:`.driver`: :func:`sgd_mlp`, which runs the steps chunk by chunk on one of them.
"""

from .driver import MLPRun, sgd_mlp
from .replicas import MLPReplicas, draw_minibatches, replica_losses, replicate

__all__ = [
    "MLPReplicas",
    "MLPRun",
    "replicate",
    "draw_minibatches",
    "replica_losses",
    "sgd_mlp",
]
