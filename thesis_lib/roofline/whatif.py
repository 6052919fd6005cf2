"""What-if: the same model on another machine. A profile is changed in the two figures a reader's
machine most often differs in (cores, and the latency of its storage), and every candidate way of
storing and reading the data is predicted there; the fastest one, per machine and image size, is the
thesis's "which format should I use" for a reader who is not on this machine.

Nothing is fitted: the changed profile keeps every other primitive as measured, and says so in the
changed fields' ``source``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from .model import NotModelled, Prediction, predict
from .profile import FIELDS, Profile, Stat
from .shape import RunShape

CORES = (1, 2, 4, 8, 16, 32)
#: Where the bytes come from, the figure's other axis: the page cache (warm), or storage (cold) of
#: this 4 KiB random-read latency in microseconds.
STORAGES = {"RAM (warm page cache)": None, "NVMe (0.1 ms)": 100.0, "LAN (1 ms)": 1_000.0,
            "object store (20 ms)": 20_000.0}
RATE_UNITS = ("GB/s", "MB/s", "1/s", "share")  # primitives where more is faster; the others are costs
IMAGE_SIZES = (32, 64, 128, 256)
N_IMAGES = 100_000
BATCH = 512
KINDS = ("process", "thread", "ring")


@dataclass(frozen=True)
class Candidate:
    """One way to store and read the set: a format with its options, in one access mode."""
    label: str
    fmt: str
    mode: str
    write_options: dict
    open_options: dict


#: The ways of storing and reading a set that a reader chooses between (loaderbench's best of each).
CANDIDATES = (
    Candidate("npy, batch", "npy", "batch", {}, {}),
    Candidate("hdf5 contiguous, block", "hdf5", "block", {}, {}),
    Candidate("hdf5 chunk 64 gzip, raw chunk + zlib", "hdf5", "batch", {"chunk_images": 64, "compression": "gzip"},
              {"read_path": "decode"}),
    Candidate("zarr chunk 64, TensorStore", "zarr", "batch", {}, {"read_path": "tensorstore"}),
    Candidate("zarr chunk 1024, TensorStore, block", "zarr", "block", {"chunk_images": 1024},
              {"read_path": "tensorstore"}),
    Candidate("zarr chunk 64 zstd, TensorStore", "zarr", "batch", {"codec": "zstd"}, {"read_path": "tensorstore"}),
    Candidate("files png", "files", "batch", {"encoding": "png"}, {}),
    Candidate("files jpeg", "files", "batch", {"encoding": "jpeg"}, {}),
)


def machine(profile: Profile, *, cores: int | None = None, latency_us: float | None = None) -> Profile:
    """``profile`` with ``cores`` cores and a storage of ``latency_us`` per 4 KiB random read (its
    IOPS at queue depth 1 following); every other primitive as measured."""
    values, machine_doc = dict(profile.values), dict(profile.machine)
    unmeasured = dict(profile.unmeasured)
    if cores is not None:
        machine_doc["cores"] = cores
    if latency_us is not None:
        said = f"what-if: {latency_us:g} us per 4 KiB read"
        values["storage.latency_4k_us"] = Stat(latency_us, latency_us, latency_us, said)
        values["storage.iops_4k"] = Stat(*(1e6 / latency_us,) * 3, said)
        for name in ("storage.latency_4k_us", "storage.iops_4k"):
            unmeasured.pop(name, None)
    return replace(profile, machine=machine_doc, values=values, unmeasured=unmeasured)


def overlay(anchor: Profile, base: Profile) -> Profile:
    """``anchor``'s primitives where it has them, ``base``'s where it does not (each so sourced),
    and ``anchor``'s machine: a machine known from a few figures, completed by the measured one.
    The changed ``source`` keeps the borrowed numbers from passing as the anchor's."""
    label = base.machine.get("description") or base.machine.get("cpu") or "the base profile"
    values = dict(anchor.values)
    for name, stat in base.values.items():
        if name not in values:
            values[name] = replace(stat, source=f"not known there: {label}'s")
    unmeasured = {name: why for name, why in base.unmeasured.items() if name not in values}
    return Profile({**anchor.machine, "completed_from": label}, values, unmeasured)


def ends(profile: Profile) -> tuple[Profile, Profile]:
    """The slow and the fast end of ``profile``: every primitive at the end of its 95% interval
    that makes loading slower (rates low, costs high), and at the other. A prediction between the
    two carries the profile's own uncertainty; a candidate is named fastest only where its slow
    end beats the runner-up's fast end."""
    def at(slow: bool) -> Profile:  # noqa: FBT001 - one flag, two ends
        values = {}
        for name, stat in profile.values.items():
            low_is_slow = FIELDS[name][0] in RATE_UNITS
            value = stat.low if low_is_slow == slow else stat.high
            values[name] = Stat(value, value, value, stat.source)
        return replace(profile, values=values)
    return at(True), at(False)


def best_read(candidate: Candidate, profile: Profile, image_size: int, cache: str,
              n_images: int = N_IMAGES) -> tuple[float, str] | NotModelled:
    """The candidate's best predicted img/s over 0 workers and ``cores`` workers of each kind, with
    the way it reads ("4 thread workers") and the resource that binds it."""
    cores = int(profile.machine["cores"])
    found, reasons = [], []
    for workers, kind in [(0, "process"), *((cores, kind) for kind in KINDS)]:
        shape = RunShape(fmt=candidate.fmt, mode=candidate.mode, image_size=image_size, n_images=n_images,
                         batch_size=BATCH, workers=workers, worker_kind=kind, cache=cache,
                         write_options=candidate.write_options, open_options=candidate.open_options)
        result = predict(shape, profile)
        if isinstance(result, Prediction):
            how = f"{workers} {kind} workers" if workers else "0 workers"
            found.append((result.rate, f"{how}; {result.binding}"))
        else:
            reasons.append(result.reason)
    return max(found) if found else NotModelled("; ".join(dict.fromkeys(reasons)))


