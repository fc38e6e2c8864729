"""Input checks: learning rate, batch size, and the finite-loss guard of a diverged run."""

import numpy as np
import pytest

from logloss.core.errors import SGDDiverged
from logloss.core.validation import check_batch_size, check_finite_loss, check_learning_rate


@pytest.mark.parametrize("eta", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate(eta):
    with pytest.raises(ValueError, match="learning rate eta"):
        check_learning_rate(eta)


def test_batch_size_and_finite_loss():
    assert check_batch_size(3, 3) == 3
    with pytest.raises(ValueError, match="B=4 exceeds"):
        check_batch_size(4, 3)
    with pytest.raises(SGDDiverged, match="non-finite loss"):
        check_finite_loss(np.array([1.0, np.inf]))
