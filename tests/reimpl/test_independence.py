"""reimpl is importable without the harness: the harness imports reimpl, never the reverse."""

import subprocess
import sys

MODULES = [
    "reimpl.models.maskgit", "reimpl.networks.maskgit", "reimpl.samplers.maskgit", "reimpl.recipes.maskgit",
    "reimpl.recipes.vqgan", "reimpl.tokenizers.vqgan", "reimpl.tokenizers.taming_vqgan", "reimpl.convert.maskgit_jax",
    "reimpl.convert.llamagen", "reimpl.convert",
]


def test_reimpl_never_imports_bench():
    code = "import sys\n" + "".join(f"import {m}\n" for m in MODULES) + (
        "leaked = sorted(m for m in sys.modules if m == 'bench' or m.startswith('bench.'))\n"
        "assert not leaked, leaked\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
