"""Same-run measurement tools beside the benchmark.

- :mod:`.loaderbench`: loader throughput of every format and access mode; :mod:`.peer` the
  torchvision ``ImageFolder`` it is compared with.
- :mod:`.convertbench`: each format's writer cost.
- :mod:`.shufflequality`: how random each access mode's epoch order is, beside a uniform shuffle.
- :mod:`.storage`: the data folder's storage, measured once per machine.
- :mod:`.gpucheck`: the prepared check of the GPU half on a lent GPU.
"""
