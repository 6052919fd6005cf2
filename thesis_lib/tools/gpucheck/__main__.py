"""``python -m thesis_lib.tools.gpucheck [--quick] [--dry-run] ...``: the same as ``python -m thesis_lib gpucheck``."""
import sys

from ...__main__ import main

main(["gpucheck", *sys.argv[1:]])
