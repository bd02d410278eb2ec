"""Ships the top-level ``search_spaces/`` inside the wheel as ``ncsweep/search_spaces``.

The folder stays at the top of the repository (users edit it there; an editable install
reads it in place). A regular build (``pip install .``, a cluster image) copies it into the
package, where ``ncsweep.sweep.spaces.search_spaces_dir`` finds it with importlib.resources.
Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SPACES = Path(__file__).parent / "search_spaces"


class BuildPyWithSearchSpaces(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "ncsweep" / "search_spaces"
        for source in sorted(SPACES.rglob("*")):
            if source.is_file() and source.suffix in (".yaml", ".yml", ".md"):
                destination = target / source.relative_to(SPACES)
                self.mkpath(str(destination.parent))
                self.copy_file(str(source), str(destination))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        target = Path(self.build_lib) / "ncsweep" / "search_spaces"
        return outputs + [
            str(target / p.relative_to(SPACES))
            for p in sorted(SPACES.rglob("*"))
            if p.is_file() and p.suffix in (".yaml", ".yml", ".md")
        ]


setup(cmdclass={"build_py": BuildPyWithSearchSpaces})
