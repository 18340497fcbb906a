"""Run every benchmark module and write ``bench/results.json`` and ``bench/results.md``.

Each module ``bench/<name>.py`` exposes ``run() -> list[dict]`` with the keys ``name``,
``ours_s``, ``peer``, ``peer_s`` and ``ratio`` (ours_s / peer_s): ours and the peer are
timed in the same process, on the same machine, in the same run.  Every row is stamped
with its module, the machine and the time of the run.

    python -m bench [module ...]

Run with module names, it replaces only those modules' rows in the result files and
keeps the others (each with its own stamp); run without, it measures everything anew.
"""
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = ("sheet2_cifar", "sheet3_vgg", "sheet4_influence", "grading")
GPU_MODULE = "gpu_check"  # its rows come from ``make gpu-check`` on a machine with a GPU, and stay


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, torch {torch.__version__} on the CPU"


def to_markdown(rows, header) -> str:
    lines = [f"# Benchmarks\n\n{header}\n", "| benchmark | ours (s) | peer | peer (s) | ours / peer | run |",
             "| --- | ---: | --- | ---: | ---: | --- |"]
    for row in rows:
        lines.append(f"| {row['name']} | {row['ours_s']:.3f} | {row['peer']} | {row['peer_s']:.3f} | {row['ratio']:.2f} "
                     f"| {row.get('measured', '').split(',')[0]} |")
    return "\n".join(lines) + "\n"


def main(argv):
    names = argv or [name for name in MODULES if (HERE / f"{name}.py").is_file()]
    stamp = f"{time.strftime('%Y-%m-%d %H:%M')}, {machine()}"
    rows = []
    for name in names:
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        results = module.run()
        for row in results:
            missing = {"name", "ours_s", "peer", "peer_s", "ratio"} - set(row)
            if missing:
                raise KeyError(f"bench/{name}.py returned a row without {sorted(missing)}")
            print(f"{row['name']}: ours {row['ours_s']:.3f} s, {row['peer']} {row['peer_s']:.3f} s, ratio {row['ratio']:.2f}")
            row.update(module=name, measured=stamp)
        rows += results
        print(f"[{name}: {time.perf_counter() - started:.0f} s]")
    if (HERE / "results.json").is_file():  # the GPU rows (make gpu-check), and a partial run's other modules
        kept = [row for row in json.loads((HERE / "results.json").read_text())
                if row.get("module") == GPU_MODULE or (argv and row.get("module") in set(MODULES) - set(names))]
        order = [*MODULES, GPU_MODULE]
        rows = sorted(kept + rows, key=lambda row: order.index(row["module"]))
    header = (f"Machine of this run: {machine()}. Run on {time.strftime('%Y-%m-%d')}"
              + (f" (modules {', '.join(names)}; other rows keep the stamp of their own run)." if argv else "."))
    (HERE / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    (HERE / "results.md").write_text(to_markdown(rows, header))
    print(f"wrote {HERE / 'results.json'} and {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
