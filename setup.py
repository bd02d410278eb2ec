"""Ships the top-level ``search_spaces/`` and ``dashboards/`` inside the wheel as
``ncsweep/search_spaces`` and ``ncsweep/dashboards``.

Both folders stay at the top of the repository (users edit them there; an editable install
reads them in place). A regular build (``pip install .``, the cluster image) copies the files
below into the package, where ``ncsweep._shipped.shipped_dir`` finds them with
importlib.resources. Everything else is in pyproject.toml; MANIFEST.in puts the same files
into an sdist.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

REPO = Path(__file__).parent

#: top-level folder -> the glob patterns of its files the package ships
SHIPPED = {
    "search_spaces": ("**/*.yaml", "**/*.yml", "**/*.md"),  # presets/ included
    # dashboards/*.yaml is what `ncsweep report` reads; grafana/ is the cluster's Grafana
    "dashboards": ("*.yaml", "README.md"),
}


def shipped_files() -> list[Path]:
    """The files of :data:`SHIPPED`, relative to the repository, sorted."""
    found = {
        path.relative_to(REPO)
        for folder, patterns in SHIPPED.items()
        for pattern in patterns
        for path in (REPO / folder).glob(pattern)
        if path.is_file()
    }
    return sorted(found)


class BuildPyWithShippedFolders(build_py):
    def run(self) -> None:
        super().run()
        for relative, destination in self._shipped():
            self.mkpath(str(destination.parent))
            self.copy_file(str(REPO / relative), str(destination))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs + [str(destination) for _, destination in self._shipped()]

    def _shipped(self) -> list[tuple[Path, Path]]:
        """(source, destination in the build) of each shipped file; none for an editable
        install, which reads the folders in place."""
        if getattr(self, "editable_mode", False):
            return []
        package = Path(self.build_lib) / "ncsweep"
        return [(relative, package / relative) for relative in shipped_files()]


setup(cmdclass={"build_py": BuildPyWithShippedFolders})
