"""Sphinx configuration of the API reference, built from the numpydoc docstrings.

Build: ``sphinx-build -W -b html docs/api build/api`` (``tests/test_docs.py`` does,
with warnings as errors, so every cross-reference to the package must resolve).
"""

from __future__ import annotations

project = "asrl"
author = "The asrl developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
autosummary_ignore_module_all = False  # document what each module's __all__ exports
autodoc_typehints = "none"  # the numpydoc sections give the types in words
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    # scikit-learn adds these to every estimator; they are documented there.
    "exclude-members": "set_fit_request,set_predict_request,set_score_request,"
    "set_partial_fit_request,set_transform_request",
}
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # autodoc lists the members
numpydoc_xref_param_type = False  # types are prose ("float, default 0.5")
# Every reference must resolve (warnings are errors in the test build); only the
# frameworks' own objects are not documented here (no network for intersphinx).
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(numpy|np|torch|jax|jnp|sklearn|scipy|xgboost|xgb|lightgbm|lgb|catboost|cb"
        r"|dask|distributed|pandas|click|keras|tf|collections|typing|pathlib|dataclasses)(\..*)?",
    ),
    # Private bases shown under "Bases:" (asrl._boosting.BoostingRound, ...).
    (r"py:class", r"asrl\.(\w+\.)*_\w+(\.\w+)*"),
    (
        r"py:class",
        r"(Array|ArrayLike|NDArray|Tensor|Rule|Request|Record|Statistician|Any"
        r"|optional|callable|dataclass|ShardProtocol|array_like|float|int|str|bool|tuple|list"
        r"|dict|None|object|type)",
    ),
]
html_theme = "alabaster"
exclude_patterns = ["_build", "generated/*.tmp"]
