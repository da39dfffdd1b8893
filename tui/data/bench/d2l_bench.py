"""d2l-tui's benchmark, run on the instance in the book's environment (issue 16).

Stdlib plus the framework: ``--backend torch`` (a GPU instance: matmul TFLOPS per precision, device
memory and host-to-device bandwidth per GPU, and the book's multi-GPU ResNet-18 on Fashion-MNIST on
1, 2, ..., N GPUs) or ``--backend numpy`` (the CPU: matmul and memory copy only; what it skips, it
says). It prints progress lines as it goes (the app shows them) and ends with one line
``D2L-BENCH-RESULT {json}`` that the app parses into a BenchRecord (tui/bench_record.py).

Exit status: 0 done, 2 bad arguments, 3 the environment isn't set up (run the setup first), 4 no GPU
visible, 5 cancelled (SIGTERM, SIGHUP or SIGINT: the work stops, CUDA memory is freed, the process
exits, so nothing is left on the GPU), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time

RESULT_PREFIX = "D2L-BENCH-RESULT "
EXIT_FAILED, EXIT_USAGE, EXIT_NO_SETUP, EXIT_NO_GPU, EXIT_CANCELLED = 1, 2, 3, 4, 5
EPOCH_IMAGES = 60_000  # Fashion-MNIST's training set, one epoch of the book's training loop
# Seconds a cancelled run may spend freeing the GPU before the alarm's default action kills it.
CANCEL_GRACE_S = 10


class Cancelled(Exception):
    pass


class Refused(Exception):
    """A reason the benchmark can't run here; ``status`` is the exit status that says which."""

    def __init__(self, sentence: str, status: int) -> None:
        super().__init__(sentence)
        self.status = status


def say(line: str) -> None:
    print(f"bench: {line}", flush=True)


def _on_signal(signum: int, _frame: object) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second signal must not interrupt the cleanup
    signal.alarm(CANCEL_GRACE_S)
    raise Cancelled(signal.Signals(signum).name)


# --- numpy: the CPU -------------------------------------------------------------------------------


