"""``segsync new-connector NAME``: a connector plugin package that installs and passes the
conformance suite as generated.

The package is the worked example's shape (``plugins/segsync-acme``): ``pyproject.toml``
declaring the ``segsync`` entry point; ``settings.py`` (the instance's settings, secrets as
``SecretStr``); ``connector.py`` with the two roles over :func:`segsync.http.connect` (a
cursor-paged contacts source, a lists destination addressed by email); ``simulator.py``, a
simulator of a small REST API on :class:`segsync.testing.simulator.Simulator`;
``tests/test_NAME_conformance.py`` running :class:`segsync.testing.conformance.
ConnectorConformance`; and ``docs/NAME.md``. The author then replaces the simulated API with
the real platform's, in the simulator first (from the platform's reference), then in the
connector, keeping the conformance test green.

Templates live in ``templates/`` (Jinja2 with ``{@ … @}`` for values, so the Python and
TOML brackets and braces they contain need no escaping).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path

import jinja2

from segsync._version import __version__
from segsync.config.schema import NAME_RE
from segsync.errors import ConfigError

__all__ = ["Created", "generate"]

_FILES: dict[str, str] = {
    "pyproject.toml": "pyproject.toml.j2",
    "README.md": "README.md.j2",
    "{package}/__init__.py": "init.py.j2",
    "{package}/plugin.py": "plugin.py.j2",
    "{package}/settings.py": "settings.py.j2",
    "{package}/connector.py": "connector.py.j2",
    "{package}/simulator.py": "simulator.py.j2",
    "{package}/py.typed": "py.typed.j2",
    "tests/test_{name}_conformance.py": "test_conformance.py.j2",
    "docs/{name}.md": "docs.md.j2",
}


@dataclass
class Created:
    """What :func:`generate` wrote."""

    name: str
    root: Path
    files: list[Path] = field(default_factory=list)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("segsync.scaffold", "templates"),
        variable_start_string="{@",
        variable_end_string="@}",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - generates Python and TOML, not HTML
    )


def generate(name: str, out_dir: Path, *, force: bool = False) -> Created:
    """Write the package ``segsync-NAME`` into ``out_dir``; raise :class:`ConfigError` for a
    name that cannot be a connector type and a distribution name, the name of a plugin another
    package installed, or a folder that exists (unless ``force``)."""
    _check_name(name)
    root = out_dir / f"segsync-{name.replace('_', '-')}"
    if root.exists() and any(root.iterdir()) and not force:
        raise ConfigError(f"{root} exists and is not empty; pass --force to overwrite it")
    words = name.split("_")
    values = {
        "name": name,
        "package": f"segsync_{name}",
        "distribution": f"segsync-{name.replace('_', '-')}",
        "Class": "".join(w.capitalize() for w in words),
        "title": " ".join(w.capitalize() for w in words),
        "segsync_version": __version__,
    }
    env = _environment()
    created = Created(name=name, root=root)
    for target, template in _FILES.items():
        path = root / target.format(package=values["package"], name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(**values), encoding="utf-8")
        created.files.append(path)
    return created


def _check_name(name: str) -> None:
    """Refuse a name that cannot be a connector type, a Python package and a distribution
    name, or that an installed plugin already uses, saying why and what would do."""
    why = 'it becomes `type = "NAME"`, the package segsync_NAME and the distribution segsync-NAME'
    if not NAME_RE.match(name):
        guess = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", name.lower())).strip("_")
        hint = f" (try {guess!r})" if NAME_RE.match(guess) and not keyword.iskeyword(guess) else ""
        raise ConfigError(
            f"{name!r} cannot name a connector: expected lower-case letters, digits and '_', "
            f"starting with a letter{hint}; {why}"
        )
    if keyword.iskeyword(name):
        raise ConfigError(f"{name!r} cannot name a connector: it is a Python keyword; {why}")
    if name.endswith("_"):
        raise ConfigError(
            f"{name!r} cannot name a connector: it may not end with '_' (try "
            f"{name.rstrip('_')!r}); {why}, and a distribution name cannot end with '-'"
        )
    distribution = f"segsync-{name.replace('_', '-')}"
    for ep in entry_points(group="segsync", name=name):
        owner = ep.dist.name if ep.dist else "an installed package"
        if _canonical(owner) != _canonical(distribution):
            raise ConfigError(
                f"{name!r} is already a plugin installed by {owner} (see 'segsync plugins'); "
                "a second one of that name would stop segsync loading plugins: pick another name"
            )


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def templates() -> list[str]:
    """The template files shipped (for the packaging test)."""
    folder = resources.files("segsync.scaffold").joinpath("templates")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".j2"))
