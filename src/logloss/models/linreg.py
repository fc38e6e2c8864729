"""Linear regression f(θ, x) = θᵀx with Gaussian data: the paper's solvable test bed.

Inputs x and targets y are i.i.d. N(0, 1) (the paper's Sec. 5.3, Fig. 3), so the minimum θ* is the
least-squares solution and every quantity of the theory is available in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..core.validation import check_positive_int
from ..theory.stationary import least_squares_minimum

__all__ = ["LinearRegression", "make_linear_regression"]


@dataclass(frozen=True)
class LinearRegression:
    """A linear-regression dataset with loss L(θ) = (1/2N) Σ_μ (θᵀx_μ − y_μ)².

    Attributes
    ----------
    X : ndarray, shape (N, d)
        Inputs x_μ.
    y : ndarray, shape (N,)
        Targets y_μ.
    """

    X: np.ndarray
    y: np.ndarray

    @property
    def N(self) -> int:
        """Number of samples N."""
        return self.X.shape[0]

    @property
    def d(self) -> int:
        """Dimension d (= number of parameters P = effective dimension n)."""
        return self.X.shape[1]

    @cached_property
    def theta_star(self) -> np.ndarray:
        """The minimum θ* (least squares)."""
        return least_squares_minimum(self.X, self.y)

    @cached_property
    def hessian(self) -> np.ndarray:
        """The Hessian H = XᵀX/N (constant in θ)."""
        return self.X.T @ self.X / self.N

    @cached_property
    def h_star(self) -> float:
        """The curvature h* = tr(H)/d, the mean eigenvalue of H.

        This is the one definition of h* for linear regression in logloss.  The theory of
        the stationary law (Eq. 17) and of escape (Eqs. 15–16) treats the minimum as
        isotropic, H = h*·I; tr(H)/d is the isotropic curvature that matches tr H, hence
        the mean loss increase ½ tr(H Cov u).  For the population of x ~ N(0, I),
        h* = 1; at finite N the eigenvalues of H spread by about ±2√(d/N) around it.
        """
        return float(np.trace(self.hessian) / self.d)

    @cached_property
    def L_star(self) -> float:
        """The loss at the minimum, L(θ*)."""
        return float(self.loss(self.theta_star))

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """r_μ = θᵀx_μ − y_μ; ``theta`` may carry leading batch axes, shape (..., d)."""
        return np.asarray(theta) @ self.X.T - self.y

    def loss(self, theta: np.ndarray) -> np.ndarray:
        """L(θ) for ``theta`` of shape (..., d)."""
        return 0.5 * np.mean(self.residuals(theta) ** 2, axis=-1)

    def per_sample_grads(self, theta: np.ndarray) -> np.ndarray:
        """∇ℓ_μ(θ) = r_μ x_μ, shape (N, d)."""
        return self.residuals(theta)[:, None] * self.X


def make_linear_regression(N: int, d: int, rng: np.random.Generator) -> LinearRegression:
    """Draw N samples with x ~ N(0, I_d) and y ~ N(0, 1), independent.

    Parameters
    ----------
    N : int
        Number of samples N.
    d : int
        Input dimension d.
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller).
    """
    N = check_positive_int(N, "number of samples N")
    d = check_positive_int(d, "dimension d")
    return LinearRegression(rng.standard_normal((N, d)), rng.standard_normal(N))
