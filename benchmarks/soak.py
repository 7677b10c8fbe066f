"""Soak: drivers and coordinators killed at random moments, then every commit accounted for.

1. **Driver SIGKILLs**: for each adapter (fixed, adaptive, uniform, ehvi), an in-process
   search (the driver is the coordinator) is started, SIGKILLed at a random moment, resumed
   and killed again, ``--kills`` times per adapter, then resumed to the end.
2. **Coordinator kills**: Ray searches on 2 workers whose coordinator actor is killed
   (``ray.kill(no_restart=False)``: Ray restarts it and re-sends the offer in flight) at
   random moments, ``--coordinator-kills`` times in all, across adapters.

After every kill the committed rows (read from the segments with pyarrow, not through
paretoray) must still be there, and at the end ``verify`` must pass with no (shard, round)
committed twice. Prints a table; not a test (it takes minutes). Run:
``python benchmarks/soak.py`` (``--kills 5 --coordinator-kills 10`` by default).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from paretoray.archive import verify  # noqa: E402
from paretoray.archive.reader import segment_paths  # noqa: E402

ADAPTERS = ("fixed", "adaptive", "uniform", "ehvi")


def committed(run_dir: str) -> tuple[set[int], collections.Counter]:
    """Point ids and (shard, round) segment counts of the committed rows."""
    ids: set[int] = set()
    keys: collections.Counter = collections.Counter()
    for path in segment_paths(run_dir):
        try:
            table = pa.ipc.open_file(pa.memory_map(path)).read_all()
        except (OSError, pa.ArrowInvalid):
            continue
        ids |= set(table["point_id"].to_pylist())
        for key in set(zip(table["shard"].to_pylist(), table["round"].to_pylist(), strict=True)):
            keys[key] += 1
    return ids, keys


def _driver(run_dir: str, adapter: str, first: bool) -> subprocess.Popen:
    call = (f"pr.search('zdt1', 'epo', population=16, steps=10**6, steps_per_round=10, "
            f"workers=0, adapter={adapter!r}, run_dir={run_dir!r}, progress=False)"
            if first else f"pr.resume({run_dir!r}, steps=10**6, progress=False)")
    code = f"import warnings; warnings.simplefilter('ignore'); import paretoray as pr; {call}"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def driver_kills(kills: int, rng: random.Random) -> list[dict]:
    rows = []
    for adapter in ADAPTERS:
        with tempfile.TemporaryDirectory() as d:
            run_dir = os.path.join(d, "run")
            lost = 0
            for i in range(kills):
                proc = _driver(run_dir, adapter, first=i == 0)
                time.sleep(rng.uniform(4.0, 9.0))  # start-up is ~3 s: kill mid-run
                before, _ = committed(run_dir) if os.path.exists(run_dir) else (set(), None)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                after, _ = committed(run_dir) if os.path.exists(run_dir) else (set(), None)
                lost += len(before - after)
            import paretoray as pr

            final_before, _ = committed(run_dir)
            pr.resume(run_dir, steps=20, progress=False)
            ids, keys = committed(run_dir)
            report = verify(run_dir)
            rows.append({"what": f"driver SIGKILL x{kills}", "adapter": adapter,
                         "rounds": len(keys), "rows": len(ids),
                         "lost": lost + len(final_before - ids),
                         "twice": sum(c > 1 for c in keys.values()), "verify": report.ok})
            print(rows[-1], flush=True)
    return rows


def coordinator_kills(total: int, rng: random.Random) -> list[dict]:
    import ray

    import paretoray as pr

    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    rows = []
    per_run = max(1, total // 2)
    for adapter in ("adaptive", "ehvi"):
        with tempfile.TemporaryDirectory() as d:
            run_dir = os.path.join(d, "run")
            box: dict = {}

            def run(run_dir=run_dir, adapter=adapter, box=box) -> None:
                try:
                    pr.search("zdt1", "epo", population=8, steps=600, steps_per_round=10,
                              workers=2, adapter=adapter, run_dir=run_dir, progress=False,
                              ray={"coordinator_restarts": 2 * per_run})
                except BaseException as exc:
                    box["error"] = exc

            thread = threading.Thread(target=run)
            thread.start()
            done = 0
            lost = 0
            while done < per_run and thread.is_alive():
                time.sleep(rng.uniform(2.0, 5.0))
                names = [a for a in ray.util.list_named_actors(all_namespaces=True)
                         if a["name"].startswith("paretoray-coordinator-")]
                if not names:
                    continue
                before, _ = committed(run_dir)
                actor = ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])
                ray.kill(actor, no_restart=False)
                done += 1
                time.sleep(1.0)
                after, _ = committed(run_dir)
                lost += len(before - after)
            thread.join()
            if not os.path.exists(os.path.join(run_dir, "run.json")):
                raise RuntimeError(f"the run directory is gone: {box.get('error')!r}")
            ids, keys = committed(run_dir)
            rows.append({"what": f"coordinator kill x{done}", "adapter": adapter,
                         "rounds": len(keys), "rows": len(ids), "lost": lost,
                         "twice": sum(c > 1 for c in keys.values()),
                         "verify": verify(run_dir).ok,
                         "search": repr(box.get("error", "completed"))[:60]})
            print(rows[-1], flush=True)
    ray.shutdown()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=5, help="driver kills per adapter")
    ap.add_argument("--coordinator-kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["driver", "coordinator"])
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    if args.only in (None, "driver"):
        rows += driver_kills(args.kills, rng)
    if args.only in (None, "coordinator"):
        rows += coordinator_kills(args.coordinator_kills, rng)
    lines = ["| kills | adapter | (shard, round) committed | rows | rows lost | rounds twice "
             "| verify |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['adapter']} | {r['rounds']} | {r['rows']} | {r['lost']} | "
              f"{r['twice']} | {'OK' if r['verify'] else 'FAILED'} |" for r in rows]
    text = "# Soak\n\n" + "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "soak.md"), "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
