"""``make gpu-check``: the reference code of sheets 3 and 4 on a CUDA GPU.

Checks, on VGG-16 at 224×224 with random weights (no download; the arithmetic does not
depend on the weight values), in float32 with TF32 off:

* sheet 3: Gradient×Input and LRP by the gradient trick on the GPU against the same code
  on the CPU, and LRP against Zennit's composite on the GPU;
* sheet 4: Integrated Gradients (50 steps) on the GPU against the CPU and against Captum
  on the GPU.

It also measures what TF32 (PyTorch's default for convolutions on NVIDIA GPUs since
Ampere) does to the two comparisons with the peers, and times the methods on the GPU at
batch 1 and 16 (rows whose names start with "GPU:"); those rows replace the GPU rows of
``bench/results.json`` and ``bench/results.md`` and leave the CPU rows alone.

Without a CUDA GPU it says so and exits with status 0.  Exit status 1 when a check fails.
``--device cpu --size 64 --no-timings`` runs the same comparisons on the CPU against
itself, a quick test of the script on a machine without a GPU.

    python -m bench.gpu_check [--repeats 10]
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

HERE = Path(__file__).resolve().parent
SIZE = 224
STEPS = 50
#: Largest relative L2 differences accepted (float32 without TF32).
TOLERANCE = {"gpu vs cpu": 1e-4, "lrp vs zennit": 1e-5, "ig vs captum": 1e-5}


def relative(a, b) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm())


def tf32(enabled: bool):
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def _synchronise():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def synchronised_seconds(function, repeats: int) -> float:
    """Median wall time of ``function`` on the GPU (after one untimed call)."""
    function()
    _synchronise()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        _synchronise()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def vgg16_case(batch: int, where, size: int = SIZE):
    from utils import vgg

    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval().requires_grad_(False).to(where)
    pixels = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    X = vgg.IMAGENET_NORMALISATION(pixels).to(where)
    L, H = vgg.IMAGENET_NORMALISATION.bounds(X)
    return model, X, L, H, vgg.CASTLE


def methods(model, X, L, H, c):
    """The functions timed and compared: name → () → relevance."""
    from captum.attr import IntegratedGradients
    from zennit.attribution import Gradient

    from autograder.sheets.sheet3_vgg import reference as lrp_ref
    from autograder.sheets.sheet4_influence import reference as ig_ref

    lrpmodel = lrp_ref.build_lrp_model(model)
    zmodel, composite = lrp_ref.zennit_setup(model, L, H, stabilizer=1e-12)
    captum = IntegratedGradients(model)
    baseline = torch.zeros_like(X[0])

    def zennit():
        with Gradient(model=zmodel, composite=composite) as attributor:
            return attributor(X, lrp_ref.logit_of(c))[1]

    return {
        "gradient_x_input": lambda: lrp_ref.gradient_x_input(model, X, c),
        "lrp": lambda: lrp_ref.lrp(lrpmodel, X, c, L, H),
        "zennit": zennit,
        "ig": lambda: ig_ref.integrated_gradients(lambda B: model(B)[:, c], X[0], baseline, STEPS, 10),
        "captum": lambda: captum.attribute(X[:1], baselines=baseline[None], target=c, n_steps=STEPS,
                                           method="riemann_right", internal_batch_size=10)[0],
    }


def check(log, gpu=torch.device("cuda"), size: int = SIZE) -> tuple[list[str], dict]:
    """The comparisons; returns the failures and the measured differences."""
    cpu = torch.device("cpu")
    tf32(False)
    on_gpu = {name: fn() for name, fn in methods(*vgg16_case(1, gpu, size)).items()}
    on_cpu = methods(*vgg16_case(1, cpu, size))
    differences = {
        "gradient_x_input gpu vs cpu": relative(on_gpu["gradient_x_input"], on_cpu["gradient_x_input"]()),
        "lrp gpu vs cpu": relative(on_gpu["lrp"], on_cpu["lrp"]()),
        "ig gpu vs cpu": relative(on_gpu["ig"], on_cpu["ig"]()),
        "lrp vs zennit (gpu)": relative(on_gpu["lrp"], on_gpu["zennit"]),
        "ig vs captum (gpu)": relative(on_gpu["ig"], on_gpu["captum"]),
    }
    limits = {"gradient_x_input gpu vs cpu": TOLERANCE["gpu vs cpu"], "lrp gpu vs cpu": TOLERANCE["gpu vs cpu"],
              "ig gpu vs cpu": TOLERANCE["gpu vs cpu"], "lrp vs zennit (gpu)": TOLERANCE["lrp vs zennit"],
              "ig vs captum (gpu)": TOLERANCE["ig vs captum"]}
    failures = []
    for name, value in differences.items():
        ok = value <= limits[name]
        log(f"{'ok  ' if ok else 'FAIL'} {name}: relative L2 difference {value:.2e} (allowed {limits[name]:.0e})")
        if not ok:
            failures.append(name)
    tf32(True)  # what the sheets turn off, measured
    with_tf32 = {name: fn() for name, fn in methods(*vgg16_case(1, gpu, size)).items()}
    tf32(False)
    for ours, peer in (("lrp", "zennit"), ("ig", "captum")):
        value = relative(with_tf32[ours], with_tf32[peer])
        differences[f"{ours} vs {peer} (gpu, TF32 on)"] = value
        log(f"info {ours} vs {peer} with TF32 on: relative L2 difference {value:.2e}")
    return failures, differences


def timings(repeats: int, log) -> list[dict]:
    """GPU rows: LRP vs Zennit, LRP vs Gradient×Input, IG vs Captum, Gradient×Input vs the CPU."""
    tf32(False)
    name_of_gpu = torch.cuda.get_device_name(0)
    rows = []
    for batch in (1, 16):
        functions = methods(*vgg16_case(batch, torch.device("cuda")))
        seconds = {name: synchronised_seconds(fn, repeats) for name, fn in functions.items()}
        cpu_gradient = methods(*vgg16_case(batch, torch.device("cpu")))["gradient_x_input"]
        seconds["gradient_x_input_cpu"] = synchronised_seconds(cpu_gradient, 1 if batch > 1 else 2)
        where = f"VGG-16 {SIZE}×{SIZE}, batch {batch}, {name_of_gpu}, float32 without TF32"
        pairs = (
            (f"GPU: LRP ({where})", "lrp", "zennit", f"Zennit {_version('zennit')} composite, same GPU"),
            (f"GPU: LRP ({where})", "lrp", "gradient_x_input", "plain Gradient×Input, same GPU"),
            (f"GPU: IG {STEPS} steps, first image ({where})", "ig", "captum",
             f"captum {_version('captum')} IntegratedGradients(riemann_right), same GPU"),
            (f"GPU: Gradient×Input ({where})", "gradient_x_input", "gradient_x_input_cpu",
             f"the same code on the CPU ({torch.get_num_threads()} threads)"),
        )
        for name, ours, peer, peer_name in pairs:
            rows.append({"name": name, "ours_s": seconds[ours], "peer": peer_name, "peer_s": seconds[peer],
                         "ratio": seconds[ours] / seconds[peer], "batch": batch})
            log(f"{name}: ours {seconds[ours]:.4f} s, {peer_name} {seconds[peer]:.4f} s, "
                f"ratio {seconds[ours] / seconds[peer]:.2f}")
    return rows


def _version(package: str) -> str:
    return __import__(package).__version__


def merge(rows: list[dict], differences: dict) -> None:
    """Replace the GPU rows of bench/results.json (and .md); keep every other row."""
    from bench.__main__ import machine, to_markdown

    path = HERE / "results.json"
    old = json.loads(path.read_text()) if path.is_file() else []
    kept = [row for row in old if row.get("module") != "gpu_check" and not str(row.get("name", "")).startswith("GPU:")]
    stamp = f"{time.strftime('%Y-%m-%d %H:%M')}, {torch.cuda.get_device_name(0)}"
    for row in rows:
        row.update(differences=differences, module="gpu_check", measured=stamp)
    merged = kept + rows
    path.write_text(json.dumps(merged, indent=2) + "\n")
    header = (f"Machine: {machine()}; GPU rows on {torch.cuda.get_device_name(0)} "
              f"(CUDA {torch.version.cuda}). Run on {time.strftime('%Y-%m-%d')}.")
    (HERE / "results.md").write_text(to_markdown(merged, header))
    print(f"wrote {path} and {HERE / 'results.md'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds per method (median)")
    parser.add_argument("--no-timings", action="store_true", help="only the comparisons")
    parser.add_argument("--device", default="cuda", help="cpu: a quick test of the script without a GPU")
    parser.add_argument("--size", type=int, default=SIZE, help="image side for the comparisons")
    args = parser.parse_args(argv)
    where = torch.device(args.device)
    if where.type == "cuda" and not torch.cuda.is_available():
        print("gpu-check: PyTorch sees no CUDA GPU on this machine; nothing to check.")
        return 0
    name = torch.cuda.get_device_name(where) if where.type == "cuda" else str(where)
    print(f"gpu-check on {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    failures, differences = check(print, where, args.size)
    if not args.no_timings and where.type == "cuda":
        merge(timings(args.repeats, print), differences)
    if failures:
        print(f"gpu-check FAILED: {', '.join(failures)}")
        return 1
    print("gpu-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
