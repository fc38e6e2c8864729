"""Vendored dataset subsets; see LICENSES.md in this folder."""
