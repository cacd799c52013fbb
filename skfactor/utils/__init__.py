"""Utilities shared by the skfactor estimators.

- :mod:`skfactor.utils.discovery`: list the public estimators;
- :mod:`skfactor.utils.validation`: input checks with clear error messages;
- :mod:`skfactor.utils._monitor`: stopping rule, verbose output and
  convergence warnings of iterative solvers;
- :mod:`skfactor.utils._docstrings`: shared parameter descriptions;
- :mod:`skfactor.utils._linalg`: truncated SVD and the sign convention of
  singular vectors;
- :mod:`skfactor.utils._scaling`: the one policy for data near the limits of
  floating point (exact power-of-two rescaling, or rejection).
"""
