"""Chapter 9: decoding speed of absorbed against explicit multi-head latent attention.

One MLA layer with the attention shape of DeepSeek-V2-Lite (hidden size 2048, 16 heads,
``d_c = 512``, ``d_h = 128``, ``d_h^R = 64``, ``d_v = 128``, no query compression; DeepSeek-AI
2024) decodes one new token after ``n`` cached tokens, for growing ``n``:

* ``explicit``: the cache holds only the latents, and every step up-projects all ``n`` of
  them through ``kv_b_proj`` into per-head keys and values (``n x d_c x H (d_h + d_v)``
  multiply-adds per step), then attends;
* ``absorbed``: ``W^UK`` is applied to the one new query and ``W^UV`` to the attention
  output, so attention runs on the ``n`` cached latents directly (about
  ``2 n H d_c`` multiply-adds per step).

Both are :class:`mlbook.attention.MultiHeadLatentAttention` with the same weights and cache
(``forward(x, cache, absorb=False/True)``), measured by
:func:`mlbook.attention.mla_decode_seconds`: the cache is filled with seeded random latents,
each step is timed ``--repeats`` times after one warm-up step (the cache rewound after each),
and the median is reported, with the ratio explicit / absorbed. One thread
(``torch.set_num_threads(1)``) so the timing is not disturbed by busy cores; float32 on CPU.

Run with ``python benchmarks/mla_decode.py`` (under a minute on one core).
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from mlbook.attention import MLAConfig, mla_decode_seconds

#: One attention layer of DeepSeek-V2-Lite (no query latent: q_lora_rank is None).
LITE_LAYER = MLAConfig(dim=2048, n_heads=16, kv_lora_rank=512, qk_rope_head_dim=64,
                       qk_nope_head_dim=128, v_head_dim=128, q_lora_rank=None)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[256, 1024, 4096, 8192],
                        help="numbers of cached tokens")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per point")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = mla_decode_seconds(LITE_LAYER, args.contexts, repeats=args.repeats,
                                progress=not args.json)
    result["ratio"] = [e / a for e, a in zip(result["explicit"], result["absorbed"])]
    if args.json:
        print(json.dumps(result))
        return result
    print(f"MLA decode step, one layer of DeepSeek-V2-Lite's shape; torch {torch.__version__}, "
          f"{args.threads} thread(s), {platform.processor() or platform.machine()}; "
          f"median of {args.repeats}")
    print(f"{'cached tokens':>14} {'explicit ms':>12} {'absorbed ms':>12} {'explicit/absorbed':>18}")
    for n, e, a, r in zip(result["context"], result["explicit"], result["absorbed"],
                          result["ratio"]):
        print(f"{n:>14,} {1e3 * e:>12.2f} {1e3 * a:>12.2f} {r:>18.1f}")
    return result


if __name__ == "__main__":
    main()
