"""The perturbation under which `make test` runs the chapters really moves their numbers.

`make test-chapters` re-executes every chapter (nbval) with ``XLA_FLAGS`` set to the Makefile's
``PERTURBATION`` (XLA limited to SSE4.2 vectors, and fast maths), so that the committed outputs are shown to survive last-bit
changes like those of another processor. That proof is only worth something if the flag changes
results here: a short training run (the one measured when the flag was chosen) must end on different
floats with it than without it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import gfn_teach as g
result = g.train(g.TrainConfig(loss="tb", steps=400, side=8, hidden=64, eval_every=400), progress=False)
print(*(repr(float(result.history[name][-1])) for name in ("loss", "log_z", "exact_tv")))
"""


def perturbation() -> str:
    (flags,) = re.findall(r"^PERTURBATION := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    return flags.strip()


def final_numbers(xla_flags: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["XLA_FLAGS"] = xla_flags
    env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "0"  # as the chapters compile (tests/conftest.py turns it on)
    done = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_perturbation_moves_the_last_bits_of_training():
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    if "avx" not in flags:
        pytest.skip("this CPU has no AVX: SSE4.2 is already its widest vector set")
    native, perturbed = final_numbers(""), final_numbers(perturbation())
    assert native != perturbed, f"{perturbation()} left a training run bit-identical: {native}"
    # ... yet only in the last bits: the same numbers to four significant digits.
    for a, b in zip(native.split(), perturbed.split()):
        assert abs(float(a) - float(b)) <= 1e-3 * abs(float(a)) + 1e-6
