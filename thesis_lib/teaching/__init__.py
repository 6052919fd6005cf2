"""The theory chapter's helpers: :mod:`.theory`, what the ``notebooks/theory_*.ipynb`` derivations check against."""
