"""One run and a grid of runs.

- :mod:`.config`: :class:`~.config.BenchConfig`, the one definition of a run, its CLI flags and notebook defaults.
- :mod:`.run_spec`: a configuration checked and resolved once, its identity and record name.
- :mod:`.converted`: where converted copies live; reuse only on an exact match.
- :mod:`.storage`: where a run reads its copy from (local disk, or an S3 bucket on a private or given server).
- :mod:`.bench`: one run end to end and its JSON record.
- :mod:`.grid`, :mod:`.plan`, :mod:`.sweep`: a grid file into points, what it would run and cost, running it.
"""
