"""The evaluation suites, one module each, found by name: adding a suite is adding one module here.

A module ``<module>.py`` is the suite ``<module>`` with underscores written as hyphens (``shape_bias.py`` is
``shape-bias``) and defines ``run_<module>_suite(model, image_processor, *, output_dir, quick=False, seed=0,
<options>) -> SuiteResult``, with every option a named keyword (no ``**kwargs``: a misspelled option is an
error). Modules are imported only when their suite runs, so a suite whose optional dependencies are missing
fails alone with a clear message.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterable


def discover_suites(package: str = __name__, folders: Iterable[str] = __path__) -> dict[str, str]:
    """Suite name -> ``"module:function"`` for every public module of ``package`` (this one), none imported."""
    return {
        module.name.replace("_", "-"): f"{package}.{module.name}:run_{module.name}_suite"
        for module in sorted(pkgutil.iter_modules(folders), key=lambda module: module.name)
        if not module.name.startswith("_")
    }