def sweep(profile: Profile, *, cores=CORES, storages=STORAGES, image_sizes=IMAGE_SIZES,
          candidates=CANDIDATES) -> pd.DataFrame:
    """One row per machine (cores, storage), image size and candidate: predicted img/s with the
    slow and fast ends of the profile, how it reads, and whether it is resolved fastest there;
    candidates not modelled are kept, with the reason."""
    rows = []
    for storage, latency in storages.items():
        cache = "warm" if latency is None else "cold"
        for n_cores in cores:
            there = machine(profile, cores=n_cores, latency_us=latency)
            slow, fast = ends(there)
            for px in image_sizes:
                for candidate in candidates:
                    result = best_read(candidate, there, px, cache)
                    row = {"storage": storage, "cores": n_cores, "image_size": px, "candidate": candidate.label,
                           "img_s": None, "slow": None, "fast": None, "how": None}
                    if isinstance(result, NotModelled):
                        row["how"] = f"not modelled: {result.reason}"
                    else:
                        row["img_s"], row["how"] = result
                        row["slow"], row["fast"] = (best_read(candidate, end, px, cache)[0] for end in (slow, fast))
                    rows.append(row)
    return pd.DataFrame(rows)


def fastest(frame: pd.DataFrame) -> pd.DataFrame:
    """Per machine and image size: the fastest candidate, its img/s and lead over the next, or a tie
    (named "A ≈ B") where the leader's slow end does not clear the runner-up's fast end."""
    rows = []
    for (storage, cores, px), group in frame.groupby(["storage", "cores", "image_size"], sort=False):
        ranked = group.dropna(subset=["img_s"]).sort_values("img_s", ascending=False)
        if ranked.empty:
            continue
        top = ranked.iloc[0]
        second = ranked.iloc[1] if len(ranked) > 1 else None
        tied = ranked[ranked["fast"] >= top["slow"]]["candidate"].tolist()
        rows.append({"storage": storage, "cores": cores, "image_size": px,
                     "fastest": " ≈ ".join(tied) if len(tied) > 1 else top["candidate"],
                     "resolved": len(tied) == 1, "img_s": round(top["img_s"]),
                     "x next": None if second is None else round(top["img_s"] / second["img_s"], 2),
                     "next": None if second is None else second["candidate"], "how": top["how"]})
    return pd.DataFrame(rows)


def bottleneck_moves(shapes: dict[str, RunShape], here: Profile, there: Profile) -> pd.DataFrame:
    """Each shape whose binding resource differs between two profiles, with both bindings and
    both predicted rates (shapes either profile does not model are left out)."""
    rows = []
    for name, shape in shapes.items():
        a, b = predict(shape, here), predict(shape, there)
        if not (isinstance(a, Prediction) and isinstance(b, Prediction)):
            continue
        if resource(a.binding) != resource(b.binding):
            rows.append({"row": name, "here": a.binding, "here img/s": round(a.rate),
                         "there": b.binding, "there img/s": round(b.rate)})
    return pd.DataFrame(rows, columns=["row", "here", "here img/s", "there", "there img/s"])


def resource(binding: str) -> str:
    """The resource a binding names ("per-request" of "per-request: 377 ... per batch")."""
    return binding.split(":", 1)[0]


def figure(frame: pd.DataFrame):
    """Which candidate is fastest where: panels by image size, cores across, storage down; each
    cell names the fastest candidate and its predicted img/s, or the tie (grey) where none is
    resolved."""
    import textwrap

    import matplotlib.pyplot as plt
    table = fastest(frame)
    winners = list(dict.fromkeys(table.loc[table["resolved"], "fastest"]))
    colours = dict(zip(winners, plt.get_cmap("tab10").colors))
    sizes = sorted(table["image_size"].unique())
    storages = list(dict.fromkeys(frame["storage"]))
    cores = sorted(table["cores"].unique())
    fig, axes = plt.subplots(len(sizes), 1, figsize=(1.6 * len(cores) + 2.5, 1.0 * len(storages) * len(sizes) + 1.5),
                             squeeze=False)
    for ax, px in zip(axes[:, 0], sizes):
        for _, row in table[table["image_size"] == px].iterrows():
            x, y = cores.index(row["cores"]), storages.index(row["storage"])
            tied = row["fastest"].split(" ≈ ")
            name = row["fastest"] if row["resolved"] else f"tie: {tied[0]} ≈ {tied[1]}" + (
                f" (+{len(tied) - 2})" if len(tied) > 2 else "")
            ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, alpha=0.55,
                                       color=colours[row["fastest"]] if row["resolved"] else "lightgrey"))
            ax.text(x, y, textwrap.fill(name, 24) + f"\n{_rate(row['img_s'])}", ha="center", va="center", fontsize=5.5)
        ax.set(xlim=(-0.5, len(cores) - 0.5), ylim=(len(storages) - 0.5, -0.5), title=f"{px} px",
               xticks=range(len(cores)), xticklabels=cores, yticks=range(len(storages)), yticklabels=storages)
    axes[-1, 0].set_xlabel("cores")
    fig.suptitle(f"Fastest predicted format and read path ({N_IMAGES:,} images, batch {BATCH})")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return fig


def _rate(img_s: float) -> str:
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if img_s >= scale:
            return f"{img_s / scale:.3g}{suffix} img/s"
    return f"{img_s:.3g} img/s"
