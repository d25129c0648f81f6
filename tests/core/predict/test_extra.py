"""``segsync[predict]`` is optional: the core never imports numpy or scipy, and importing the
predict package without them says which extra to install."""

from __future__ import annotations

import subprocess
import sys


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
