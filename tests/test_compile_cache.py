"""XLA's compiled training steps are kept on disk and loaded, not compiled again, by later runs and commands."""

import os
import subprocess

from harness.caches import compile_cache_dir, enable_compile_caches
from tests.conftest import ROOT, harness_command


def _xla_run(reports, cache, *extra: str) -> None:
    command = harness_command("run adam --dataset digits --epochs 2 --set training.jit_compile=true", reports, *extra)
    environment = os.environ | {"KERAS_HARNESS_CACHE": str(cache), "TF_XLA_FLAGS": ""}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr


def test_a_second_command_with_the_same_shapes_loads_what_the_first_compiled(reports, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _xla_run(reports, cache)
    monkeypatch.setenv("KERAS_HARNESS_CACHE", str(cache))
    compiled = sorted((compile_cache_dir() / "xla").glob("*.pb"))  # keyed by the libraries' versions and the CPU
    assert compiled, f"nothing in {cache}"
    _xla_run(reports, cache, "--seed", "1", "--set", "optimizer.learning_rate=0.01")  # other numbers, same shapes
    assert sorted((compile_cache_dir() / "xla").glob("*.pb")) == compiled  # nothing compiled anew


def test_the_compile_caches_can_be_turned_off_and_a_users_own_setting_stays(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HARNESS_CACHE", str(tmp_path))
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_persistent_cache_directory=/mine")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    enable_compile_caches()
    assert os.environ["TF_XLA_FLAGS"] == "--tf_xla_persistent_cache_directory=/mine"
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(compile_cache_dir() / "jax")
    monkeypatch.setenv("TF_XLA_FLAGS", "")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("KERAS_HARNESS_COMPILE_CACHE", "off")
    enable_compile_caches()
    assert os.environ["TF_XLA_FLAGS"] == "" and "JAX_COMPILATION_CACHE_DIR" not in os.environ
