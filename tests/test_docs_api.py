"""Every public name of the documented modules has an entry in the API reference.

The reference (``docs/api/*.rst``) lists names in ``autosummary`` tables
under a ``currentmodule``; Sphinx makes a page of each.  This reads those
files as text -- no Sphinx needed -- and checks them against each module's
``__all__``, so that a name added to a module without its entry fails here
rather than going undocumented (the Sphinx build itself runs in CI).
"""

import importlib
import pathlib
import re

import pytest

API = pathlib.Path(__file__).resolve().parent.parent / "docs" / "api"

#: The modules whose whole ``__all__`` the reference covers.
MODULES = [
    "fastmlp", "fastmlp.optim", "fastmlp.schedules", "fastmlp.callbacks",
    "fastmlp.activations", "fastmlp.initializers", "fastmlp.losses", "fastmlp.metrics",
    "fastmlp.preprocessing", "fastmlp.datasets", "fastmlp.population", "fastmlp.sklearn",
    "fastmlp.search", "fastmlp.export", "fastmlp.data.svmlight", "fastmlp.data.convert",
    "fastmlp.data.tables", "fastmlp.lectures.optimizers", "fastmlp.lectures.initialization",
]

_MODULE_DIRECTIVE = re.compile(r"^\.\. (?:py:)?(?:current|auto)?module:: +(\S+)\s*$")
_DATA_DIRECTIVE = re.compile(r"^\s*\.\. (?:py:)?(?:auto)?data:: +(\S+)\s*$")


def documented(paths):
    """The names the .rst files give an entry, as (modules, {"module.name", ...}).

    ``modules``: every module named by a ``module``, ``automodule`` or
    ``currentmodule`` directive (those have a page or section of their own).
    Names: the items of ``autosummary`` tables and ``data`` directives,
    qualified by the current module of the file at that point.
    """
    modules, names = set(), set()
    for path in paths:
        current, in_table = None, False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = _MODULE_DIRECTIVE.match(line)
            if found:
                current = found.group(1)
                modules.add(current)
                in_table = False
                continue
            if line.startswith(".. autosummary::"):
                assert current is not None, f"{path}:{number}: autosummary before a module"
                in_table = True
                continue
            data = _DATA_DIRECTIVE.match(line)
            if data:
                names.add(f"{current}.{data.group(1)}")
                continue
            if in_table:
                if line and not line[0].isspace():  # the table ended
                    in_table = False
                    continue
                item = line.strip()
                if item and not item.startswith(":"):  # not an option such as :toctree:
                    names.add(f"{current}.{item}")
    return modules, names


DOCUMENTED_MODULES, DOCUMENTED_NAMES = documented(sorted(API.glob("*.rst")))


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_an_entry_in_the_api_reference(module_name):
    if module_name == "fastmlp.sklearn":
        pytest.importorskip("sklearn")
    module = importlib.import_module(module_name)
    assert module_name in DOCUMENTED_MODULES, f"{module_name} has no page in docs/api"
    missing = []
    for name in module.__all__:
        value = getattr(module, name)
        if type(value) is type(module):  # a submodule named at the top level: its own page
            if value.__name__ not in DOCUMENTED_MODULES:
                missing.append(f"{name} (module {value.__name__})")
        elif f"{module_name}.{name}" not in DOCUMENTED_NAMES:
            missing.append(name)
    assert not missing, f"{module_name}: no entry in docs/api/*.rst for {missing}"


def test_the_reference_names_only_what_exists():
    # an entry whose object was renamed or removed would be a broken page
    stale = []
    for qualified in sorted(DOCUMENTED_NAMES):
        module_name, name = qualified.rsplit(".", 1)
        if module_name == "fastmlp.sklearn":
            pytest.importorskip("sklearn")
        if not hasattr(importlib.import_module(module_name), name):
            stale.append(qualified)
    assert not stale, f"docs/api names objects that do not exist: {stale}"


def test_the_reader_of_the_rst_files_finds_entries_and_ignores_options(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(".. currentmodule:: pkg.mod\n\n.. autosummary::\n   :toctree: generated/\n"
                    "\n   First\n   second\n\nText after the table, not an entry\n\n"
                    ".. py:data:: __version__\n\n.. automodule:: pkg.other\n")
    modules, names = documented([page])
    assert modules == {"pkg.mod", "pkg.other"}
    assert names == {"pkg.mod.First", "pkg.mod.second", "pkg.mod.__version__"}
