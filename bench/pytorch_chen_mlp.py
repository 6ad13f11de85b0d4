#!/usr/bin/python3
"""PyTorch baseline for the Chen2025 toy training (notes/chen2025-code.md A.2, A.4, A.5).

The authors' loop, per (T, seed): the MLP concat[x (2), raw t] -> Linear(3,128) -> Swish
-> Linear(128,128) -> Swish -> Linear(128,128) -> Swish -> Linear(128,2), PyTorch's default
init, whose output is a = g(t) * score; the DSM loss 1/2 |sigma(t) a/g(t) + eps|^2 (mean over
the batch) with t ~ U[0, T] under the VP SDE (beta_min 0.1, beta_max 20); full batch of
m = 200 Swiss-roll points; Adam lr 1e-3. Each repetition times STEPS steps from a fresh
network after WARMUP untimed steps, and the time of a 10 000-step training is STEPS' time
scaled to 10 000 steps. Prints the median over the repetitions for float32 (the authors')
and float64, with 1 and 2 threads.

Run with /usr/bin/python3 (Debian's python3-torch). diffgen's tests do not need torch: this
script only produces the figures recorded in bench/bench_deep_mlp.cpp.
"""
import math
import os
import statistics
import sys
import time

STEPS = int(os.environ.get("DIFFGEN_TORCH_STEPS", "2000"))
WARMUP = 50
REPS = int(os.environ.get("DIFFGEN_TORCH_REPS", "5"))
M = 200
T_END = 1.0
BETA_MIN, BETA_MAX = 0.1, 20.0


def main():
    try:
        import torch
    except ImportError:
        print("pytorch_chen_mlp.py: torch is not installed (apt-get install -y python3-torch); skipped")
        return 0
    try:
        import numpy as np
    except ImportError:
        print("pytorch_chen_mlp.py: numpy is not installed; skipped")
        return 0

    def swiss_roll(n, rng):
        u = rng.uniform(size=n)
        t = 1.5 * math.pi * (1.0 + 2.0 * u)
        x = t * np.cos(t) + 0.5 * rng.standard_normal(n)
        z = t * np.sin(t) + 0.5 * rng.standard_normal(n)
        return np.stack([x, z], axis=1) / 5.0

    class Swish(torch.nn.Module):
        def forward(self, u):
            return u * torch.sigmoid(u)

    def network():
        return torch.nn.Sequential(
            torch.nn.Linear(3, 128), Swish(), torch.nn.Linear(128, 128), Swish(),
            torch.nn.Linear(128, 128), Swish(), torch.nn.Linear(128, 2))

    def big_b(t):
        return 0.5 * t * t * (BETA_MAX - BETA_MIN) + t * BETA_MIN

    def time_training(dtype, threads):
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        x0 = torch.tensor(swiss_roll(M, np.random.default_rng(0)), dtype=dtype)
        net = network().to(dtype)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step():
            # The authors' dsm(): one t and one eps per point, y = a(t) x + sigma(t) eps.
            t = torch.rand(M, 1, dtype=dtype) * T_END
            eps = torch.randn(M, 2, dtype=dtype)
            b = big_b(t)
            y = torch.exp(-0.5 * b) * x0 + torch.sqrt(1.0 - torch.exp(-b)) * eps
            g = torch.sqrt(BETA_MIN + (BETA_MAX - BETA_MIN) * t)
            a = net(torch.cat([y, t], dim=1))
            sigma = torch.sqrt(1.0 - torch.exp(-b))
            loss = 0.5 * ((a * sigma / g + eps) ** 2).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        for _ in range(WARMUP):
            step()
        start = time.perf_counter()
        for _ in range(STEPS):
            step()
        return (time.perf_counter() - start) * 10000.0 / STEPS

    print(f"torch {torch.__version__}, {STEPS} timed steps scaled to 10 000, median of {REPS} repetitions, "
          f"{os.cpu_count()} CPUs")
    for dtype in (torch.float32, torch.float64):
        for threads in (1, 2):
            times = [time_training(dtype, threads) for _ in range(REPS)]
            med = statistics.median(times)
            print(f"{str(dtype).replace('torch.', ''):8s} threads {threads}: 10 000 steps {med:7.2f} s "
                  f"({1e3 * med / 10000:.3f} ms/step; runs {' '.join(f'{s:.2f}' for s in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
