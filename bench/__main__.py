"""Run every benchmark module and write ``bench/results.json`` and ``bench/results.md``.

Each module ``bench/<name>.py`` exposes ``run() -> list[dict]`` with the keys ``name``,
``ours_s``, ``peer``, ``peer_s`` and ``ratio`` (ours_s / peer_s): ours and the peer are
timed in the same process, on the same machine, in the same run.

    python -m bench [module ...]
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
    lines = [f"# Benchmarks\n\n{header}\n", "| benchmark | ours (s) | peer | peer (s) | ours / peer |", "| --- | ---: | --- | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['name']} | {row['ours_s']:.3f} | {row['peer']} | {row['peer_s']:.3f} | {row['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    names = argv or [name for name in MODULES if (HERE / f"{name}.py").is_file()]
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
        rows += results
        print(f"[{name}: {time.perf_counter() - started:.0f} s]")
    header = f"Machine: {machine()}. Run on {time.strftime('%Y-%m-%d')}."
    (HERE / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    (HERE / "results.md").write_text(to_markdown(rows, header))
    print(f"wrote {HERE / 'results.json'} and {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
