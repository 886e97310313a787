"""Hatch build hook: compile ``_speedups.c`` (masking in C) next to its source when a C compiler is there.

The extension is optional: without a compiler the build goes on with a warning and
``masking`` uses its NumPy, bitarray and big-integer strategies. setuptools does the
compiling, so the platform's own compiler and flags are used. An editable install
finds the module in the source tree; a wheel carries it. Not part of the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "wsexplore.protocol._speedups"
SOURCE = "wsexplore/protocol/_speedups.c"


def build_in_place(root: str) -> Path:
    """Compile the extension into ``wsexplore/protocol`` under ``root``; the path of the built file."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    unix = os.name == "posix"
    extension = Extension(MODULE, [SOURCE], extra_compile_args=["-O3"] if unix else [])
    here = os.getcwd()
    os.chdir(root)
    try:
        command = build_ext(Distribution({"name": "wsexplore", "ext_modules": [extension]}))
        command.inplace = True
        command.ensure_finalized()
        command.run()
        return Path(root, command.get_ext_fullpath(MODULE))
    finally:
        os.chdir(here)


class SpeedupsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        try:
            built = build_in_place(self.root)
        except Exception as exc:  # no compiler, no headers: the pure strategies serve
            self.app.display_warning(f"wsexplore: masking in C not built ({exc}); NumPy and bitarray do it")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install imports it from the source tree
            build_data["force_include"][str(built)] = str(built.relative_to(self.root))
