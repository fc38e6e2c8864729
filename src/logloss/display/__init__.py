"""display layer of logloss (see the package docstring for the layers)."""
