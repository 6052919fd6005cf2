"""Command line: ``python -m thesis_lib prepare|convert|bench|sweep|report|appendix|loaderbench|convertbench|shufflequality|gpucheck|storage|roofline|s3``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic", help="source name (default: synthetic)")
    p.add_argument("--root", default=None, help="where the dataset lies (folder or archive)")
    p.add_argument("--split", default="train")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--download", action="store_true", help="fetch the dataset (checksum verified)")


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse names the flag when this refuses)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _report_language(code: str) -> str:
    """An argparse type: a language the report has a catalogue for (argparse names the flag when this refuses)."""
    from .results.lang import UnknownLanguage, check_language
    try:
        return check_language(code)
    except UnknownLanguage as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load_source(args):
    from . import sources
    return sources.load(args.dataset, args.root, split=args.split, image_size=args.image_size,
                        limit=args.limit, download=args.download)


def _print_json(obj) -> None:
    from .core.record import json_default
    print(json.dumps(obj, indent=2, default=json_default))


def cmd_prepare(args) -> None:
    from . import sources
    _print_json(sources.summarize(_load_source(args)))


def cmd_convert(args) -> None:
    from . import formats
    from .formats.s3_objects import S3Location
    from .run import converted, storage
    from .run.config import key_values
    options = key_values(args.option, "--option")
    target = storage.upload_target(args.storage, key_values(args.storage_option, "--storage-option"), args.fmt)
    if args.url:
        if target is None:
            raise ValueError("convert --url applies only with --storage s3")
        S3Location.parse(args.url, target.endpoint)  # a bad URL is refused before the conversion
    source = _load_source(args)
    if args.out:
        path = Path(args.out)
        stats = formats.get(args.fmt).write(source, path, overwrite=args.overwrite, **options)
    else:
        path, stats = converted.ensure_converted(source, args.fmt, options)
    if target is not None:
        stats = {**stats, "s3": _upload(path, args.url or f"s3://{storage.BUCKET}/{path.name}", target.endpoint,
                                        concurrency=target.concurrency)}
    _print_json(stats)


def _upload(path, url: str, endpoint: str, **settings) -> dict:
    """Upload the converted copy at ``path`` to ``url`` on ``endpoint``: what it put, and where."""
    from .formats.s3_objects import S3Location, upload
    manifest = upload(path, S3Location.parse(url, endpoint, **settings))
    return {"url": url, "endpoint": endpoint, "objects": len(manifest["objects"]),
            "bytes": sum(o["size"] for o in manifest["objects"].values())}


def _check_storage() -> None:
    """The data folder's storage figures, measured once per machine and folder, for every record."""
    import os

    from .core import paths
    from .tools import storage
    if os.environ.get("RANK", "0") != "0":  # under torchrun one rank measures (the others write no record)
        return
    if storage.cached_figures() is None and paths.data_root().is_dir():
        print(f"storage: measuring {paths.data_root()} once (python -m thesis_lib storage shows it)", file=sys.stderr)
        try:
            storage.storage_figures()
        except (OSError, ValueError) as exc:
            print(f"storage: not measured ({exc}); records will say so", file=sys.stderr)


def cmd_bench(args) -> None:
    from .run import bench, config
    from .core.record import headline
    run = config.config_from_args(args).resolve().check_runnable()  # named before anything is measured
    _check_storage()
    record = bench.run(run, out=args.out)
    if record is not None:
        _print_json(headline(record))


def cmd_sweep(args) -> None:
    from .run import plan, sweep
    if args.dry_run:
        print(plan.dry_run(args.grid, args.results_dir))
        return
    plan.confirm(args.grid, args.results_dir, yes=args.yes)  # a grid's cost said before anything runs
    _check_storage()
    failures = sweep.run_grid(args.grid, results_dir=args.results_dir)
    sys.exit(1 if failures else 0)


def cmd_report(args) -> None:
    from .results import report
    print(report.build(args.results_dir, html=not args.no_html, lang=args.lang))


def cmd_appendix(args) -> None:
    from .results import report
    for path in report.appendix(args.results_dir, args.out, bench_runs=args.bench or None, pdf=not args.no_pdf):
        print(path)


def cmd_convertbench(args) -> None:
    from .tools import convertbench
    convertbench.main(dataset=args.dataset, root=args.root, image_size=args.image_size, sizes=args.sizes,
                      fmts=args.fmt, out=args.out)


