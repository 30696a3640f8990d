"""``python -m mlbook.llm``: train a tiny LLaMA from the command line (chapter 6).

Runs data-parallel when started by torchrun::

    torchrun --standalone --nproc_per_node=2 -m mlbook.llm --steps 20 --out run.pt

See :func:`mlbook.llm.train.main` for the options.
"""

from .train import main

if __name__ == "__main__":   # importing mlbook.llm.__main__ (docs tools, test collectors) trains nothing
    main()
