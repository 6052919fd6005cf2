"""The bottom layer: what every other layer uses and which imports nothing above it (one deferred
import reaches up: :func:`.record.environment` reads the storage figures of :mod:`thesis_lib.tools.storage`).

- :mod:`.errors`: the package's exceptions; :mod:`.checks`: whole numbers and measured epochs checked.
- :mod:`.paths`: where data and results live (``$THESIS_DATA``, ``$THESIS_RESULTS_DIR``).
- :mod:`.registry`: a name looked up in a registry, or a ValueError listing the valid names.
- :mod:`.record`: the one atomic JSON writer, a record's keys and its checks.
- :mod:`.machine`, :mod:`.cache`: the machine a run is on; page-cache residency and eviction.
- :mod:`.stats`: medians with bootstrap intervals, the H100's demand; :mod:`.protocol`: start-up and steady state.
- :mod:`.notebook_run`: notebooks executed over a local kernel.
"""