def cmd_loaderbench(args) -> None:
    from .tools import loaderbench
    loaderbench.main(dataset=args.dataset, root=args.root, image_size=args.image_size, limit=args.limit,
                     workers=args.workers, repeats=args.repeats, out=args.out, batches=args.batches, only=args.only)


def cmd_shufflequality(args) -> None:
    from .run.config import key_values
    from .tools import shufflequality
    shufflequality.main(dataset=args.dataset, root=args.root, image_size=args.image_size, limit=args.limit,
                        fmt=args.fmt, write_options=key_values(args.option, "--option"), batch_size=args.batch_size,
                        buffers=args.buffer or [10_000], epochs=args.epochs, seed=args.seed, workers=args.workers,
                        out=args.out)


def cmd_gpucheck(args) -> None:
    from .tools import gpucheck
    sys.exit(gpucheck.main(out=args.out, quick=args.quick, dry_run=args.dry_run, work_dir=args.work_dir))


def cmd_storage(args) -> None:
    from .tools import storage
    ours = storage.storage_figures(args.folder, refresh=args.refresh, size_mb=args.size_mb)
    theirs = None
    if args.fio:
        try:
            theirs = storage.fio_figures(args.folder, size_mb=args.size_mb)
        except storage.StorageError as exc:
            print(f"no fio figures: {exc}")
    print(storage.format_table(ours, theirs))


def cmd_roofline_measure(args) -> None:
    from .roofline import measure
    measure.main(out=args.out, dataset=args.dataset, root=args.root, folder=args.folder, quick=args.quick)


def cmd_s3(args) -> None:
    from .core import link_proxy, s3_server
    if args.s3_command == "upload":
        _print_json(_upload(args.path, args.url, args.endpoint))
        return
    if args.s3_command == "proxy":
        link_proxy.serve(args.target, args.latency_ms, args.bandwidth_mbps,
                         announce=lambda line: print(line, flush=True))
        return
    s3_server.serve(args.data, port=args.port, start_timeout=args.start_timeout,
                    announce=lambda line: print(line, flush=True))


def cmd_roofline(args) -> None:
    if args.roofline_command is None:  # the whole check: measure, a loaderbench cut, validate
        from .roofline import check
        check.main(out=args.out, dataset=args.dataset, root=args.root, limit=args.limit, workers=args.workers,
                   results_dir=args.results_dir, quick=args.quick)
    else:
        args.roofline_func(args)


def cmd_roofline_validate(args) -> None:
    from .roofline import validate
    validate.main(args.profile, loaderbench=args.loaderbench, results_dir=args.results_dir, out=args.out)


def cmd_roofline_whatif(args) -> None:
    from .roofline import Profile
    from .roofline.report import write_whatif
    for path in write_whatif(Profile.load(args.profile), args.out):
        print(path)


