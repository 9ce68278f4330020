#!/usr/bin/env python3
"""PyTorch's side of the GPU run kit (scripts/gpu/check.sh): the work `coca bench` does, on the
same device in the same run, so every coca figure has its ratio.

  torch_bench.py --json OUT.json [--device cuda|cpu] [--matmul 4096] [--attention 1x8x1024x64,...]
                 [--step tiny,small,b32] [--batch 32] [--compile]

- matmul: fp32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False, as coca's fp32), and
  f16 (cuBLAS, f16 inputs) at n x n x n; TFLOP/s = 2n^3 / time.
- attention: softmax(Q K^T / sqrt(D)) V in fp32 through F.scaled_dot_product_attention (the
  plain composition on torch < 2.0), forward
  and forward+backward, at B x H x L x D; GFLOP/s counted as coca counts them
  (kernels/attention.ref.ts: 4BHL^2D forward, 14BHL^2D forward+backward).
- step: one CoCa training step (zero_grad, forward, both losses, backward, AdamW, clamp) of each
  preset at --batch in eager mode, from scripts/reference/coca_torch.py (the same model coca's
  parity tests check against); with --compile, the model's forward through torch.compile too.
Each case is timed as the median of several runs after warm-ups, with the device synchronised
around each. A case that fails is recorded with its error and the rest still run; the JSON is
rewritten after every case so a stage killed by its timeout leaves what it had.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, runs, warmup):
    for _ in range(warmup):
        fn()
    sync(device)
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync(device)
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def bench_matmul(n, device, dtype, runs):
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    ms = timed(lambda: torch.matmul(a, b, out=c), device, runs, 3)
    # The same product in float64 on a few entries: a fast wrong answer is no figure.
    ref = a[:4].double() @ b.double()
    err = (c[:4].double() - ref).abs().max().item()
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "ms": ms, "tflops": 2 * n ** 3 / ms / 1e9, "max_abs_err_rows0_3": err}


def bench_attention(B, H, L, D, device, backward, runs):
    q, k, v = (torch.randn(B, H, L, D, device=device, requires_grad=backward) for _ in range(3))
    g = torch.randn(B, H, L, D, device=device)

    # Torch < 2.0 (Debian's 1.13) has no fused attention: the plain composition there.
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    attend = sdpa or (lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) * D ** -0.5, dim=-1) @ v)

    def step():
        o = attend(q, k, v)
        if backward:
            o.backward(g)
            q.grad = k.grad = v.grad = None

    ms = timed(step, device, runs, 3)
    flops = (14 if backward else 4) * B * H * L * L * D
    return {"shape": f"{B}x{H}x{L}x{D}", "pass": "fwd+bwd" if backward else "fwd", "ms": ms, "gflops": flops / ms / 1e6,
            "impl": "scaled_dot_product_attention" if sdpa else "softmax(QK^T)V"}


def bench_step(preset, batch, device, steps, compiled):
    import coca_torch as ct

    cfg = ct.load_config(preset)
    torch.manual_seed(0)
    model = ct.CoCa(cfg).to(device)
    opt = ct.make_optimizer(model)
    images, text = ct.make_batch(cfg, batch, torch.Generator().manual_seed(1))
    images, text = images.to(device), text.to(device)
    forward = torch.compile(model) if compiled else model

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model.losses(forward(images, text), text)["total"]
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, ct.ADAMW["logit_scale_max"])
        return loss

    t0 = time.perf_counter()
    first = step().item()  # with --compile this is where compilation happens
    first_ms = (time.perf_counter() - t0) * 1e3
    ms = timed(lambda: step().item(), device, steps, 2)
    return {"preset": preset, "batch": batch, "mode": "compile" if compiled else "eager", "ms": ms, "first_step_ms": first_ms,
            "first_loss": first, "params": sum(p.numel() for p in model.parameters())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True, help="write the figures here (rewritten after every case)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--matmul", default="4096", help="comma list of n (square); empty skips")
    ap.add_argument("--attention", default="4x8x1024x64,4x8x1024x128,1x8x4096x64,1x8x4096x128", help="comma list of BxHxLxD; empty skips")
    ap.add_argument("--step", default="tiny,small,b32", help="comma list of presets; empty skips")
    ap.add_argument("--batch", type=int, default=32, help="training step batch (coca bench step uses 32)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--compile", action="store_true", help="time the training step with torch.compile instead of eager")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    out = {"torch": torch.__version__, "device": a.device, "cuda": torch.version.cuda,
           "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
           "tf32": False, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "matmul": [], "attention": [], "step": [], "errors": []}

    def save():
        Path(a.json).write_text(json.dumps(out, indent=2))

    def attempt(what, fn, into):
        print(f"torch: {what} ...", flush=True)
        try:
            r = fn()
            into.append(r)
            print(f"torch: {what}: {json.dumps(r)}", flush=True)
        except Exception as e:  # one failing case must not cost the others' figures
            out["errors"].append({"case": what, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
            print(f"torch: {what}: FAILED {type(e).__name__}: {e}", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        save()

    save()
    if not a.compile:
        for n in [int(s) for s in a.matmul.split(",") if s]:
            attempt(f"matmul fp32 {n}", lambda n=n: bench_matmul(n, device, torch.float32, a.runs), out["matmul"])
            if device.type == "cuda":
                attempt(f"matmul f16 {n}", lambda n=n: bench_matmul(n, device, torch.float16, a.runs), out["matmul"])
        for s in [s for s in a.attention.split(",") if s]:
            B, H, L, D = (int(x) for x in s.split("x"))
            for backward in (False, True):
                attempt(f"attention {s} {'fwd+bwd' if backward else 'fwd'}", lambda B=B, H=H, L=L, D=D, bw=backward: bench_attention(B, H, L, D, device, bw, a.runs), out["attention"])
    for p in [p for p in a.step.split(",") if p]:
        attempt(f"step {p} {'compile' if a.compile else 'eager'}", lambda p=p: bench_step(p, a.batch, device, a.runs, a.compile), out["step"])
    print(f"torch: wrote {a.json}", flush=True)


if __name__ == "__main__":
    main()
