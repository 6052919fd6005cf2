"""English: the report's words as the tables and lead findings have always printed them."""

NAME = "English"
DECIMAL = "."
THOUSANDS = ","
LIST_SEP = ","  # between an interval's ends: "[0.12, 0.13]"
PLURAL = "english"

WORDS = {
    # headline and start-up tables
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
    # rezultati.tex: the chapter's subsections
    "chapter.lead": "Lead findings",
    "chapter.headline": "Steady-state epoch time",
    "chapter.startup": "Start-up cost",
    "chapter.summary": "Benchmark summary",
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
    "nouns": {"condition": ("condition", "conditions"), "worker": ("worker", "workers"),
              "image": ("image", "images"),
              "comparable training configuration": ("comparable training configuration",
                                                    "comparable training configurations")},
}

# Data labels (dataset names, workloads, cache states, context phrases): English labels are their own wording.
LABELS: dict[str, str] = {}
