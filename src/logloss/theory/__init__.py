"""Closed forms of the paper (numpy and scipy only; no torch, no higher layer).

* :mod:`.escape`: T, φ (Eq. 17), the escape exponent and rate (Eq. 15), n_c (Eq. 16),
  the Arrhenius alternatives and the exact radial mean first-passage time of the SDE;
* :mod:`.mfpt`: exact 1-d mean first-passage times (SDE quadrature, the discrete SGD
  chain's backward equation) and the Kramers limit with state-dependent noise;
* :mod:`.discrete_sgd`: discrete-time SGD on linear regression without the SDE: the exact
  mean first-passage time of the 1-d recursion (a data set or online) and the Lyapunov
  exponent (critical dimension);
* :mod:`.stationary`: the exact finite-η stationary moment of SGD on linear regression,
  tail indices and the densities of P ∝ L^(−φ);
* :mod:`.noise_scale`: the stationary gradient norm of SGD near a minimum and the plateau of
  the gradient noise scale B_simple it implies.

η and B are keyword-only wherever both appear.
"""

from .discrete_sgd import *
from .discrete_sgd import __all__ as _discrete_all
from .escape import *
from .escape import __all__ as _escape_all
from .mfpt import *
from .mfpt import __all__ as _mfpt_all
from .noise_scale import *
from .noise_scale import __all__ as _noise_scale_all
from .stationary import *
from .stationary import __all__ as _stationary_all

__all__ = [*_escape_all, *_mfpt_all, *_discrete_all, *_stationary_all, *_noise_scale_all]