def cmd_roofline_report(args) -> None:
    from .results.report import to_html
    from .roofline import report
    executed = report.execute(args.results_dir, profile=args.profile, other_profile=args.other_profile,
                              loaderbench=args.loaderbench)
    print(to_html(executed, executed.parent, hide_code=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m thesis_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="load a dataset and print its summary")
    _dataset_args(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("convert", help="write a dataset in one storage format; prints the write stats")
    _dataset_args(p)
    p.add_argument("--fmt", required=True)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="format option (repeatable)")
    p.add_argument("--out", default=None, help="target folder (default: data/converted/...)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--storage", default="local", help="local (default), or s3: also upload the converted copy "
                   "(every object, the manifest last) to the endpoint of --storage-option endpoint=http://HOST:PORT")
    p.add_argument("--storage-option", action="append", metavar="KEY=VALUE",
                   help="with --storage s3: endpoint (required), concurrency (uploads at once)")
    p.add_argument("--url", default=None, help="with --storage s3: s3://BUCKET/PREFIX (default: "
                   "s3://thesis/<the converted folder's name>)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("bench", help="one benchmark run: convert if needed, train, write one JSON record")
    from .run.config import add_arguments
    add_arguments(p)  # one flag per BenchConfig field
    p.add_argument("--option", dest="write_options", action="append", metavar="KEY=VALUE",
                   help="the same as --write-option")
    p.add_argument("--out", default=None, help="record file (default: <results folder>/<run>.json; the folder is $THESIS_RESULTS_DIR or data/results)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("sweep", help="run bench.ipynb over a grid with papermill (resumable)")
    p.add_argument("--grid", default=None, help="grid YAML (default: the embedded default grid)")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--dry-run", action="store_true", help="say what the sweep would run, skip and cost "
                   "(points, converted copies, time), and run nothing")
    p.add_argument("--yes", action="store_true", help="run a grid of more than 1,000 points not yet recorded")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help="execute results.ipynb over the records and render it to HTML")
    p.add_argument("--results-dir", action="append", default=None,
                   help="a results folder; repeat it to pool the records of several (machines) in one report")
    p.add_argument("--no-html", action="store_true")
    p.add_argument("--lang", type=_report_language, default="en",
                   help="language of the tables and lead findings (en, lv; lv also writes report/rezultati.tex)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("appendix", help="render theory, results and bench notebooks to HTML (and PDF)")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--out", default=None, help="default: data/appendix")
    p.add_argument("--bench", action="append", metavar="RUN", help="executed bench notebook to include "
                   "(repeatable; default: all in the results folder)")
    p.add_argument("--no-pdf", action="store_true")
    p.set_defaults(func=cmd_appendix)

    p = sub.add_parser("convertbench", help="write time, bytes on disk and peak memory of each format's writer")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--root", default=None, help="where the dataset lies (folder or archive)")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000])
    p.add_argument("--fmt", action="append", help="format (repeatable; default: all)")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_convertbench)

    p = sub.add_parser("loaderbench", help="same-run loader throughput of every format and access mode")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", default=None, help="where the dataset lies (folder or archive)")
    p.add_argument("--image-size", type=int, default=None, help="default: the dataset's own size")
    p.add_argument("--limit", type=int, default=50000)
    p.add_argument("--workers", type=int, default=None, help="default: the machine's cores")
    p.add_argument("--repeats", type=_at_least_one, default=3)
    p.add_argument("--batches", type=_at_least_one, default=None, help="batches of 512 per measurement (default: an epoch)")
    p.add_argument("--only", action="append", metavar="WORDS",
                   help="measure only the variants whose label contains WORDS (repeatable)")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_loaderbench)

    p = sub.add_parser("shufflequality", help="how random each access mode's epoch order is, beside a uniform shuffle")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", default=None, help="where the dataset lies (folder or archive)")
    p.add_argument("--image-size", type=int, default=None, help="default: the dataset's own size")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--fmt", default="webdataset", help="the format whose layout (shards, blocks) the orders follow")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="write option (repeatable)")
    p.add_argument("--batch-size", type=_at_least_one, default=512)
    p.add_argument("--buffer", type=_at_least_one, action="append", help="stream mode's buffer (repeatable; "
                   "default 10000)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers the stream is shared out among")
    p.add_argument("--epochs", type=_at_least_one, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_shufflequality)

    p = sub.add_parser("gpucheck", help="the GPU half in minutes: CuPy/KvikIO, every format under real GPU "
                       "training against the emulated accelerator, nvJPEG, host-to-device copies")
    p.add_argument("--out", default=None, help="the JSON (default: data/gpucheck/gpucheck.json)")
    p.add_argument("--quick", action="store_true", help="smaller sizes: about a minute")
    p.add_argument("--dry-run", action="store_true", help="the CPU-capable parts at tiny sizes, on the CPU "
                   "(exercises the check; measures nothing that stands for a GPU)")
    p.add_argument("--work-dir", default=None, help="where the generated data goes (default: a temporary folder)")
    p.set_defaults(func=cmd_gpucheck)

    p = sub.add_parser("storage", help="sequential, random-read and page-cache speed of the data folder's "
                       "storage (measured once per machine and folder, then cached)")
    p.add_argument("--folder", default=None, help="the folder to measure (default: the data folder)")
    p.add_argument("--size-mb", type=int, default=256, help="scratch file size in MiB (default: 256)")
    p.add_argument("--refresh", action="store_true", help="measure again even when cached")
    p.add_argument("--fio", action="store_true", help="also run fio's equivalent jobs and print its figures beside")
    p.set_defaults(func=cmd_storage)

    p = sub.add_parser("roofline", help="the loader roofline: a machine's primitives (profile) and the model "
                       "that predicts a run's img/s from them; without a subcommand: measure the profile, a "
                       "loaderbench cut, and validate (ends with 'N%% of rows within 25%%')")
    p.add_argument("--out", default=None, help="the profile JSON (default: data/roofline/profile.json); the cut "
                   "and the validation are written beside it")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", default=None, help="where the dataset lies (folder or archive)")
    p.add_argument("--limit", type=_at_least_one, default=20_000, help="images in the loaderbench cut")
    p.add_argument("--workers", type=int, default=2, help="the cut's workers (default: 2)")
    p.add_argument("--results-dir", default=None, help="bench records to validate on too (default: the results folder)")
    p.add_argument("--quick", action="store_true", help="seconds, for tests: the share then says little")
    p.set_defaults(func=cmd_roofline)
    roofline = p.add_subparsers(dest="roofline_command")
    p = roofline.add_parser("measure", help="measure every primitive (median and 95%% interval) and write the profile")
    p.add_argument("--out", default=None, help="the profile JSON (default: data/roofline/profile.json)")
    p.add_argument("--dataset", default="synthetic", help="whose images the decode costs are measured on")
    p.add_argument("--root", default=None, help="where the dataset lies (folder or archive); without it, "
                   "synthetic images")
    p.add_argument("--folder", default=None, help="the folder whose storage is measured (default: the data folder)")
    p.add_argument("--quick", action="store_true", help="few and small trials: seconds, for tests")
    p.set_defaults(roofline_func=cmd_roofline_measure)
    p = roofline.add_parser("validate", help="predicted against measured for loaderbench rows and bench records; "
                            "ends with 'N%% of rows within 25%%'")
    p.add_argument("--profile", required=True, help="the machine's profile (JSON)")
    p.add_argument("--loaderbench", action="append", metavar="J.json", help="a loaderbench result (repeatable)")
    p.add_argument("--results-dir", default=None, help="a folder of bench records")
    p.add_argument("--out", default=None, help="folder for the figure (PNG, PDF), the table (CSV) and the text")
    p.set_defaults(roofline_func=cmd_roofline_validate)
    p = roofline.add_parser("whatif", help="the fastest format and read path predicted for other machines: "
                            "cores 1-32 x storage latency x image size (table CSV, figure PNG and PDF)")
    p.add_argument("--profile", required=True, help="the machine's profile (JSON) the others are changed from")
    p.add_argument("--out", required=True, help="folder for roofline-whatif.csv/.png/.pdf")
    p.set_defaults(roofline_func=cmd_roofline_whatif)
    p = roofline.add_parser("report", help="run notebooks/roofline.ipynb over a results folder into "
                            "report/roofline.ipynb and .html")
    p.add_argument("--results-dir", default=None, help="the bench records (default: the results folder)")
    p.add_argument("--profile", default=None, help="this machine's profile (default: profiles/this-vm.json)")
    p.add_argument("--other-profile", default=None, help="another machine's (default: profiles/h100-anchor.json)")
    p.add_argument("--loaderbench", action="append", metavar="J.json",
                   help="a loaderbench result (repeatable; default: those under data/loaderbench/)")
    p.set_defaults(roofline_func=cmd_roofline_report)

    p = sub.add_parser("s3", help="a local S3 server (SeaweedFS) for datasets on an object store")
    s3 = p.add_subparsers(dest="s3_command", required=True)
    p = s3.add_parser("serve", help="run SeaweedFS on 127.0.0.1 until Ctrl-C; prints its endpoint")
    p.add_argument("--data", default=None, help="its data folder (default: $THESIS_DATA/s3)")
    p.add_argument("--port", type=_at_least_one, default=None, help="the S3 port (default: a free one)")
    p.add_argument("--start-timeout", type=float, default=60.0, help="seconds to wait for it to answer")
    p.set_defaults(func=cmd_s3)
    p = s3.add_parser("upload", help="upload a converted copy to a bucket: every object, then the manifest")
    p.add_argument("path", help="the converted dataset (a folder convert wrote)")
    p.add_argument("url", help="where it goes: s3://BUCKET/PREFIX")
    p.add_argument("--endpoint", required=True, help="the S3 endpoint, http://HOST:PORT (s3 serve prints it)")
    p.set_defaults(func=cmd_s3)
    p = s3.add_parser("proxy", help="a TCP proxy in front of an S3 endpoint adding latency and capping bandwidth")
    p.add_argument("--target", required=True, help="the endpoint behind it, http://HOST:PORT")
    p.add_argument("--latency-ms", type=float, default=0.0, help="round trip added, ms (default 0)")
    p.add_argument("--bandwidth-mbps", type=float, default=0.0, help="cap in MB/s (10^6 bytes/s); 0 = none")
    p.set_defaults(func=cmd_s3)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileExistsError) as exc:
        raise SystemExit(f"error: {exc}") from None
    except Exception as exc:
        from .core.errors import ThesisLabError
        if isinstance(exc, ThesisLabError):
            raise SystemExit(f"error: {exc}") from None
        raise


if __name__ == "__main__":
    main()