def _best_seconds(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_bench(quick: bool) -> dict:
    try:
        import numpy as np
    except ImportError as exc:
        raise Refused(f"numpy is not installed here ({exc}): run the setup first.", EXIT_NO_SETUP) from exc
    n = 256 if quick else 2048
    repeats = 2 if quick else 5
    matmul = []
    for precision, dtype in (("fp32", np.float32), ("fp64", np.float64)):
        a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
        b = np.random.default_rng(1).standard_normal((n, n)).astype(dtype)
        np.matmul(a, b)  # warm-up (thread pool, caches)
        seconds = _best_seconds(lambda a=a, b=b: np.matmul(a, b), repeats)
        tflops = 2 * n**3 / seconds / 1e12
        say(f"matmul {precision} {n}x{n} on the CPU: {tflops:.3f} TFLOPS")
        matmul.append({"precision": precision, "tflops": tflops, "peak_tflops": None})
    size = (8 if quick else 512) * 2**20
    src = np.ones(size, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    seconds = _best_seconds(lambda: np.copyto(dst, src), repeats)
    memory_gbs = 2 * size / seconds / 1e9  # bytes read plus bytes written
    say(f"memory copy {size >> 20} MiB: {memory_gbs:.1f} GB/s (read + written)")
    return {
        "gpu_name": "",
        "gpu_count": 0,
        "backend": "numpy",
        "data": "",
        "devices": [
            {
                "index": 0,
                "name": cpu_name(),
                "matmul": matmul,
                "memory_gbs": memory_gbs,
                "host_to_device_gbs": None,
            }
        ],
        "scaling": [],
        "driver": "",
        "cuda": "",
        "framework": "numpy",
        "framework_version": np.__version__,
        "notes": [
            "numpy backend: the CPU's matmul and memory copy only; no GPU figures, host-to-device copy "
            "or ResNet-18 training (those need the torch backend on a GPU).",
        ],
    }


# --- torch: the GPUs ------------------------------------------------------------------------------


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise Refused(
            f"PyTorch is not installed in this environment ({exc}): run the setup first (d2l-tui provision).",
            EXIT_NO_SETUP,
        ) from exc
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        raise Refused(
            "no GPU visible: PyTorch sees no CUDA device (check `nvidia-smi`; after a driver install the "
            "instance needs a reboot).",
            EXIT_NO_GPU,
        )
    return torch


def _cuda_seconds(torch, device: int, run, steps: int) -> float:
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        run()
    torch.cuda.synchronize(device)
    return time.perf_counter() - start


def matmul_figures(torch, device: int, quick: bool) -> list[dict]:
    n = 1024 if quick else 8192
    steps = 3 if quick else 20
    major, _ = torch.cuda.get_device_capability(device)
    runs = [("fp32", torch.float32, False), ("fp16", torch.float16, False)]
    if major >= 8:  # TF32 and bf16 arrived with Ampere
        runs[1:1] = [("tf32", torch.float32, True)]
        runs.append(("bf16", torch.bfloat16, False))
    figures = []
    for precision, dtype, tf32 in runs:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        _cuda_seconds(torch, device, lambda a=a, b=b: a @ b, 2)  # warm-up: kernels chosen, clocks up
        seconds = _cuda_seconds(torch, device, lambda a=a, b=b: a @ b, steps)
        tflops = 2 * n**3 * steps / seconds / 1e12
        say(f"GPU {device}: matmul {precision} {n}x{n}: {tflops:.1f} TFLOPS")
        figures.append({"precision": precision, "tflops": tflops, "peak_tflops": None})
        del a, b
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.cuda.empty_cache()
    return figures


def bandwidth_figures(torch, device: int, quick: bool) -> tuple[float, float]:
    size = (64 if quick else 2048) * 2**20
    steps = 3 if quick else 20
    src = torch.empty(size, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    _cuda_seconds(torch, device, lambda d=dst, s=src: d.copy_(s), 2)
    memory = 2 * size * steps / _cuda_seconds(torch, device, lambda d=dst, s=src: d.copy_(s), steps) / 1e9
    say(f"GPU {device}: device memory copy {size >> 20} MiB: {memory:.0f} GB/s (read + written)")
    del src, dst
    host_size = (32 if quick else 512) * 2**20
    host = torch.empty(host_size, dtype=torch.uint8).pin_memory()
    target = torch.empty(host_size, dtype=torch.uint8, device=device)
    _cuda_seconds(torch, device, lambda t=target, h=host: t.copy_(h, non_blocking=True), 2)
    h2d = (
        host_size
        * steps
        / _cuda_seconds(torch, device, lambda t=target, h=host: t.copy_(h, non_blocking=True), steps)
        / 1e9
    )
    say(f"GPU {device}: host-to-device copy {host_size >> 20} MiB from pinned memory: {h2d:.1f} GB/s")
    del host, target
    torch.cuda.empty_cache()
    return memory, h2d


def book_resnet18(torch, num_classes: int = 10, in_channels: int = 1):
    """The book's "slightly modified ResNet-18" (chapter "Concise Implementation for Multiple GPUs"):
    a 3x3 first convolution, no max-pooling, four stages of two residual blocks. d2l's Residual is
    written out with explicit input channels (d2l 1.0's uses lazy layers, which DataParallel can't
    replicate before a first forward pass); the layers and shapes are the book's."""
    from torch import nn
    from torch.nn import functional as F

    class Residual(nn.Module):
        def __init__(self, in_ch: int, out_ch: int, use_1x1conv: bool = False, strides: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, stride=strides)
            self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1)
            self.conv3 = nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=strides) if use_1x1conv else None
            self.bn1 = nn.BatchNorm2d(out_ch)
            self.bn2 = nn.BatchNorm2d(out_ch)

        def forward(self, X):
            Y = F.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3 is not None:
                X = self.conv3(X)
            return F.relu(Y + X)

    def resnet_block(in_ch: int, out_ch: int, num_residuals: int, first_block: bool = False):
        blk = []
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.append(Residual(in_ch, out_ch, use_1x1conv=True, strides=2))
            else:
                blk.append(Residual(out_ch, out_ch))
        return nn.Sequential(*blk)

    net = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(64), nn.ReLU()
    )
    net.add_module("resnet_block1", resnet_block(64, 64, 2, first_block=True))
    net.add_module("resnet_block2", resnet_block(64, 128, 2))
    net.add_module("resnet_block3", resnet_block(128, 256, 2))
    net.add_module("resnet_block4", resnet_block(256, 512, 2))
    net.add_module("global_avg_pool", nn.AdaptiveAvgPool2d((1, 1)))
    net.add_module("fc", nn.Sequential(nn.Flatten(), nn.Linear(512, num_classes)))
    return net


