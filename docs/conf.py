"""Sphinx configuration of fastmlp's documentation.

Build (warnings are errors, as in CI):

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -W --keep-going -b doctest -D plot_gallery=0 docs docs/_build/doctest

The user guide is MyST markdown (``guide/``), the API reference
reStructuredText with autosummary stubs generated into ``api/generated/``,
and the gallery (``examples/``) is executed by sphinx-gallery into
``auto_examples/``: its figures are the examples' outputs.
"""

import os
import re
import sys

# the checkout's fastmlp, whatever the environment has installed
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import fastmlp  # noqa: E402  (after the sys.path entry)

project = "fastmlp"
author = "the fastmlp authors"
copyright = "the fastmlp authors, BSD 3-Clause"
version = release = fastmlp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",  # the performance page's latency figure
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# examples/ holds the gallery's sources (sphinx-gallery reads them); the
# generated pages are under auto_examples/
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]

# -- MyST (the user guide) --------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- API reference -----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
# class pages list their members through the template (_templates/autosummary/class.rst)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

# -- doctest: the guide's {doctest} blocks run in the build ------------------
# Only the explicit doctest directives are run, not the ">>>" examples of the
# docstrings (some of which show a call on the reader's own data).
doctest_test_doctest_blocks = ""
doctest_global_setup = """
import importlib.util
import numpy as np
import fastmlp as fm

# the optional packages some blocks need (":skipif:" without them)
HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))
HAVE_TORCH = importlib.util.find_spec("torch") is not None
"""

# -- the gallery -------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "remove_config_comments": True,
    "download_all_examples": False,
    "min_reported_time": 0,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastmlp {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 5,
}
html_show_sourcelink = False


# -- autodoc hooks -------------------------------------------------------------
def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods (metadata
    routing): every estimator has them, and their docstrings point into
    scikit-learn's own documentation."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def _drop_type_docstring(app, what, name, obj, options, lines):
    """A module constant without a ``#:`` comment would show its type's docstring
    (``tuple``'s, ``dict``'s): show nothing instead."""
    if what in ("data", "attribute") and not isinstance(obj, type):
        type_doc = type(obj).__doc__
        if isinstance(type_doc, str) and "\n".join(lines).strip() == type_doc.strip():
            lines.clear()


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    # before numpydoc (priority 500) rewrites the lines
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=400)
