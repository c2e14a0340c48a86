"""`python -m bench <command> [key=value ...] [--flags]`.

    run       sample a model and score it (default: the offline toy benchmark)
    regress   the toy quality regression check (CI), or --update its baseline
    sweep     a grid of runs over sampler settings (steps, temperature, guidance, any key)
    list      what is registered: models (cards), families, samplers, metrics, datasets, feature nets
    report    write reports/leaderboard.md (+ CSV) from the records in results/
    train     train a project-made artefact (`train feature-net`, `train model=toy-maskgit`)
    convert   convert a card's official checkpoint to safetensors
    perf      speed benchmarks against peer implementations (`perf sampler`)
    download  fetch a card's files into the cache, resumably, with sha256 checks

User errors print one paragraph and exit with status 2; nothing is written for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import UserFacingError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars or chatter")
    parser.add_argument("--results-dir", default=None, help="results root (default: $MGM_RESULTS_DIR or ./results)")


def build_parser() -> argparse.ArgumentParser:
    from bench.config import describe

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="command")
    run = commands.add_parser(
        "run", help="sample and score one configuration", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="overrides (key=value):\n" + describe() + "\n  sampler.<field>              any field of the model's sampler config",
    )
    run.add_argument("overrides", nargs="*", help="key=value, e.g. model=toy-real num_samples=2000 seed=0")
    run.add_argument("--force", action="store_true", help="recompute even if a record for this config exists")
    _common(run)
    sweep = commands.add_parser(
        "sweep", help="run a grid of settings, each point a normal run (resumable)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="axes: sweep.<key>=[v1,v2] for any run key, sweep.steps / sweep.temperature / sweep.guidance\n"
               "(the sampler's short names), or sweep.preset=NAME; other key=value pairs are fixed",
    )
    sweep.add_argument("overrides", nargs="*", help="e.g. model=toy-maskgit sweep.steps=[4,8,12] sweep.guidance=[0,1,3]")
    _common(sweep)
    regress = commands.add_parser("regress", help="quality regression check of the toy points against the baseline")
    regress.add_argument("--update", action="store_true", help="remeasure and rewrite the committed quality and speed baselines")
    _common(regress)
    listing = commands.add_parser("list", help="list registered models, samplers, metrics, datasets")
    _common(listing)
    report = commands.add_parser("report", help="write markdown leaderboards from results/")
    report.add_argument("--out", default="reports", help="output folder (default: reports)")
    _common(report)
    train = commands.add_parser("train", help="train a project-made artefact")
    train.add_argument("target", nargs="?", help="feature-net, or give model=NAME to run a card's recipe")
    train.add_argument("overrides", nargs="*", help="key=value training options (e.g. model=toy-vqgan optim.steps=500)")
    train.add_argument("--out", default=None, help="where to write the weights (default: the card's path)")
    _common(train)
    convert = commands.add_parser("convert", help="convert a card's official checkpoint files to safetensors")
    convert.add_argument("name", help="card name from checkpoints.yaml (model or tokenizer)")
    convert.add_argument("--force", action="store_true", help="convert again even if a converted copy exists")
    _common(convert)
    perf = commands.add_parser("perf", help="speed benchmarks against peer implementations, as ratios")
    perf.add_argument("target", help="what to time: sampler")
    perf.add_argument("overrides", nargs="*", help="key=value, e.g. width=256 depth=4 tokens=256 steps=8")
    perf.add_argument("--json", default=None, help="also write the result as JSON here")
    _common(perf)
    download = commands.add_parser("download", help="download a card's files into the cache")
    download.add_argument("name", help="card name from checkpoints.yaml")
    _common(download)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]  # `python -m bench` alone runs the default benchmark
    args = build_parser().parse_args(argv)
    if args.command is None:
        args = build_parser().parse_args(["run"])
    try:
        return COMMANDS[args.command](args)
    except UserFacingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # a training run says where its snapshot is; sampling keeps shards
        print(f"interrupted: {stop}" if str(stop) else
              "interrupted: finished shards are kept; rerun the same command to continue", file=sys.stderr)
        return 130


def cmd_run(args) -> int:
    from bench.checkpoints import get_card
    from bench.config import parse_overrides
    from bench.run import execute, format_table, resolve
    from bench.store import results_root

    run = resolve(parse_overrides(args.overrides))
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    record = execute(run, results_root(args.results_dir), force=args.force, progress=not args.quiet, log=log)
    print(format_table(record, get_card(record["card"])))
    return 0


def cmd_sweep(args) -> int:
    from bench.config import parse_overrides
    from bench.store import results_root
    from bench.sweep import format_sweep, run_sweep

    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    done = run_sweep(parse_overrides(args.overrides), results_root(args.results_dir), progress=not args.quiet, log=log)
    print(format_sweep(done))
    return 0


def cmd_regress(args) -> int:
    import json

    from bench.regression import BASELINE_PATH, load_baseline, make_baseline, run_checks
    from bench.store import results_root

    results = results_root(args.results_dir)
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    if args.update:
        from bench.perf import regression as speed

        baseline = make_baseline(results, progress=not args.quiet, log=log)
        BASELINE_PATH.write_text(json.dumps(baseline, indent=2, sort_keys=True) + "\n")
        print(f"wrote {BASELINE_PATH}")
        speed.BASELINE_PATH.write_text(json.dumps(speed.make_baseline(log=log), indent=2, sort_keys=True) + "\n")
        print(f"wrote {speed.BASELINE_PATH}")
        return 0
    verdicts = run_checks(results, load_baseline(), progress=not args.quiet, log=log)
    for verdict in verdicts:
        print(verdict.describe())
    return 0 if all(v.passed for v in verdicts) else 1


def cmd_list(args) -> int:
    from bench.checkpoints import load_all_cards
    from bench.registry import DATASETS, FEATURE_NETS, METRICS, MODELS, SAMPLERS, TOKENIZERS, load_all
    from reimpl.convert import CONVERTERS

    load_all()
    sections = load_all_cards()
    nets = sections["feature_nets"]
    for title, section in (("models", "models"), ("tokenizers", "tokenizers")):
        print(f"{title} (checkpoints.yaml cards):")
        for name, card in sorted(sections[section].items()):
            print(f"  {name:<28} family={card.family:<15} status={card.status}")
    for title, registry in (
        ("model families", MODELS), ("tokenizer families", TOKENIZERS), ("samplers", SAMPLERS),
        ("metrics", METRICS), ("datasets", DATASETS), ("feature nets", FEATURE_NETS), ("converters", CONVERTERS),
    ):
        print(f"{title}: {', '.join(registry.names()) or '(none yet)'}")
    print(f"feature-net cards: {', '.join(sorted(nets))}")
    unreleased = sections["unreleased"]
    if unreleased:
        print(f"published only, weights never released: {', '.join(sorted(unreleased))}")
    return 0


def cmd_report(args) -> int:
    from bench.report import write_reports
    from bench.store import results_root

    written, problems = write_reports(results_root(args.results_dir), Path(args.out))
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_train(args) -> int:
    from bench.config import parse_overrides
    from bench.train import TRAIN_TARGETS, train_card_command

    tokens = ([args.target] if args.target else []) + args.overrides
    target = tokens.pop(0) if tokens and "=" not in tokens[0] else None
    overrides = parse_overrides(tokens)
    if target is None and "model" in overrides:
        return train_card_command(overrides, args.out, not args.quiet)
    if target not in TRAIN_TARGETS:
        from reimpl.errors import UnknownNameError

        raise UnknownNameError(
            f"unknown training target {target!r}", hint=f"choose one of: {', '.join(TRAIN_TARGETS)}, or model=<card>"
        )
    return TRAIN_TARGETS[target](overrides, args.out, not args.quiet)


def _any_card(name: str):
    from bench.checkpoints import load_all_cards
    from reimpl.errors import UnknownNameError
    from reimpl.registry import did_you_mean

    sections = load_all_cards()
    cards = {**sections["models"], **sections["tokenizers"], **sections["feature_nets"]}
    if name not in cards:
        raise UnknownNameError(f"unknown card {name!r}{did_you_mean(name, sorted(cards))}",
                               hint=f"choose one of: {', '.join(sorted(cards))}")
    return cards[name]


def cmd_convert(args) -> int:
    from bench.convert import convert_file

    card = _any_card(args.name)
    specs = [spec for spec in card.files if spec.converter]
    if not specs:
        print(f"{card.name} has no files in an official format to convert")
    for spec in specs:
        print(f"{spec.role}: {convert_file(card.name, spec, card.architecture, force=args.force)}")
    return 0


def cmd_perf(args) -> int:
    import json

    from bench.config import apply_overrides, parse_overrides
    from bench.perf.families import SamplerSuiteConfig, format_suite, run_suite

    if args.target != "sampler":
        from reimpl.errors import UnknownNameError

        raise UnknownNameError(f"unknown perf target {args.target!r}", hint="choose one of: sampler")
    config = apply_overrides(SamplerSuiteConfig(), parse_overrides(args.overrides), scope="perf sampler")
    result = run_suite(config, log=lambda message: print(message, file=sys.stderr))
    print(format_suite(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def cmd_download(args) -> int:
    from bench.checkpoints import download

    card = _any_card(args.name)
    if not card.files:
        print(f"{card.name} has no files to download (status: {card.status})")
    for spec in card.files:
        print(f"{spec.role}: {download(card.name, spec, progress=not args.quiet)}")
    return 0


COMMANDS = {
    "run": cmd_run, "sweep": cmd_sweep, "regress": cmd_regress, "list": cmd_list, "report": cmd_report, "train": cmd_train, "convert": cmd_convert,
    "perf": cmd_perf, "download": cmd_download,
}