def fashion_mnist(torch, quick: bool, most_gpus: int):
    """(dataset, "fashion-mnist" | "generated"): the book's data where torchvision can download it
    (to the book's ../data folder), else tensors of the same shape and classes."""
    if not quick:
        try:
            import torchvision
            from torchvision import transforms

            root = os.path.join(os.path.expanduser("~"), "data")
            data = torchvision.datasets.FashionMNIST(
                root=root, train=True, transform=transforms.ToTensor(), download=True
            )
            say(f"data: Fashion-MNIST ({len(data)} training images) in {root}")
            return data, "fashion-mnist"
        except Exception as exc:  # no network, no torchvision: the same shapes, generated
            say(
                f"data: Fashion-MNIST could not be loaded ({type(exc).__name__}: {exc}); using generated images"
            )
    else:
        say("data: generated images of Fashion-MNIST's shape (--quick downloads nothing)")
    # At least one whole batch on the most GPUs trained (256 images each): a loader with drop_last and
    # fewer images than a batch would yield nothing.
    count = 256 * max(8, most_gpus) if quick else max(EPOCH_IMAGES, 256 * most_gpus)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(count, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (count,), generator=generator)
    return torch.utils.data.TensorDataset(images, labels), "generated"


def train_images_per_s(torch, dataset, gpus: int, quick: bool) -> float:
    """The book's train(): SGD at lr 0.1 per 256 images, batch 256 per GPU, nn.DataParallel over the
    first ``gpus`` GPUs, normal(0, 0.01) weights; images/s over timed steps after a warm-up."""
    from torch import nn

    batch = 256 * gpus
    warmup, timed = (2, 4) if quick else (10, 40)
    workers = 0 if isinstance(dataset, torch.utils.data.TensorDataset) else 4  # d2l's loader uses 4
    loader = torch.utils.data.DataLoader(dataset, batch, shuffle=True, num_workers=workers, drop_last=True)
    devices = [torch.device(f"cuda:{i}") for i in range(gpus)]
    net = book_resnet18(torch)

    def init_weights(module) -> None:
        if type(module) in [nn.Linear, nn.Conv2d]:
            nn.init.normal_(module.weight, std=0.01)

    net.apply(init_weights)
    net = nn.DataParallel(net.to(devices[0]), device_ids=devices)
    trainer = torch.optim.SGD(net.parameters(), lr=0.1 * gpus)
    loss = nn.CrossEntropyLoss()
    net.train()
    done, start = 0, 0.0
    while done < warmup + timed:
        for X, y in loader:
            if done == warmup:
                for d in devices:
                    torch.cuda.synchronize(d)
                start = time.perf_counter()
            trainer.zero_grad()
            X, y = X.to(devices[0]), y.to(devices[0])
            loss(net(X), y).backward()
            trainer.step()
            done += 1
            if done >= warmup + timed:
                break
    for d in devices:
        torch.cuda.synchronize(d)
    seconds = time.perf_counter() - start
    del net, trainer
    torch.cuda.empty_cache()
    return timed * batch / seconds


def gpu_counts(total: int, quick: bool) -> list[int]:
    """1, 2, ..., N GPUs; --quick measures 1 and all of them only."""
    return sorted({1, total}) if quick else list(range(1, total + 1))


