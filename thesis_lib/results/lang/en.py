"""English: the report's words as the tables and lead findings have always printed them."""

NAME = "English"
DECIMAL = "."
THOUSANDS = ","
LIST_SEP = ","  # between an interval's ends: "[0.12, 0.13]"
PLURAL = "english"

WORDS = {
    # headline and start-up tables
    # results.ipynb's sections: each one's heading and how to read it (Markdown)
    "section.intro": "# Results: how the storage format changes training\n\nEvery benchmark record in the results folder (one JSON file per run, written by `bench.ipynb` or `python -m thesis_lib sweep`): the lead findings first, then the headline table, the figures, an appendix with every finding and the tie matrices, and the raw records at the end. Results measured on generated images are labelled *synthetic (generated)* or *synthetic stand-in*.",
    "section.machines": "## Where this was measured\n\nEach machine the records come from, with the storage of its data folder (measured once per machine and folder by `python -m thesis_lib storage`): *from storage* in the tables below means reads at these speeds. Also written to `report/machines.md`.",
    "section.findings": "## Findings\n\nThe few claims the results open with, each with its numbers and 95% intervals, chosen by the rules in `docs/design.md` (\"Lead findings: the rules\"). Every finding, per dataset and across datasets, and the tie matrices are in the appendix at the end; all of it is also written to `report/findings.md` and `report/ties.md`.",
    "section.headline": "## Headline: steady-state epoch time per format, dataset and size\n\nRows: storage format (with the write and open options that tell its variants apart) and access mode. Columns: dataset, image size, number of training images, and where the bytes were read from: RAM (warm page cache) beside storage (evicted before every epoch). Cells: the median over repeats of each repeat's steady-state epoch time in seconds (its warm-up epoch left out) [95% interval over repeats]. Also written as Markdown and LaTeX to `report/headline.md` and `report/headline.tex`.",
    "section.startup": "## What a short run pays: start-up\n\nEach repeat's first epoch is a warm-up: workers start, the pipeline fills and, from RAM, the page cache fills. Cells: how much longer it took than a steady-state epoch, in seconds [95% interval over repeats]. Also written to `report/startup.md` and `report/startup.tex`.",
    "section.why": "## Why: what binds each headline row\n\nThe loader's binding resource for each row of the headline table, predicted by the loader roofline (`notebooks/roofline.ipynb`, formulas in `docs/design.md`) from the machine profile `profiles/this-vm.json`: the resource that binds most of the row's runs, with its cost per batch, then the others with their counts. It explains; the measured times above decide.",
    "why.binding": "Binding resource (runs)",
    "why.no_profile": "No machine profile at `profiles/this-vm.json`: `python -m thesis_lib roofline measure --out profiles/this-vm.json` writes one.",
    "section.summary": "## Summary table\n\nOne row per condition: epoch time, throughput, utilisation, storage cost and model quality. Also written as Markdown and LaTeX to `report/summary.md` and `report/summary.tex`.",
    "section.appendix": "## Appendix: every finding and the tie matrices\n\nEvery finding the lead findings are drawn from: per dataset (each setting, workload and cache state), across datasets and sizes, and start-up. Then the tie matrices: per condition, every format against every other, `<` where the row's epoch time is resolved shorter, `>` longer, `≈` where the 95% intervals overlap.",
    "section.raw": "## Raw records\n\nOne row per run (the record's file name is `<run>.json`); one row per repeat (steady state and start-up) in `results.repeats_frame(runs)`, every epoch as measured in `results.epochs_frame(runs)`.",
    "machines.columns": {},  # the machines table's columns, as machines.machines_table names them
    "headline.columns": ("Dataset", "Image size", "Training images", "Read from"),
    "read_from.warm": "RAM (page cache)",
    "read_from.cold": "storage (evicted)",
    "read_from.cold-unavailable": "RAM (eviction failed)",
    "flat_column": "{name} · {size} · {n} images · from {source}",
    "rows": {"format": "Format", "access": "Access", "batch_size": "Batch", "workers": "Workers",
             "worker_kind": "Worker kind", "device": "Device", "world_size": "Ranks", "epochs_per_repeat": "Epochs",
             "warmup_epochs": "Warm-up epochs", "machine": "Machine"},
    "headline.title": "Headline: steady-state epoch time per format, dataset and size, from RAM and from storage",
    "headline.heading": "Steady-state epoch time (s)",
    "headline.caption": ("Steady-state epoch time (s), {title}: the median over repeats of each repeat's steady-state "
                         "epochs (its warm-up epoch left out), with the percentile-bootstrap 95% interval over repeats. "
                         "Bold: the fastest in its column, where its interval clears every other's; elsewhere the "
                         "fastest are not resolved."),
    "empty.none": "No run is recorded in {folders}: there is nothing to report.",
    "empty.skipped": ("No run is recorded in {folders}: the sweep skipped every point. {skipped}. Each point, with "
                      "its reason: `{listing}`."),
    "runs.read": "*{n} run(s) read from {folders}.*",
    "headline.none": "No benchmark records were found.",
    "startup.title": "What a short run pays: start-up per format",
    "startup.heading": "Start-up cost (s)",
    "startup.caption": ("Start-up cost (s), {title}, from RAM: how much longer a repeat's warm-up epoch took than its "
                        "steady-state epochs (workers starting, the pipeline and the page cache filling), the median "
                        "over repeats with its percentile-bootstrap 95% interval. Bold: the cheapest start in its "
                        "column, where its interval clears every other's."),
    "startup.none": ("No record has a warm-up epoch (records from before the protocol charge start-up to every "
                     "epoch)."),
    # summary table
    "summary.title": "Benchmark summary",
    "summary.columns": {"dataset_name": "Dataset", "image_size": "Size (px)", "n_train": "Images",
                        "batch_size": "Batch", "workers": "Workers", "worker_kind": "Worker kind",
                        "device": "Device", "world_size": "Ranks",
                        "epochs_per_repeat": "Epochs", "workload": "Workload", "cache": "Cache", "format": "Format",
                        "access": "Access", "runs": "Runs", "repeats": "Repeats",
                        "epoch_time": "Steady-state epoch time (s), median [95% CI]",
                        "samples_per_s": "Samples/s", "au": "AU, whole epoch (%)", "au_mlperf": "AU, MLPerf (%)",
                        "startup_extra_s": "Start-up (s)", "bytes_on_disk": "Disk (MiB)", "convert_s": "Convert (s)",
                        "accuracy": "Accuracy (%)", "f1_macro": "Macro F1 (%)"},
    "summary.caption": ("Benchmark summary: median steady-state epoch time with percentile-bootstrap 95\\% interval "
                        "over repeats, throughput, accelerator utilisation (whole epoch, and MLPerf's with the first "
                        "step's I/O left out), start-up cost, storage cost and model quality."),
    # figures (results.FIGURES): each one's section heading and note, title, axes and empty message
    "figure.epoch_time.heading": "Epoch time per format",
    "figure.epoch_time.note": ("One figure per dataset. Warm page cache. Bars: median epoch time; whiskers: bootstrap "
                               "95% interval."),
    "figure.epoch_time.title": "Epoch time per storage format (warm cache): median with bootstrap 95% interval",
    "figure.epoch_time.value": "Epoch time (s)",
    "figure.epoch_time.empty": "no warm-cache epochs in these records",
    "figure.throughput.heading": "Throughput against image size",
    "figure.throughput.note": ("Log axes. The dashed line is what one H100 consumes training ResNet-18 (36,300 img/s "
                               "at 32 px, 15,250 at 64 px, a power law elsewhere): a loader below it would starve "
                               "that GPU."),
    "figure.throughput.title": "Throughput against image size (warm cache): median with bootstrap 95% interval",
    "figure.throughput.x": "Image size (px, log scale)",
    "figure.throughput.value": "Samples/s (log scale)",
    "figure.throughput.empty": "no warm-cache epochs in these records",
    "figure.throughput.h100": "one H100, ResNet-18",
    "figure.au.heading": "Accelerator utilisation under an emulated H100",
    "figure.au.note": ("AU = compute / wall over each repeat's steady-state epochs, with the accelerator emulated by "
                       "a fixed compute time per batch (as DLIO does). MLPerf Storage requires AU ≥ 90%."),
    "figure.au.title": ("Accelerator utilisation (MLPerf's, steady state) under an emulated accelerator: median over "
                        "repeats with bootstrap 95% interval"),
    "figure.au.value": "MLPerf AU = compute / (wall - first batch wait) (%)",
    "figure.au.empty": "no emulated-accelerator runs in these records",
    "figure.au.bar": "MLPerf Storage: 90%",
    "figure.cold_warm.heading": "Cold against warm page cache",
    "figure.cold_warm.note": "Cold epochs start after the dataset's files are evicted from the page cache.",
    "figure.cold_warm.title": "Cold against warm page cache: median epoch time with bootstrap 95% interval",
    "figure.cold_warm.category": "Storage format / access mode",
    "figure.cold_warm.value": "Epoch time (s)",
    "figure.cold_warm.empty": "no cold-cache runs in these records",
    "figure.cold_warm.hue": "page cache",
    "figure.storage.heading": "Storage cost: bytes on disk and conversion time",
    "figure.storage.note": "",
    "figure.storage.title": "Storage cost of each format",
    "figure.storage.empty": "no records",
    "figure.storage.size": "Size on disk (MiB)",
    "figure.storage.convert": "Conversion time (s)",
    "figure.storage.hue": "converted copy",
    "figure.accuracy.heading": "Model quality: accuracy and macro F1",
    "figure.accuracy.note": ("Lossless formats hold the same bytes, so with the same training configuration they "
                             "must train the same model."),
    "figure.accuracy.title": "Test accuracy and macro F1 per storage format: median over runs, bootstrap 95% interval",
    "figure.accuracy.value": "Test set (%)",
    "figure.accuracy.empty": "no trained-model runs (with accuracy) in these records",
    "figure.accuracy.metrics": ("accuracy (%)", "macro F1 (%)"),
    "figure.object_store.heading": "Data on an object store: throughput against zarr chunk size",
    "figure.object_store.note": ("Each run uploads its copy to a private S3 server (SeaweedFS) and reads it over S3, "
                                 "directly or through a link that adds the latency shown to each request and to "
                                 "each response. Log axes; median over repeats with bootstrap 95% intervals. "
                                 "npy reads row runs as ranged GETs and files one GET per image: they have no "
                                 "chunks, so they stand beside the zarr read paths."),
    "figure.object_store.title": "Throughput over S3 against zarr chunk size, one line per link latency",
    "figure.object_store.x": "Images per zarr chunk (log scale)",
    "figure.object_store.value": "Images/s (log scale)",
    "figure.object_store.whole": "no chunks",
    "figure.object_store.latency": "{ms} ms",
    "figure.object_store.legend": "latency added each way ({n} requests in flight)",
    "figure.object_store.other_concurrency": "another number of requests in flight",
    "figure.object_store.in_flight": "{n} in flight",
    "figure.object_store.h100": "one H100, ResNet-18",
    "figure.object_store.empty": "no runs over S3 in these records",
    "object_store.best": ("{context}, {path} over S3 at {ms} ms: chunks of {chunk} images read fastest, {rate}, "
                          "their interval clearing every other chunk size's; next, chunks of {next}: {next_rate}."),
    "object_store.tied": ("{context}, {path} over S3 at {ms} ms: no single best chunk size; the intervals of chunks "
                          "of {chunks} overlap."),
    "object_store.unit": " img/s",
    "object_store.chunk": "{path} at chunks of {chunk} images",
    "object_store.concurrency": ("{context}, {where} over S3 at {ms} ms: {many} requests in flight instead of {few} "
                                 "make the epoch {effect} as fast ({fast} against {slow})."),
    "object_store.concurrency.costs": ("{context}, {where} over S3 at {ms} ms: {many} requests in flight instead "
                                       "of {few} make the epoch slower, {effect} as fast ({fast} against {slow})."),
    "object_store.concurrency.tied": ("{context}, {where} over S3 at {ms} ms: {many} requests in flight against "
                                      "{few} resolve no difference, {effect} ({fast} against {slow})."),
    "figure.category": "Storage format",
    "figure.access": "access",
    # rezultati.tex: a figure's caption
    "figure.caption": "{heading}: {dataset}.",
    # rezultati.tex: the chapter's subsections
    "chapter.lead": "Lead findings",
    "chapter.headline": "Steady-state epoch time",
    "chapter.startup": "Start-up cost",
    "chapter.figures": "Figures",
    # lead findings
    "lead.heading": "Lead findings",
    "missing.heading": "Labels without wording in this language (shown in English)",
    "estimate.single": "{median} ({n} value, no interval)",
    "effect": "{ratio}× (between {low}× and {high}×)",
    "and": "and",
    "share.one": "its one condition",
    "share.many": "{n} of its {total} conditions",
    "family.one": ("{dataset}: {family} is the fastest format family in {share}, its 95% interval clearing every "
                   "other family's; at {context}, {top} takes {top_text} per epoch against {runner_text} for the "
                   "next family's best, {runner}."),
    "family.tied": ("{dataset}: no single fastest format family in {share}: {families} tie, their 95% intervals "
                    "overlapping; at {context}: {listed}."),
    "family.alone": "{family} alone fastest",
    "family.tie": "{families} tied",
    "family.in": "{outcome} in {n}",
    "family.elsewhere": " Elsewhere: {others}.",
    "effect.format": ("The largest resolved difference between formats: at {context}, {slow} takes {ratio} as long "
                      "as {fast} under {where} ({slow_text} against {fast_text})."),
    "effect.access.alone": "Between access modes: {slow} against {fast} access for {where} at {context}, {ratio}.",
    "effect.access.beside": ("Beside it, between access modes: {slow} against {fast} access for {where} at "
                             "{context}, {ratio}."),
    "access_mode": "{mode} access",
    "flip.none": ("The order of formats never flips where the intervals resolve it, across datasets and sizes or "
                  "from RAM to storage."),
    "flip.once": "once where both sides are resolved",
    "flip.many": "in {n} cases where both sides are resolved; most strikingly",
    "flip": "The order of formats flips {how} ({context}): {a} is faster than {b} {a_side}, but slower {b_side}.",
    "flip.side": "{where} ({own} against {other})",
    "flip.on": "on {column}",
    "au.reach.item": "{label} in {n} of {conditions} (best {best})",
    "au.reach": "{name} ≥ 90%, the MLPerf Storage bar, with the whole interval above it: {listed}.",
    "au.none": "No format/access pair reaches {name} ≥ 90%, the MLPerf Storage bar, with its whole interval.",
    "au.never": (" Below it wherever measured: {never}. The closest of these, {closest}, peaks at {best} "
                 "({context})."),
    "startup.lead.none": "Start-up: no start-up cost is resolved above zero (every interval reaches 0 s).",
    "startup.lead": ("Start-up: the largest resolved cost of a short run (the warm-up epoch's time over a "
                     "steady-state epoch's) is {cost}, at {context}."),
    "startup.cost": "{label} {extra} ({share}; first batch after {first} s)",
    "startup.share": "{share} of a steady-state epoch",
    "startup.unknown": "steady state unknown",
    "lossless.agree": ("Lossless formats trained identical models: accuracy and macro F1 agree in "
                       "{count}."),
    "count.one": "the one {noun}",
    "count.all": "all {n} {noun}",
    "batch": "batch {n}",
    "nouns": {"condition": ("condition", "conditions"), "worker": ("worker", "workers"),
              "epoch": ("epoch", "epochs"), "rank": ("rank", "ranks"),
              "warm-up epoch": ("warm-up epoch", "warm-up epochs"),
              "image": ("image", "images"), "request": ("request", "requests"),
              "comparable training configuration": ("comparable training configuration",
                                                    "comparable training configurations")},
}

# Data labels (dataset names, workloads, cache states, context phrases): English labels are their own wording.
LABELS: dict[str, str] = {}
