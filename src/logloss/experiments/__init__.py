"""Registered experiments: one module per experiment, named after it (``-`` becomes ``_``).

Modules are discovered by :func:`logloss.list_experiments`; private helpers shared by
several experiments live in ``_shared.py``, the registry in ``_registry.py``.
"""