def nvidia_driver() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def torch_bench(quick: bool) -> dict:
    torch = _import_torch()
    count = torch.cuda.device_count()
    names = [torch.cuda.get_device_name(i) for i in range(count)]
    say(f"{count} GPU(s): {', '.join(names)}; PyTorch {torch.__version__}, CUDA {torch.version.cuda}")
    devices = []
    for i in range(count):
        matmul = matmul_figures(torch, i, quick)
        memory, h2d = bandwidth_figures(torch, i, quick)
        devices.append(
            {"index": i, "name": names[i], "matmul": matmul, "memory_gbs": memory, "host_to_device_gbs": h2d}
        )
    dataset, data = fashion_mnist(torch, quick, count)
    scaling = []
    counts = gpu_counts(count, quick)
    notes = []
    if quick and count > 2:
        notes.append(f"--quick trained on 1 and {count} GPUs only (the full run measures 1 to {count}).")
    for gpus in counts:
        say(f"training the book's ResNet-18 on {gpus} GPU(s), batch {256 * gpus}…")
        rate = train_images_per_s(torch, dataset, gpus, quick)
        say(f"{gpus} GPU(s): {rate:.0f} images/s, one epoch {EPOCH_IMAGES / rate:.1f} s")
        scaling.append({"gpus": gpus, "images_per_s": rate})
    if data == "generated":
        notes.append("Trained on generated images of Fashion-MNIST's shape, not the downloaded data set.")
    return {
        "gpu_name": names[0],
        "gpu_count": count,
        "backend": "torch",
        "data": data,
        "devices": devices,
        "scaling": scaling,
        "driver": nvidia_driver(),
        "cuda": torch.version.cuda or "",
        "framework": "pytorch",
        "framework_version": torch.__version__.split("+")[0],
        "notes": notes,
    }


# --- --replay: the --demo's simulated instance ----------------------------------------------------


def replay(path: str, delay_s: float) -> dict:
    """A prepared record told again with progress lines, labelled simulated: the demo's machine has
    no GPU, and its figures must never pass for a measurement."""
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    say("SIMULATED: this demo instance has no GPU; replaying a prepared record, nothing is measured")
    for device in record.get("devices", []):
        for m in device.get("matmul", []):
            time.sleep(delay_s)
            say(f"GPU {device['index']}: matmul {m['precision']}: {m['tflops']:.1f} TFLOPS (simulated)")
    for point in record.get("scaling", []):
        time.sleep(delay_s)
        say(f"{point['gpus']} GPU(s): {point['images_per_s']:.0f} images/s (simulated)")
    record["source"] = "simulated"
    record["notes"] = [
        *record.get("notes", []),
        "Simulated (--demo): a prepared record replayed, not measured.",
    ]
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("torch", "numpy"), default="torch")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps")
    parser.add_argument("--run-id", default="", help="the app's id for this run, echoed in the result")
    parser.add_argument("--replay", metavar="RECORD.json", help="tell a published record again (--demo)")
    parser.add_argument("--replay-delay", type=float, default=0.5)
    parser.add_argument("--pgid-file", help="write this process's group id here (for a cancel)")
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _on_signal)
    if args.pgid_file:
        with open(args.pgid_file, "w", encoding="utf-8") as f:
            f.write(f"{os.getpgrp()}\n")
    started = time.time()
    try:
        if args.replay:
            result = replay(args.replay, args.replay_delay)
        else:
            say(
                f"backend {args.backend}{' (quick)' if args.quick else ''}; Python {platform.python_version()}"
            )
            result = numpy_bench(args.quick) if args.backend == "numpy" else torch_bench(args.quick)
            result["source"] = "measured"
    except Refused as exc:
        print(f"d2l-bench: {exc}", flush=True)
        return exc.status
    except Cancelled as exc:
        exc.__traceback__ = None  # its frames hold the tensors: let them go before the cache is emptied
        _free_gpu()
        print(
            f"d2l-bench: cancelled ({exc}); the GPU memory is freed and nothing is left running.", flush=True
        )
        return EXIT_CANCELLED
    result.update(run_id=args.run_id, quick=args.quick, seconds=round(time.time() - started, 1))
    say(f"done in {time.time() - started:.0f} s")
    print(RESULT_PREFIX + json.dumps(result, separators=(",", ":")), flush=True)
    return 0


def _free_gpu() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
