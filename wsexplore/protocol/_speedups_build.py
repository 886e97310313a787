"""Hatch build hook: compile ``_speedups.c`` (masking in C) when a C compiler is there.

The extension is optional: without a compiler the build goes on with a warning and
``masking`` uses its NumPy, bitarray and big-integer strategies. setuptools does the
compiling, so the platform's own compiler and flags are used. An editable install
finds the module in the source tree; a wheel carries it, built in a temporary
directory so that building a wheel leaves the checkout as it was. Not part of the
package.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "wsexplore.protocol._speedups"
SOURCE = "wsexplore/protocol/_speedups.c"


def build(root: str, into: str | None = None) -> Path:
    """Compile the extension from the checkout at ``root``: into ``wsexplore/protocol`` there (an editable
    install imports it from the source tree), or under ``into``; the path of the built file."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    unix = os.name == "posix"
    extension = Extension(MODULE, [SOURCE], extra_compile_args=["-O3"] if unix else [])
    here = os.getcwd()
    os.chdir(root)
    try:
        command = build_ext(Distribution({"name": "wsexplore", "ext_modules": [extension]}))
        if into is None:
            command.inplace = True
        else:
            command.build_lib = into
            command.build_temp = os.path.join(into, "temp")
        command.ensure_finalized()
        command.run()
        return Path(root if into is None else into, command.get_ext_filename(MODULE))
    finally:
        os.chdir(here)


class SpeedupsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        editable = version == "editable"
        self._scratch = None if editable else tempfile.mkdtemp(prefix="wsexplore-speedups-")
        try:
            built = build(self.root, self._scratch)
        except Exception as exc:  # no compiler, no headers: the pure strategies serve
            self.app.display_warning(f"wsexplore: masking in C not built ({exc}); NumPy and bitarray do it")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if not editable:  # a wheel carries it; the source tree is left as it was
            build_data["force_include"][str(built)] = f"wsexplore/protocol/{built.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if getattr(self, "_scratch", None):  # the wheel holds its copy now
            shutil.rmtree(self._scratch, ignore_errors=True)
