"""The ``untwine`` command line: demo, init, train, run, traverse, evaluate, table, sweep, figures, variance,
explain, report, serve."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

DEMO_CONFIG = "demo.yaml"


def _print_run(run, result=None) -> None:
    print(f"\nrun directory: {run.dir.resolve()}")
    if result is not None:
        terms = ", ".join(f"{k} {v:.3g}" for k, v in result.last_terms.items())
        print(f"trained steps {result.resumed_from}..{result.steps} in {result.seconds:.0f} s "
              f"({result.images_per_second:.0f} images/s); last: {terms}")
    figures = sorted((run.dir / "figures").glob("*.png"))
    for figure in figures:
        print(f"figure: {figure.resolve()}")


def cmd_demo(args: argparse.Namespace) -> None:
    from untwine.config import apply_overrides, read_yaml
    from untwine.experiment import validate_experiment
    from untwine.run import train

    with resources.as_file(resources.files("untwine.configs") / DEMO_CONFIG) as path:
        values = apply_overrides(read_yaml(path), [f"output={args.output}", *args.set])
        config = validate_experiment(values, origin=f"demo config ({path})")
    print(f"untwine demo: {config.model.name} on rendered shapes, {config.train.steps} steps")
    run, result = train(config)
    _print_run(run, result)
    print("\ndisentanglement of the codes against the rendered factors:")
    _evaluate(run, "disentanglement", {"metrics": ["mig", "sap", "modularity"], "n": 5000}, seed=0,
              split="all")


def cmd_init(args: argparse.Namespace) -> None:
    from untwine.starter import describe, init_folder

    starter = init_folder(args.folder, args.csv, args.out, output=args.output, image_column=args.image_column,
                          label_column=args.label_column, group_column=args.group_column,
                          time_column=args.time_column, force=args.force, progress=True)
    print(describe(starter))


def cmd_train(args: argparse.Namespace) -> None:
    from untwine.experiment import load_config, resume_config
    from untwine.run import train

    run_dir = None
    if args.resume:
        # a run is its directory: it trains where it is now, whatever output/name its config holds
        run_dir = Path(args.resume)
        config = resume_config(run_dir, args.set)
    elif args.config:
        config = load_config(args.config, args.set)
    else:
        raise ValueError("give a CONFIG.yaml to train, or --resume RUN_DIR")
    run, result = train(config, resume=True, run_dir=run_dir)
    _print_run(run, result)


def cmd_run(args: argparse.Namespace) -> None:
    from untwine.experiment import run_all

    runs = run_all(args.path, args.set)
    print(f"\n{len(runs)} run(s):")
    for run in runs:
        print(f"  {run.dir}")
    scored = [run.dir for run in runs if (run.dir / "eval.json").exists()]
    if scored:
        from untwine.table import collect, summarize

        print("\n" + summarize(collect(scored)).format())


def cmd_traverse(args: argparse.Namespace) -> None:
    from untwine.explain.traverse import save_traversal_figure
    from untwine.run import load_run

    run = load_run(args.run)
    train_set, _ = run.splits()
    out = Path(args.out) if args.out else run.dir / "figures" / f"traversal_{args.image}.png"
    save_traversal_figure(run.model, train_set, out, image=args.image)
    print(f"figure: {out.resolve()}")


def _evaluate(run, protocol: str, options: dict, seed: int, split: str) -> None:
    import time

    from pydantic import ValidationError

    from untwine.core.options import one_line
    from untwine.protocols import EVAL_FILE, evaluate_run, format_scores

    began = time.time()
    try:
        result = evaluate_run(run, protocol, split, seed, options)
    except ValidationError as err:  # the options given with --set, --metrics or --n
        raise ValueError(f"protocol {protocol!r}: {one_line(err)}") from err
    print(format_scores(result.scores))
    print(f"scores: {(run.dir / EVAL_FILE).resolve()}")
    for figure in sorted((run.dir / "figures").glob("*.png")):
        if figure.stat().st_mtime >= began - 1:  # the figures this protocol drew
            print(f"figure: {figure.resolve()}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from untwine.core.options import parse_assignments
    from untwine.run import load_run

    options = parse_assignments(args.set, "--set", "n=5000")
    if args.metrics is not None:
        options["metrics"] = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if args.n is not None:
        options["n"] = args.n
    from untwine.metrics._threads import limited_threads

    with limited_threads(args.threads):
        _evaluate(load_run(args.run), args.protocol, options, args.seed, args.split)


def cmd_table(args: argparse.Namespace) -> None:
    from untwine.table import collect, summarize

    split = lambda text: [c.strip() for c in text.split(",") if c.strip()] if text else None  # noqa: E731
    table = summarize(collect(args.paths), split(args.columns), split(args.rows))
    text = table.format(args.format)
    if args.out:
        from untwine.core.io import atomic_write_text

        atomic_write_text(Path(args.out), text + "\n")
        print(f"table: {Path(args.out).resolve()}")
    print(text)


def cmd_sweep(args: argparse.Namespace) -> None:
    from untwine.sweep import run_sweep
    from untwine.table import collect, summarize

    folder = run_sweep(args.sweep, args.set, backend=args.backend)
    print(f"\nsummary: {(folder / 'summary.csv').resolve()} (and summary.parquet)")
    print(summarize(collect([folder])).format())


def cmd_rank(args: argparse.Namespace) -> None:
    from untwine.selection import format_agreements, format_ranking, rank, write_outputs

    against = [c.strip() for c in args.against.split(",") if c.strip()] if args.against else []
    ranking = rank(args.paths, n=args.n, correlation=args.correlation, filter_low_kl=not args.no_kl_filter,
                   kl_threshold=args.kl_threshold, seed=args.seed, against=against)
    for group in ranking.skipped:
        print(f"skip {group}: a single run, no other seed to compare with")
    print(format_ranking(ranking, against))
    if ranking.agreements:
        print("\nSpearman rank correlation of UDR with the supervised scores:")
        print(format_agreements(ranking.agreements))
    folder = Path(args.out) if args.out else Path(args.paths[0])
    for path in write_outputs(ranking, folder, against if ranking.agreements else []):
        print(f"wrote {path}")


def cmd_figures(args: argparse.Namespace) -> None:
    from untwine.report.grouped_figures import grouped_figures

    out = Path(args.out) if args.out else Path(args.paths[0]) / "figures"
    for path in grouped_figures(args.paths, out):
        print(f"figure: {path.resolve()}")


def cmd_variance(args: argparse.Namespace) -> None:
    """Dataset measures of a data source, a config's data, or a run's data (and its decoder's)."""
    import json

    from untwine.config import read_yaml, validate_config
    from untwine.core.io import atomic_write_text
    from untwine.core.options import parse_assignments
    from untwine.protocols import variance as report
    from untwine.run import CONFIG_FILE, build_dataset, load_run

    target = Path(args.target)
    run = load_run(target) if (target / CONFIG_FILE).is_file() else None
    if args.set and (run is not None or target.suffix in (".yaml", ".yml")):
        raise ValueError(f"--set/--option sets a source's options; {args.target} is a run or a config "
                         "whose data section already holds them")
    if run is not None:
        dataset, stem = run.dataset(), run.dir / "variance"
    else:
        if target.suffix in (".yaml", ".yml"):
            values = read_yaml(target)
            data = values.get("data", values) if isinstance(values, dict) else values
        else:
            data = {"source": args.target, "options": parse_assignments(args.set, "--set", "size=32")}
        # a run config around the data section, so that source and options are checked as in a run
        config = validate_config({"name": "variance", "data": data, "model": {"name": "vae"}},
                                 origin=str(args.target))
        dataset = build_dataset(config.data)
        stem = Path(args.out) if args.out else Path(f"variance-{target.stem or config.data.source}")
    print(f"{dataset.name or args.target}: variance each factor induces, changing it alone")
    data_result = report.dataset_variance(dataset, bases=args.bases, seed=args.seed)
    print(report.format_factor_variance(data_result))
    payload = {"dataset": report.factor_variance_json(data_result),
               "parameters": {"bases": args.bases, "seed": args.seed}}
    decoder_result = None
    if run is not None:
        decoder_result = report.model_variance(run.model, dataset, points=args.points, seed=args.seed,
                                               rank_tolerance=args.rank_tolerance)
        print(f"\ndecoder of {run.dir}: local principal directions at {args.points} encoded points")
        print(report.format_decoder_variance(decoder_result))
        payload["decoder"] = report.decoder_variance_json(decoder_result)
        payload["parameters"] |= {"points": args.points, "rank_tolerance": args.rank_tolerance}
    figure = stem.parent / "figures" / "variance.png" if run is not None else stem.with_suffix(".png")
    report.variance_figure(figure, data_result, decoder_result, title=dataset.name)
    atomic_write_text(stem.with_suffix(".json"), json.dumps(payload, indent=2))
    print(f"measures: {stem.with_suffix('.json').resolve()}")
    print(f"figure: {figure.resolve()}")


def cmd_explain(args: argparse.Namespace) -> None:
    from untwine.explain.session import explain
    from untwine.run import load_run

    numbers = explain(load_run(args.run), args.images, source=args.source, target=args.target,
                      out=Path(args.out) if args.out else None, max_steps=args.max_steps)
    records = numbers["rationales"]
    for record in records[:20]:
        print(f"{record['image']}: {record['summary']}")
    if len(records) > 20:
        print(f"... {len(records) - 20} more in rationales.json")
    counts = numbers["counts"]
    print(f"{len(records)} images: {counts['reached']} reached, {counts['already']} already there before any "
          f"step, {counts['max_steps']} not reached within {args.max_steps} steps; "
          f"median steps {numbers['steps_median']:g}")
    print(f"numbers: {Path(numbers['arrays']).resolve().with_suffix('.json')}")
    print(f"arrays: {Path(numbers['arrays']).resolve()}")
    for figure in numbers["figures"]:
        print(f"figure: {Path(figure).resolve()}")


def cmd_report(args: argparse.Namespace) -> None:
    from untwine.report import write_report

    path = write_report(args.runs, args.out)
    print(f"report: {path.resolve()}")


def cmd_serve(args: argparse.Namespace) -> None:
    from untwine.app import serve

    serve(args.runs, host=args.host, port=args.port)


def cmd_registries(args: argparse.Namespace) -> None:
    """Every registry as a markdown table (name, what it needs, what it is): the docs' table."""
    from untwine.data import SOURCES
    from untwine.metrics import METRICS
    from untwine.models import MODELS
    from untwine.nn import ARCHITECTURES
    from untwine.protocols import PROTOCOLS

    for title, registry in (("models (model.name)", MODELS), ("architectures (model.architecture)",
                            ARCHITECTURES), ("data sources (data.source)", SOURCES),
                            ("metrics (--metrics, options.metrics)", METRICS),
                            ("evaluation protocols (--protocol, evaluate.protocol)", PROTOCOLS)):
        print(f"### {title}\n\n{registry.table()}\n")


def _needs(registry) -> str:
    """Names with what each needs: ``adagvae (needs pairs)``."""
    def one(name: str) -> str:
        needs = sorted(registry.entry(name).needs)
        return f"{name} (needs {', '.join(needs)})" if needs else name

    return ", ".join(one(name) for name in registry)


def build_parser() -> argparse.ArgumentParser:
    from untwine.core.version import __version__
    from untwine.data import SOURCES
    from untwine.metrics import DEFAULT_METRICS, METRICS
    from untwine.models import MODELS
    from untwine.nn import ARCHITECTURES
    from untwine.protocols import PROTOCOLS

    parser = argparse.ArgumentParser(
        prog="untwine", description="Learn disentangled representations of images and explain models.")
    parser.add_argument("--version", action="version", version=f"untwine {__version__}")
    raw = argparse.RawDescriptionHelpFormatter
    config_names = "\n".join([
        "what a config may name (untwine's registries):",
        f"  model.name          {_needs(MODELS)}",
        f"  model.architecture  {ARCHITECTURES.help_text()}",
        f"  data.source         {SOURCES.help_text()}",
        f"  evaluate.protocol   {_needs(PROTOCOLS)}",
        f"  options.metrics     {METRICS.help_text()}",
    ])
    sub = parser.add_subparsers(dest="command", required=True)
    overrides = dict(action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. --set model.beta=6 (repeatable)")

    demo = sub.add_parser("demo", help="train a small beta-TCVAE on rendered shapes (a few minutes)")
    demo.add_argument("--output", default="runs", help="folder for the run directory (default: runs)")
    demo.add_argument("--set", **overrides)
    demo.set_defaults(func=cmd_demo)

    init = sub.add_parser("init", help="inspect a folder of images (and its CSV) and write a starter config")
    init.add_argument("folder", help="folder of PNG/JPG/BMP/TIFF images (searched recursively)")
    init.add_argument("--csv", help="CSV listing the images, with labels, subjects, times (default: list "
                      "the folder, labels from class subfolders)")
    init.add_argument("--out", help="config to write (default: ./FOLDERNAME.yaml)")
    init.add_argument("--output", default="runs", help="the config's output folder for runs (default: runs)")
    for role in ("image", "label", "group", "time"):
        several = "; several one-hot columns: A,B,C" if role == "label" else ""
        init.add_argument(f"--{role}-column", help=f"the CSV's {role} column (default: guessed, and the "
                          f"guess explained){several}")
    init.add_argument("--force", action="store_true", help="replace the config if it exists")
    init.set_defaults(func=cmd_init)

    train = sub.add_parser("train", help="train one run from a YAML config, or resume one",
                           epilog=config_names, formatter_class=raw)
    train.add_argument("config", nargs="?", help="CONFIG.yaml")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its checkpoint")
    train.add_argument("--set", **overrides)
    train.set_defaults(func=cmd_train)

    run = sub.add_parser("run", help="train one config or every config in a folder, skipping finished runs",
                         epilog=config_names, formatter_class=raw)
    run.add_argument("path", help="a YAML config or a folder of them")
    run.add_argument("--set", **overrides)
    run.set_defaults(func=cmd_run)

    traverse = sub.add_parser("traverse", help="write the latent traversal grid of an image")
    traverse.add_argument("run", help="run directory")
    traverse.add_argument("--image", type=int, default=0, help="index into the run's training set")
    traverse.add_argument("--out", help="PNG path (default: RUN/figures/traversal_N.png)")
    traverse.set_defaults(func=cmd_traverse)
    evaluate = sub.add_parser("evaluate", help="score a run with a protocol (default: MIG, DCI, SAP, ...)")
    evaluate.add_argument("run", help="run directory")
    evaluate.add_argument("--protocol", default="disentanglement", choices=PROTOCOLS.names(),
                          metavar="PROTOCOL", help="an evaluation protocol, one of "
                          f"{PROTOCOLS.help_text()} (default: disentanglement)")
    evaluate.add_argument("--set", "--option", action="append", default=[], metavar="KEY=VALUE",
                          dest="set", help="a protocol option, e.g. --set n=5000 (repeatable)")
    evaluate.add_argument("--metrics", help="disentanglement: comma-separated, of "
                          f"{METRICS.help_text(',')} (default: {','.join(DEFAULT_METRICS)})")
    evaluate.add_argument("--n", type=int, help="disentanglement: training points (test: n // 2)")
    evaluate.add_argument("--threads", type=int, help="BLAS/OpenMP threads for the metrics (default: "
                          "the process's, i.e. the machine's cores unless OMP_NUM_THREADS says otherwise)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--split", choices=("all", "train", "test"), default="all",
                          help="which images to encode (default: the whole dataset, as "
                               "disentanglement_lib does)")
    evaluate.set_defaults(func=cmd_evaluate)

    table = sub.add_parser("table", help="the scores of many runs, mean ± std over seeds")
    table.add_argument("paths", nargs="+", help="run directories or folders holding them")
    table.add_argument("--columns", help="comma-separated score names, in order (default: all)")
    table.add_argument("--rows", help="comma-separated run names (without /seedS), in order")
    table.add_argument("--format", choices=("text", "markdown", "csv"), default="text")
    table.add_argument("--out", help="also write the table to this file")
    table.set_defaults(func=cmd_table)

    sweep = sub.add_parser("sweep", help="many runs over a grid or list of config values; resumable")
    sweep.add_argument("sweep", help="SWEEP.yaml")
    sweep.add_argument("--backend", choices=("local", "ray"), help="override the file's backend")
    sweep.add_argument("--set", **overrides)
    sweep.set_defaults(func=cmd_sweep)

    ranking = sub.add_parser("rank", help="rank the runs of a sweep without labels (UDR among seeds)")
    ranking.add_argument("paths", nargs="+", help="a sweep's folder, or run directories")
    ranking.add_argument("--correlation", choices=("spearman", "lasso"), default="spearman")
    ranking.add_argument("--n", type=int, default=1000, help="images encoded per run (default 1000)")
    ranking.add_argument("--seed", type=int, default=0, help="which images")
    ranking.add_argument("--kl-threshold", type=float, default=0.01,
                         help="dimensions with mean KL at or below it are inactive")
    ranking.add_argument("--no-kl-filter", action="store_true", help="keep inactive dimensions")
    ranking.add_argument("--against", help="comma-separated supervised scores to correlate UDR with, "
                         "e.g. mig,dci.disentanglement")
    ranking.add_argument("--out", help="folder for udr_ranking.csv and the correlation table and "
                         "figure (default: the first path)")
    ranking.set_defaults(func=cmd_rank)

    figures = sub.add_parser("figures", help="a paper's figures from many runs' eval.json")
    figures.add_argument("paper", choices=("grouped",), help="grouped: paper 002's Figures 1 and 2")
    figures.add_argument("paths", nargs="+", help="run directories or folders holding them")
    figures.add_argument("--out", help="folder for the PNGs (default: FIRST_PATH/figures)")
    figures.set_defaults(func=cmd_figures)

    variance = sub.add_parser("variance", help="how much variance each factor induces, how consistently; "
                                               "for a run also the decoder's local principal directions")
    variance.add_argument("target", help="a run directory, a YAML config (its data section) or a source "
                          f"name: {SOURCES.help_text()}")
    variance.add_argument("--set", "--option", action="append", default=[], metavar="KEY=VALUE",
                          dest="set", help="an option of the source named by TARGET, e.g. --set size=32")
    variance.add_argument("--bases", type=int, default=200, help="base points per factor (default 200)")
    variance.add_argument("--points", type=int, default=200, help="latent points for a run's decoder")
    variance.add_argument("--rank-tolerance", type=float, default=0.1,
                          help="directions whose mean singular value is below this fraction of the "
                               "largest are left out (default 0.1)")
    variance.add_argument("--seed", type=int, default=0)
    variance.add_argument("--out", help="file stem for a dataset's .json and .png (default variance-NAME)")
    variance.set_defaults(func=cmd_variance)

    explain = sub.add_parser("explain", help="why this class rather than another: rationale + baselines")
    explain.add_argument("run", help="run directory of a model with an encoder (VAE, wgan_inversion)")
    explain.add_argument("--images", "--image", required=True,
                         help="test-split index (7), range (0:200), file of indices (.txt) or a picture")
    explain.add_argument("--class", dest="source", type=int,
                         help="class to explain, moved away from; takes the test images of that label "
                              "(default: each image's predicted class)")
    explain.add_argument("--target", type=int,
                         help="class to move towards (default: the most probable other)")
    explain.add_argument("--max-steps", type=int, default=1000, help="optimizer steps at most (default 1000)")
    explain.add_argument("--out", help="folder for rationales.npz/.json and figures (default: RUN/explain)")
    explain.set_defaults(func=cmd_explain)

    report = sub.add_parser("report", help="one self-contained HTML page of one or more runs")
    report.add_argument("runs", nargs="+", help="run directories (their scores side by side)")
    report.add_argument("--out", help="HTML path (default: RUN/report.html, or ./report.html for several)")
    report.set_defaults(func=cmd_report)

    registries = sub.add_parser("registries", help="every model, architecture, source, metric and "
                                "protocol untwine knows, with what each needs (markdown tables)")
    registries.set_defaults(func=cmd_registries)

    serve = sub.add_parser("serve", help="the interactive latent explorer in the browser")
    serve.add_argument("runs", nargs="+", help="run directories (the first two can be shown side by side)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1: this machine only)")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from untwine.sweep import RunFailedError
    from untwine.train.fit import NonFiniteLossError

    try:
        args.func(args)
    except NonFiniteLossError as err:
        print(f"untwine: training stopped: {err}", file=sys.stderr)
        return 3
    except RunFailedError as err:
        print(f"untwine: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, IndexError) as err:
        # ConfigError and DataError are ValueErrors whose messages name the file, key or value
        print(f"untwine: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nuntwine: interrupted; the last checkpoint is kept: resume with the same command",
              file=sys.stderr)
        return 130
    return 0


def console() -> None:
    """The ``untwine`` command: this process is the command's own, so it gets the allocator setting
    that makes CPU training faster (train/fast.py); ``main()`` called from Python leaves it alone."""
    from untwine.train.fast import keep_freed_memory

    keep_freed_memory()
    sys.exit(main())


if __name__ == "__main__":
    console()
