#!/usr/bin/env python3
"""CPU BLAS sgemm reference for `coca bench matmul`: C = A·B in float32 through numpy (Debian's
python3-numpy with libopenblas0-pthread). Usage: blas_sgemm.py M,N,K [M,N,K ...]
Prints one JSON line per size: {"M","N","K","gflops","ms","threads","blas"}; each figure is the
median of 5 runs, each run repeating the product until it lasts at least 0.2 s."""
import json, sys, time, os

try:
    import numpy as np
except ImportError:
    print(json.dumps({"error": "python3-numpy is not installed (apt-get install python3-numpy libopenblas0-pthread)"}))
    sys.exit(0)

def blas_name():
    try:
        cfg = np.show_config(mode="dicts")  # numpy >= 1.25
        return cfg["Build Dependencies"]["blas"]["name"]
    except Exception:
        for line in open("/proc/self/maps"):
            if "openblas" in line:
                return "openblas"
            if "libblas" in line:
                return "reference blas"
        return "unknown"

for arg in sys.argv[1:]:
    M, N, K = (int(x) for x in arg.split(","))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    c = a @ b  # warm-up (thread pool start, page faults)
    reps = 1
    while True:
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        dt = time.perf_counter() - t
        if dt >= 0.2:
            break
        reps *= 2
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        runs.append((time.perf_counter() - t) / reps)
    runs.sort()
    ms = runs[2] * 1e3
    print(json.dumps({"M": M, "N": N, "K": K, "ms": ms, "gflops": 2 * M * N * K / runs[2] / 1e9,
                      "threads": os.environ.get("OPENBLAS_NUM_THREADS", str(os.cpu_count())), "blas": blas_name()}), flush=True)
