"""mlbook: the code behind *Machine Learning, Interactively*.

One module (or sub-package) per part of the book, each readable next to its chapter:

=========================  ==========================================================
module                     chapter
=========================  ==========================================================
``mlbook.estimation``      1  Maximum likelihood vs Bayesian estimation
``mlbook.ensemble``        2  Ensemble learning: bagging, AdaBoost, gradient boosting, stacking
``mlbook.rl``              3-4  Reinforcement learning: grid world, MDPs, planning, Monte Carlo
``mlbook.approximation``   5  Stochastic approximation: Robbins-Monro, SGD
``mlbook.llm``             6-9  Language models: tiny LLaMA and its training (6), instruction
                           tuning (7, ``llm.tasks``, ``llm.self_instruct``, ``llm.instruct``),
                           LoRA (7, ``llm.lora``), DPO (8, ``llm.dpo``, ``llm.dpo_bandit``)
``mlbook.attention``       9-10  Attention: MHA/GQA/MQA/MLA with KV caches; FlashAttention
``mlbook.vlm``             11  Vision-language: MoonViT, pixel shuffle, MoE, a tiny VLM
``mlbook.widgets``         every chapter: sliders that work live and on the static site
``mlbook.notebook``        every chapter: ``glue`` for the prose's numbers, ``show_source``
                           for the code it shows (cut at ``# [mark: name]`` lines)
``mlbook.plotting``        every chapter: one figure style; plain log ticks, class regions
``mlbook.progress``        every long loop: tqdm bars that ``TQDM_DISABLE=1`` switches off;
                           ``timed`` for the chapters' wall-clock measurements
``mlbook.checks``          every public function: argument checks, one rule for bool, NaN
                           and ``seed=None`` (fresh entropy)
``mlbook.memory``          any chapter: how far a call raises the process's resident memory
                           (``peak_rss_increase``; chapter 10's FlashAttention memory)
``mlbook.runtime``         chapters 6-8: ``one_thread``, the thread count the cached models
                           are trained with (the same weights whichever chapter trains them)
``mlbook.cache``           chapters 6-8: the trained models that later chapters load
                           instead of training again (``$MLBOOK_CACHE``, safe in parallel)
=========================  ==========================================================
"""

__version__ = "0.1.0"
