"""Worked examples that run offline on a CPU in about a minute.

- :mod:`asrl.examples.mlp`: an MLP in PyTorch trained on contaminated labels with
  MSE, Huber, L1, Barron's general loss and ASRL (needs ``asrl[torch,sklearn]``).

Each example is a function returning its results and a ``main()`` for
``python -m asrl.examples.<name>``.
"""
