"""Foundation shared by every layer: errors, input checks, :class:`Measured`, progress
bars, scales, torch and numba thread counts and the code-keyed cache.  Imports nothing
from the layers above; importing this package loads no torch (the torch-using modules load on demand)."""
