"""Registered experiments; every module in this package registers one or more.

Modules are discovered automatically by :func:`logloss.experiment.list_experiments`.
"""
