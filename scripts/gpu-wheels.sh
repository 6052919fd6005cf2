#!/usr/bin/env bash
# Here, with the package registry at hand: download the wheels the GPU check needs on a lent GPU
# machine (no network there; Python 3.12, CUDA 13, torch, cupy-cuda13x, h5py, pillow, pyyaml, tqdm
# and pandas already installed) into .whl/ (ignored by git), about 34 MB. Then carry .whl with the
# working tree and run scripts/gpu-check.sh there (README, section GPU).
#
#   zarr, numcodecs, donfig, google-crc32c   the zarr format (and machine.environment) need them
#   kvikio-cu13, libkvikio-cu13, rapids-logger   KvikIO for CUDA 13 (its other needs, cupy-cuda13x,
#                                            cuda-toolkit's cufile and cuda-pathfinder, are there)
#   tensorstore                              the version the project asks for (>= 0.1.86)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PY_VERSION=${PY_VERSION:-3.12}
WHEELS=(zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0
        kvikio-cu13==26.10.0 libkvikio-cu13==26.10.0 rapids-logger==0.3.0 tensorstore==0.1.86)
mkdir -p .whl
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${WHEELS[@]}"
du -sh .whl
