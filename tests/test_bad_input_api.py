"""Bad input to the Python entry points and settings: irgrad.export / ShapeDtypeStruct, calling
an artifact from irgrad.load, the compile cache's environment variables (IRGRAD_CACHE_DIR,
IRGRAD_CACHE_MAX_MB), IRGRAD_CPU_DRIVER, and a computation too big for memory. Each error
names the argument (or variable), what was expected and what was given, in a short message.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import jax
import jax.numpy as jnp_ref
import numpy as np
import pytest
from irgrad.runtime import disk_cache, executable

import irgrad
import irgrad.numpy as jnp

F32 = np.float32


def _never_called(*args):
    raise AssertionError("traced a function whose arguments were refused")


@pytest.mark.parametrize("make, error, message", [
    (lambda: irgrad.export(_never_called, irgrad.ShapeDtypeStruct((None,), F32)), ValueError,
     r"irgrad.export: argument args\[0\] is ShapeDtypeStruct\(shape=\(None,\), dtype=float32\): dynamic shapes "
     r"are not supported; give every dimension as a whole number"),
    (lambda: irgrad.export(_never_called, 1.0, {"w": irgrad.ShapeDtypeStruct(("b", 3), F32)}), ValueError,
     r"irgrad.export: argument args\[1\]\['w'\] is ShapeDtypeStruct\(shape=\('b', 3\), .*dynamic shapes are not "
     r"supported"),
    (lambda: irgrad.ShapeDtypeStruct((-1,), F32), ValueError,
     r"ShapeDtypeStruct: shape \(-1,\) has dimension -1; each must be a whole number >= 0"),
    (lambda: irgrad.ShapeDtypeStruct((2.5,), F32), ValueError, r"shape \(2.5,\) has dimension 2.5"),
    (lambda: irgrad.ShapeDtypeStruct((3,), "hello"), TypeError,
     r"ShapeDtypeStruct: dtype 'hello' is not a NumPy dtype"),
    (lambda: irgrad.export(_never_called, irgrad.ShapeDtypeStruct((3,), F32), cpu="nonsense"), ValueError,
     r"irgrad.export: cpu 'nonsense' is not a CPU LLVM knows for \w+; use 'host' \(this machine\), 'generic' "
     r"\(any \w+\) or one of the \d+ LLVM names such as [\w-]+, .*"),
    (lambda: irgrad.export(_never_called, ["a", 1.0]), TypeError,
     r"irgrad.export: argument args\[0\]\[0\] is 'a' of type str, not an array"),
])
def test_export_refuses_before_tracing(make, error, message):
    with pytest.raises(error, match=message) as exc:
        make()
    assert len(str(exc.value)) < 400


@pytest.fixture(scope="module")
def summed():
    """An artifact of sum over an (89, 10) float32 array."""
    return irgrad.load(irgrad.export(lambda x: jnp.sum(x), irgrad.ShapeDtypeStruct((89, 10), F32)).serialize())


X = np.linspace(0.5, 2.0, 890, dtype=F32).reshape(89, 10)


@pytest.mark.parametrize("args, kwargs, message", [
    (("hello",), {}, r"irgrad artifact <bytes>: argument args\[0\] is 'hello' of type str, not an array; the "
                     r"function was exported for float32\[89,10\]"),
    ((X.tolist(),), {}, r"irgrad artifact <bytes>: argument args\[0\] has the pytree structure PyTreeDef\(\[\[\*, "
                        r".*\.\.\. \(890 leaves\), but the function was exported for PyTreeDef\(\*\); pass one array "
                        r"\(np.asarray\) for a leaf"),
    ((X,), {"y": 1}, r"irgrad artifact <bytes> takes positional arguments only \(it was exported for "
                     r"PyTreeDef\(\(\*,\)\)\); got keyword argument\(s\) 'y'"),
    ((), {}, r"irgrad artifact <bytes> takes 1 positional arguments with the pytree structure "
                r"PyTreeDef\(\(\*,\)\); got 0"),
    ((None,), {}, r"argument args\[0\] has the pytree structure PyTreeDef\(None\), but the function was exported "
                  r"for PyTreeDef\(\*\)"),
])
def test_loaded_call_names_the_argument_in_a_short_message(summed, args, kwargs, message):
    with pytest.raises(TypeError, match=message) as exc:
        summed(*args, **kwargs)
    assert len(str(exc.value)) < 400
    assert float(summed(X)) == pytest.approx(float(jnp_ref.sum(X)), rel=1e-6)   # still works after


def test_loaded_call_converts_float64_as_jax_does(summed):
    """JAX's jit (and jax.export's call) with jax_enable_x64=False convert a float64 array to
    float32 without a word; the Python API does the same (`irgrad run` also warns)."""
    x64 = X.astype(np.float64)
    assert float(summed(x64)) == pytest.approx(float(jax.jit(jnp_ref.sum)(x64)), rel=1e-6)


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf"])
def test_bad_cache_max_mb_warns_once_and_uses_the_default(value, monkeypatch):
    monkeypatch.setenv("IRGRAD_CACHE_MAX_MB", value)
    monkeypatch.setattr(disk_cache, "_warned", set())
    with pytest.warns(disk_cache.CacheWarning, match=rf"IRGRAD_CACHE_MAX_MB='{value}' is not a number of megabytes "
                                                     r">= 0; using the default 1024"):
        assert disk_cache.max_bytes() == 1024 * 2**20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert disk_cache.max_bytes() == 1024 * 2**20            # once
    monkeypatch.setenv("IRGRAD_CACHE_MAX_MB", "12.5")
    assert disk_cache.max_bytes() == int(12.5 * 2**20)


def test_unwritable_cache_dir_warns_once_and_jit_still_works(tmp_path, monkeypatch):
    """IRGRAD_CACHE_DIR below a regular file (cannot be created, even by root): one CacheWarning,
    then modules are compiled in memory; the numbers are JAX's."""
    (tmp_path / "afile").write_text("")
    bad = str(tmp_path / "afile" / "cache")
    monkeypatch.setenv("IRGRAD_CACHE_DIR", bad)
    monkeypatch.setattr(disk_cache, "_warned", set())
    with pytest.warns(disk_cache.CacheWarning, match=rf"cannot write to the compile cache directory {bad} \(.*\); "
                                                     r"compiled modules are kept in this process's memory only"):
        assert disk_cache.write("ab" * 32, b"payload", bad) is False
    x = np.array([0.25, -1.5, 3.0], F32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                            # no second warning
        assert disk_cache.write("cd" * 32, b"payload", bad) is False
        got = irgrad.jit(lambda v: jnp.cos(v) * 1.8125)(x)        # (a module no other test compiles)
    np.testing.assert_allclose(np.asarray(got), np.asarray(jnp_ref.cos(x) * 1.8125), rtol=1e-6)


def test_unknown_cpu_driver_is_refused(monkeypatch):
    monkeypatch.setenv("IRGRAD_CPU_DRIVER", "nonsense")
    with pytest.raises(ValueError, match=r"IRGRAD_CPU_DRIVER='nonsense': expected one of local-sync, local-task"):
        executable.cpu_driver(4)


OOM = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    import irgrad, irgrad.numpy as jnp
    f = irgrad.jit(lambda x: {"big": jnp.broadcast_to(x, (100000, 100000)) * 2, "small": x})
    try:
        f(jnp.ones(100000))
    except irgrad.errors.ResourceExhaustedError as e:
        print(e)
""")


def test_out_of_memory_names_the_output_and_its_size():
    """A 40 GB output under a 6 GB address-space limit: the error names the output and the bytes."""
    proc = subprocess.run([sys.executable, "-c", OOM], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "IRGRAD_CPU_DRIVER": "local-sync"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("RESOURCE_EXHAUSTED: out of memory running jit(<lambda>) on cpu:0: its outputs need "
                                  "37.3 GiB (40000400000 bytes); the largest is out['big'], float32[100000,100000], "
                                  "37.3 GiB (40000000000 bytes); use smaller arrays"), proc.stdout
