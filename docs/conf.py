"""Sphinx configuration: numpydoc API pages, a user guide and a sphinx-gallery of examples/.

The build is warning-free (``sphinx-build -W``) and offline: intersphinx links to NumPy and
SciPy are made only when ``PROJKIT_DOCS_INTERSPHINX=1`` is set (their inventories must then be
reachable). Examples run at small sizes; ``PROJKIT_EXAMPLES_FULL=1`` runs them at full size.
"""

from __future__ import annotations

import os
import re

import projkit

project = "projkit"
author = "projkit developers"
release = version = projkit.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
if os.environ.get("PROJKIT_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
    }

# the API page documents projkit.interop.torch; without torch its classes are read from a mock
try:
    import torch  # noqa: F401
except ImportError:
    autodoc_mock_imports = ["torch"]

autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
# numpydoc's cross-references of parameter types ("array, shape (n, d)") are off: they turn
# every free-text type into a missing reference
numpydoc_xref_param_type = False

# the gallery: every example runs (figures are captured from matplotlib); the slow ones are
# excluded by name below, with the reason
# galore_digits.py trains two MLPs in torch for minutes (167 s on a loaded 2-core machine);
# dask_out_of_core.py starts a local cluster: both run as scripts, outside the docs build
_SLOW = ["galore_digits.py", "dask_out_of_core.py"]
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/(?!_)[^/]+\.py$",
    "ignore_pattern": r"(__init__\.py|/_[^/]*\.py)" + "".join(f"|{re.escape(s)}" for s in _SLOW),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "min_reported_time": 1,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "capture_repr": (),
    "download_all_examples": False,
    "write_computation_times": False,
}

plot_working_directory = os.path.dirname(os.path.abspath(__file__))  # docs/
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]

html_theme = "alabaster"
html_theme_options = {"description": "projections, sketching and factorizations",
                      "page_width": "1100px", "sidebar_width": "230px"}
html_static_path: list[str] = []
exclude_patterns = ["_build", "_screenshots", "**/GALLERY_HEADER.rst"]
nitpicky = False
suppress_warnings = ["config.cache"]
