"""``segsync[predict]`` is optional: the core never imports numpy or scipy, and importing the
predict package without them says which extra to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_core_imports_without_numpy_or_scipy() -> None:
    out = run(
        "import sys\n"
        "import segsync, segsync.cli, segsync.pipeline, segsync.traits, segsync.state.store\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules))"
    )
    assert out == "[]"


def test_importing_predict_without_numpy_names_the_extra() -> None:
    out = run(
        "import sys\n"
        "sys.modules['numpy'] = None  # as if it were not installed\n"
        "from segsync.errors import MissingExtraError\n"
        "try:\n"
        "    import segsync.predict\n"
        "except ImportError as exc:\n"
        "    print(isinstance(exc, MissingExtraError), exc.extra, exc, sep='|')\n"
    )
    is_missing_extra, extra, message = out.split("|")
    assert is_missing_extra == "True" and extra == "predict"
    assert message == (
        "segsync's predictive models need numpy, which is not installed: "
        "pip install 'segsync[predict]'"
    )


def test_propensity_without_scikit_learn_names_the_extra() -> None:
    out = run(
        "import sys\n"
        "sys.modules['sklearn'] = None\n"
        "import segsync.predict  # numpy and scipy are there\n"
        "try:\n"
        "    import segsync.predict.propensity\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert out.endswith("need sklearn, which is not installed: pip install 'segsync[predict]'")


CLV_CONFIG = """
[connectors.out]
type = "files"
output_dir = "out"

[traits.clv]
kind = "clv"
horizon = "365d"

[traits.buy]
kind = "propensity"
event = "order"
[traits.buy.features.orders]
event = "order"
function = "count"

[segments.at_risk]
where = "clv_churn_risk = 'high'"
"""


def test_a_config_using_the_predictive_kinds_without_the_extra_is_refused_when_it_loads(
    tmp_path: Path,
) -> None:
    """numpy (and with it scipy and scikit-learn) missing: the config is refused by
    ``segsync check`` with exit 2 and one line per trait naming the extra."""
    config = tmp_path / "segsync.toml"
    config.write_text(CLV_CONFIG, encoding="utf-8")
    code = (
        "import sys\n"
        "for name in ('numpy', 'scipy', 'sklearn'):\n"
        "    sys.modules[name] = None  # as if they were not installed\n"
        f"sys.argv = ['segsync', '-c', {str(config)!r}, 'check']\n"
        "from segsync.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    message = " ".join(proc.stderr.split())
    assert (
        f"{config}: traits.clv.kind: trait kind 'clv' needs numpy, which is not installed: "
        "pip install 'segsync[predict]'"
    ) in message
    assert (
        f"{config}: traits.buy.kind: trait kind 'propensity' needs numpy, which is not "
        "installed: pip install 'segsync[predict]'"
    ) in message
