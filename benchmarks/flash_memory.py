"""Chapter 10: peak memory of the tiled FlashAttention forward against standard attention.

For each sequence length N this measures how much resident memory the process gains at its
peak while one attention forward runs, for

* ``flash``: :func:`mlbook.attention.flash_attention_forward` with ``Br x Bc`` tiles, which
  allocates ``O`` (N x d), three length-N statistics and tile-sized temporaries, and
* ``standard``: :func:`mlbook.attention.standard_attention`, which materialises the scores
  ``S`` and the probabilities ``P``, two N x N matrices,

and reports the peaks, the log-log slope between consecutive N (1 means linear, 2 quadratic)
and the ratio standard / flash at the largest N.

How memory is measured, and why it is a real measurement. ``tracemalloc`` only sees
Python's own allocator, not the buffers PyTorch allocates in C++, so it cannot be used.
Instead each (method, N) runs in a FRESH Python subprocess that

1. builds seeded float32 inputs and warms both code paths up on tiny inputs,
2. returns freed heap pages to the OS (glibc ``malloc_trim(0)``),
3. resets the kernel's high-water mark of resident memory by writing ``5`` to
   ``/proc/self/clear_refs`` (Linux >= 4.0), and reads the current ``VmRSS``,
4. runs the attention forward once, and reads ``VmHWM`` from ``/proc/self/status``.

``VmHWM - VmRSS`` is the largest number of bytes of physical memory the call added to the
process: every page any allocator touched, tensors and temporaries alike. This is
:func:`mlbook.attention.peak_rss_increase`. Fresh subprocesses keep one measurement's
freed-but-cached memory from hiding the next one's; with ``--in-process`` the same
measurement is also made sequentially in this process (as the chapter does), to show the
two agree. Linux only. One thread (``torch.set_num_threads(1)``) so the figures do not
include per-thread scratch buffers and the timing is not disturbed by busy cores.

Run with ``python benchmarks/flash_memory.py`` (about a minute; ``--max-n 16384`` needs
about 2.5 GB of free memory for standard attention).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

CHILD = r"""
import json, sys, torch
torch.set_num_threads(1)
from mlbook.attention import flash_attention_forward, peak_rss_increase, standard_attention
method, (n, d, b), causal = sys.argv[1], map(int, sys.argv[2:5]), sys.argv[5] == "1"
gen = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(n, d, generator=gen) for _ in range(3))
flash_attention_forward(q[:8], k[:8], v[:8], block_rows=4, block_cols=4, is_causal=causal)
standard_attention(q[:8], k[:8], v[:8], is_causal=causal)
if method == "flash":
    fn = lambda: flash_attention_forward(q, k, v, block_rows=b, block_cols=b, is_causal=causal)
else:
    fn = lambda: standard_attention(q, k, v, is_causal=causal)
print(json.dumps({"bytes": peak_rss_increase(fn)}))
"""


def measure_fresh(method: str, n: int, d: int, block: int, causal: bool) -> int:
    """Peak RSS increase of one forward, measured in a fresh Python subprocess."""
    out = subprocess.run([sys.executable, "-c", CHILD, method, str(n), str(d), str(block),
                          "1" if causal else "0"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["bytes"]


def slopes(ns: list[int], values: list[float]) -> list[float]:
    """Log-log slopes between consecutive points."""
    return [math.log(values[i + 1] / values[i]) / math.log(ns[i + 1] / ns[i])
            for i in range(len(ns) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-n", type=int, default=512)
    parser.add_argument("--max-n", type=int, default=8192)
    parser.add_argument("--d", type=int, default=64, help="head dimension")
    parser.add_argument("--block", type=int, default=128, help="Br = Bc of the tiled forward")
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--in-process", action="store_true",
                        help="also measure sequentially in this process, as the chapter does")
    args = parser.parse_args()
    ns = []
    n = args.min_n
    while n <= args.max_n:
        ns.append(n)
        n *= 2

    from tqdm.auto import tqdm

    mib = 2 ** 20
    start = time.perf_counter()
    rows = []
    for n in tqdm(ns, desc="fresh subprocesses"):
        flash = measure_fresh("flash", n, args.d, args.block, args.causal)
        standard = measure_fresh("standard", n, args.d, args.block, args.causal)
        rows.append((n, flash, standard))
    print(f"\nPeak resident-memory increase of one forward pass, d = {args.d}, float32, "
          f"tiles {args.block} x {args.block}, causal = {args.causal} "
          f"(fresh subprocess per measurement)\n")
    print(f"{'N':>6} {'flash MiB':>10} {'standard MiB':>13} {'N x N MiB':>10} {'ratio':>8}")
    for n, flash, standard in rows:
        print(f"{n:>6} {flash / mib:>10.2f} {standard / mib:>13.1f} {4 * n * n / mib:>10.1f} "
              f"{standard / flash:>8.1f}")
    print("\nlog-log slope between consecutive N (1 = linear, 2 = quadratic)")
    print("  flash:    " + ", ".join(f"{s:.2f}" for s in slopes(ns, [r[1] for r in rows])))
    print("  standard: " + ", ".join(f"{s:.2f}" for s in slopes(ns, [r[2] for r in rows])))
    n, flash, standard = rows[-1]
    print(f"\nratio standard / flash at N = {n}: {standard / flash:.1f}")

    if args.in_process:
        import torch

        from mlbook.attention import attention_peak_memory

        torch.set_num_threads(1)
        seq = attention_peak_memory(ns, args.d, block_rows=args.block, block_cols=args.block,
                                    is_causal=args.causal)
        print("\nsame, measured sequentially in one process (as the chapter does):")
        print(f"{'N':>6} {'flash MiB':>10} {'standard MiB':>13} {'ratio':>8}")
        for r in seq:
            print(f"{r['n']:>6} {r['flash_bytes'] / mib:>10.2f} "
                  f"{r['standard_bytes'] / mib:>13.1f} {r['ratio']:>8.1f}")
    print(f"\ntook {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
