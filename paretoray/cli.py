"""The ``paretoray`` command: run, resume, show, list, verify, submit, jobs, demo.

Errors a user can cause print one clear message (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from paretoray.errors import ParetorayError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="paretoray",
        description="Pareto sets by batched gradient-based multi-objective optimization on Ray.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a search from a YAML config")
    run.add_argument("config", help="SearchConfig YAML file")
    run.add_argument("--address", help="Ray cluster address (default: embedded local Ray)")
    run.add_argument("--run-dir", help="override the config's run_dir")
    run.add_argument("--workers", type=int, help="override the config's workers")

    res = sub.add_parser("resume", help="continue a run to refine its front")
    res.add_argument("run_dir")
    res.add_argument("--steps", type=int, default=200, help="more steps per member")
    res.add_argument("--workers", type=int)
    res.add_argument("--address")

    show = sub.add_parser("show", help="print a run's front, hypervolume, and plot it")
    show.add_argument("run_dir")
    show.add_argument("--png", help="also plot the front to this file (nothing is written "
                                    "without it)")
    show.add_argument("--rows", type=int, default=10, help="rows of the table to print")

    sub.add_parser("list", help="list problems, algorithms and preference adapters")

    ver = sub.add_parser("verify", help="check a run directory's segments, rounds and front")
    ver.add_argument("run_dir")
    ver.add_argument("--readmit", action="store_true",
                     help="append the quarantined segments that fit the run (takes the lock)")

    exp = sub.add_parser("export", help="write a run's front or all points as flat Parquet/CSV")
    exp.add_argument("run_dir")
    exp.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    which = exp.add_mutually_exclusive_group()
    which.add_argument("--front", dest="which", action="store_const", const="front",
                       help="the nondominated set (default)")
    which.add_argument("--all", dest="which", action="store_const", const="all",
                       help="every committed point")
    exp.add_argument("-o", "--output", required=True, help="the file to write")

    subm = sub.add_parser("submit", help="submit `paretoray run CONFIG` through the Ray Jobs API")
    subm.add_argument("config")
    subm.add_argument("--address", required=True, help="the head's dashboard, http://HEAD:8265")
    subm.add_argument("--wait", action="store_true", help="stream the job's logs until it ends")
    subm.add_argument("--runtime-env", default="py_modules",
                      choices=["py_modules", "working_dir", "pip"],
                      help="how paretoray gets onto the cluster (default: py_modules)")
    subm.add_argument("--run-dir", help="the run directory on the head (absolute path)")

    jobs = sub.add_parser("jobs", help="status, logs or stop of a submitted job")
    jobs.add_argument("action", choices=["status", "logs", "stop"])
    jobs.add_argument("job_id")
    jobs.add_argument("--address", required=True, help="the head's dashboard, http://HEAD:8265")

    demo = sub.add_parser("demo", help="a real search on embedded Ray (what `make run` does)")
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--run-dir")

    dash = sub.add_parser("dashboard", help="a live, read-only web page of one or more runs")
    dash.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    dash.add_argument("--port", type=int, default=8050, help="TCP port (0: any free port)")
    dash.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")

    rep = sub.add_parser("report", help="one self-contained HTML file of one or more runs")
    rep.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    rep.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``paretoray`` command."""
    args = _parser().parse_args(argv)
    previous = _sigterm_interrupts()
    try:
        return _COMMANDS[args.command](args)
    except ParetorayError as err:
        print(f"paretoray {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        # Ctrl-C or SIGTERM: every committed round is in the archive; say how to go on
        print(f"paretoray {args.command}: {err or 'interrupted'}", file=sys.stderr)
        return 130
    finally:
        _restore_sigterm(previous)


def _sigterm_interrupts():
    """SIGTERM stops a search the way Ctrl-C does (cleanly, exit status 130)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _restore_sigterm(previous) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _check_config_file(path: str) -> None:
    """Refuse a config argument that is not a readable UTF-8 text file, naming it."""
    from paretoray.errors import ConfigError

    if os.path.isdir(path):
        raise ConfigError(f"{path} is a directory; pass the SearchConfig YAML file inside it "
                          "(e.g. search.yaml).")
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; pass the path of a SearchConfig YAML "
                          "file.") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror}).") from None
    try:
        head.decode("utf-8")
        binary = b"\x00" in head
    except UnicodeDecodeError as exc:
        binary = exc.start < len(head) - 3  # not just a character cut at the 64 KiB mark
    if binary:
        raise ConfigError(f"{path} is not a YAML text file (it holds binary data); pass a "
                          "SearchConfig YAML file.")


def _cmd_run(args: argparse.Namespace) -> int:
    import paretoray as pr

    _check_config_file(args.config)
    cfg = pr.SearchConfig.from_yaml(args.config)
    over = {k: v for k, v in {"address": args.address, "run_dir": args.run_dir,
                              "workers": args.workers}.items() if v is not None}
    cfg = cfg.replace(**over) if over else cfg
    front = pr.search(config=cfg)
    _summarize(front, cfg.run_dir)
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    import paretoray as pr

    front = pr.resume(args.run_dir, steps=args.steps, workers=args.workers,
                      address=args.address)
    _summarize(front, args.run_dir)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    import paretoray as pr
    from paretoray.errors import ConfigError

    if args.rows < 0:
        raise ConfigError(f"--rows must be >= 0 (the number of table rows to print); got "
                          f"{args.rows}.")
    if args.png is not None:
        folder = os.path.dirname(os.path.abspath(args.png))
        if not os.path.isdir(folder):
            raise ConfigError(f"--png {args.png}: the directory {folder} does not exist; "
                              "create it or choose another path.")
    front = pr.open(args.run_dir)
    names = front.objective_names
    cols = ["point_id", "round", "shard", "algorithm", *names, *front.metrics]
    df = front.to_pandas(flatten=True)[cols].sort_values(names[0], kind="stable")
    print(f"objectives: {', '.join(names)}; the {min(args.rows, len(df))} of {len(df)} points "
          f"with the smallest {names[0]}:")
    if args.rows and len(df):
        print(df.head(args.rows).to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    _summarize(front, args.run_dir, png=args.png, plot=args.png is not None)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from paretoray import algorithms, problems
    from paretoray.preferences import adapters

    for title, names in (("problems", problems.names()), ("adapters", adapters.names())):
        print(f"{title}: {', '.join(names)}")
    print("algorithms:")
    width = max(map(len, algorithms.names()), default=0)
    for name in algorithms.names():
        cls = algorithms.REGISTRY.factory(name)
        category, description = getattr(cls, "category", ""), getattr(cls, "description", "")
        print(f"  {name:<{width}}  {category or '-':<15}  {description}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from paretoray.archive import Store, verify

    if args.readmit:
        with Store.open(args.run_dir, readmit=True) as store:
            added = store.readmitted
        print(f"re-admitted {len(added)} segment(s): {', '.join(added)}" if added else
              "nothing to re-admit from archive/quarantine/")
    report = verify(args.run_dir)
    print(report)
    return 0 if report.ok else 1


def _cmd_submit(args: argparse.Namespace) -> int:
    from paretoray.distributed.jobs import submit

    job_id = submit(args.config, address=args.address, wait=args.wait,
                    runtime_env=args.runtime_env, run_dir=args.run_dir)
    print(f"submitted job {job_id}")
    if not args.wait:
        print(f"follow it: paretoray jobs logs {job_id} --address {args.address}")
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from paretoray.distributed.jobs import jobs_command

    return jobs_command(args.action, args.job_id, address=args.address)


def _cmd_demo(args: argparse.Namespace) -> int:
    """A real search: ZDT1 (d = 30), EPO, 2 Ray workers, adaptive preferences."""
    import paretoray as pr
    from paretoray import indicators, problems

    run_dir = args.run_dir or os.path.join("runs", f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    print(f"paretoray demo: ZDT1 (d=30), EPO, {args.workers} workers, adaptive preferences "
          f"-> {run_dir}")
    t0 = time.perf_counter()
    front = pr.search("zdt1", "epo", population=32, steps=400, workers=args.workers,
                      adapter="adaptive", run_dir=run_dir, steps_per_round=50, lr=0.02,
                      seed=0)
    wall = time.perf_counter() - t0
    problem = problems.get("zdt1")
    ref = np.full(2, 1.1)
    true_hv = indicators.hypervolume(problem.pareto_front(2000).numpy(), ref)
    _summarize(front, run_dir, ref=ref)
    print(f"hypervolume of 2000 true-front points: {true_hv:.4f} "
          f"(ratio {front.hypervolume(ref) / true_hv:.4f}); wall time {wall:.1f} s")
    print(f"read it back: paretoray show {run_dir}   refine it: paretoray resume {run_dir}")
    print(f"see it: paretoray dashboard {run_dir}   share it: paretoray report {run_dir}")
    return 0


def _summarize(front, run_dir: str, *, png: str | None = None, ref=None,
               plot: bool = True) -> None:
    hv = front.hypervolume(ref) if len(front) else float("nan")
    print(f"front: {len(front)} nondominated points, hypervolume {hv:.6f}")
    path = png or os.path.join(run_dir, "front.png")
    if len(front) and plot:
        try:
            front.plot(path)
        except OSError as exc:
            from paretoray.errors import ConfigError

            raise ConfigError(f"cannot write the plot {path}: {exc.strerror or exc}; choose "
                              "a writable path with --png.") from None
        print(f"plot: {path}")


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from paretoray.viz.server import serve

    serve(args.run_dirs, host=args.host, port=args.port)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from paretoray.archive.export import export

    path = export(args.run_dir, args.output, format=args.format, which=args.which or "front")
    print(f"wrote {path} ({args.format}, {args.which or 'front'})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from paretoray.viz.report import write_report

    path = write_report(args.run_dirs, args.output)
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB, opens offline)")
    return 0


_COMMANDS = {"run": _cmd_run, "resume": _cmd_resume, "show": _cmd_show, "list": _cmd_list,
             "verify": _cmd_verify, "submit": _cmd_submit, "demo": _cmd_demo,
             "jobs": _cmd_jobs, "dashboard": _cmd_dashboard, "report": _cmd_report,
             "export": _cmd_export}


if __name__ == "__main__":
    raise SystemExit(main())
