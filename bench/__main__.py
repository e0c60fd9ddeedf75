"""`python -m bench [--smoke] [--only NAME] [--database sqlite|postgresql]`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from importlib import import_module

from bench.databases import POSTGRES_URL, fresh, postgres_reachable
from bench.registry import BENCHMARKS, Sizes

# Every benchmark module registers itself on import; a new benchmark adds its module here.
MODULES = (
    "bench.answer_path",
    "bench.many_people",
    "bench.fanout",
    "bench.unit_report",
    "bench.crowd",
    "bench.startup",
    "bench.crowd_slack",
)


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a few seconds in total (CI)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="scale the full sizes, e.g. 0.1 (printed in each line)"
    )
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    # A stopped run (kill, CI timeout) still drops its throw-away schema on the way out.
    signal.signal(signal.SIGTERM, _stop)
    logging.basicConfig(level=logging.WARNING)
    for module in MODULES:
        import_module(module)
    unknown = set(args.only or ()) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}")

    databases = args.database or ["sqlite", "postgresql"]
    if "postgresql" in databases:
        problem = postgres_reachable()
        if problem is not None:
            print(f"postgresql: not reachable at {POSTGRES_URL} ({problem}); running on sqlite only")
            databases = [d for d in databases if d != "postgresql"]

    sizes = Sizes(smoke=args.smoke, scale=args.scale)
    failures = 0
    started = time.perf_counter()
    for benchmark in BENCHMARKS.values():
        if args.only and benchmark.name not in args.only:
            continue
        for kind in databases:
            if kind not in benchmark.databases:
                continue
            try:
                with fresh(kind) as database:
                    outcome = benchmark.run(database, sizes)
            except Exception as exc:
                failures += 1
                print(f"{benchmark.name} {kind}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                continue
            print(outcome.line(benchmark.name, kind), flush=True)
    mode = "smoke run, " if sizes.smoke else (f"scale {sizes.scale}, " if sizes.scale != 1.0 else "")
    print(f"({mode}{time.perf_counter() - started:.1f} s in total)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
