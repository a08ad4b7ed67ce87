"""The backend table (runtime/backends.py): every place that knows a platform reads it,
and a new backend is one entry there. No IREE compile here."""

from __future__ import annotations

import dataclasses
import doctest
import os
import subprocess
import sys
import textwrap

import pytest
from irgrad.frontend import cli, devices
from irgrad.runtime import backends, compiler, executable
from irgrad.runtime.errors import IRError


def test_doctests():
    assert doctest.testmod(backends).failed == 0


def test_records_are_unique_and_frozen():
    names = [b.name for b in backends.BACKENDS]
    targets = [b.target for b in backends.BACKENDS]
    assert len(set(names)) == len(names) and len(set(targets)) == len(targets)
    assert not set(names) & {a for b in backends.BACKENDS for a in b.aliases}, "an alias shadows a platform"
    with pytest.raises(AttributeError):
        backends.backend("cpu").target = "x"    # type: ignore[misc]


def test_the_old_tables_are_views_of_the_records():
    """The names tests, benchmarks and users import still answer, from the one table."""
    table = backends.BACKENDS
    assert devices.PLATFORMS == tuple(b.name for b in table)
    assert devices.CLASS_NAMES == {b.name: b.device_class for b in table}
    assert executable.CPU_DRIVERS == ("local-sync", "local-task") and executable.THREADED_DRIVER == "local-task"
    assert compiler.TARGET_FLAGS == {b.target: list(b.flags) for b in table}
    assert backends.backend("vulkan").max_reduction == 65535
    assert devices.ALIASES == {"gpu": ("cuda", "vulkan")}      # JAX's "gpu": CUDA, else Vulkan
    target = next(a for a in cli.parser()._subparsers._group_actions[0].choices["export"]._actions
                  if a.dest == "target")
    assert target.choices == list(devices.PLATFORMS)


F64_FORMS = ["tensor<2xf64>", "tensor<?xf64>", "tensor<2x3xf64>", "f64"]


@pytest.mark.parametrize("form", F64_FORMS)
def test_vulkan_refuses_f64_in_every_type_form(form):
    text = f"func.func @f(%x: {form}) -> {form} {{ return %x : {form} }}"
    with pytest.raises(IRError, match=r"float64 \(f64\), which vulkan-spirv cannot run"):
        compiler.check_types(text, "vulkan-spirv")
    compiler.check_types(text, "llvm-cpu")      # the CPU runs f64 (but not all of its math)
    compiler.check_types(text, "cuda")


@pytest.mark.parametrize("op, refused", [("tanh", True), ("atan2", True), ("atan", True), ("atanh", False),
                                         ("exp", False), ("sqrt", False)])
def test_cpu_refuses_only_the_f64_math_it_cannot_link(op, refused):
    text = f"%0 = math.{op} %x : tensor<3xf64>"
    if refused:
        with pytest.raises(IRError, match=rf"float64 math\.{op}, which llvm-cpu cannot run"):
            compiler.check_types(text, "llvm-cpu")
    else:
        compiler.check_types(text, "llvm-cpu")
    compiler.check_types(text.replace("f64", "f32"), "llvm-cpu")


# A platform irgrad does not have, added as one entry to the table's source; everything
# below reads it without another edit. IREE has no "metal" driver in this wheel, so its
# devices are missing (with IREE's reason) while compiling-side checks all see it.
NEW_ENTRY = """
    Backend(
        name="metal", target="metal-spirv", driver="metal", device_class="MetalDevice", aliases=("gpu",),
        refuses=(Refusal("f16", "float16 (f16)", "no half floats here"),), max_reduction=100,
    ),
"""

USE_NEW_ENTRY = textwrap.dedent("""
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("irgrad.runtime.backends", BACKENDS_PY)   # before irgrad imports it
    source = open(spec.origin).read()
    end = "\\n)\\n\\nPLATFORMS"                       # the table's last line: the entry goes last
    assert source.count(end) == 1
    source = source.replace(end, NEW_ENTRY.rstrip("\\n") + end, 1)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, spec.origin, "exec"), module.__dict__)

    import argparse
    import irgrad
    from irgrad.frontend import cli, devices, export
    from irgrad.runtime import artifact, compiler, legalize
    from irgrad.runtime.errors import IRError
    from iree.compiler import ir

    assert repr(devices.Device("metal", 1)) == "MetalDevice(id=1)"
    try:
        irgrad.devices("metal")
    except RuntimeError as e:
        print("devices:", e)
    print("gpu:", devices.ALIASES["gpu"])
    print("cli:", cli.parser().parse_args(["export", "m.py:f", "--target", "metal", "-o", "x.vmfb"]).target)
    print("export:", export._platform("metal", None))
    print("artifact:", artifact.check_platform({"target": "metal"}, None))
    try:
        compiler.compile_mlir("func.func @f(%x: tensor<2xf16>) -> tensor<2xf16> { return %x : tensor<2xf16> }",
                              "metal-spirv")
    except IRError as e:
        print("refused:", e)
    print("flags:", compiler.TARGET_FLAGS["metal-spirv"])
    mlir = '''
          #id = affine_map<(d0) -> (d0)>
          #sc = affine_map<(d0) -> ()>
          func.func @f(%x: tensor<1000xi32>) -> tensor<i32> {
            %c = arith.constant 0 : i32
            %e = tensor.empty() : tensor<i32>
            %z = linalg.fill ins(%c : i32) outs(%e : tensor<i32>) -> tensor<i32>
            %r = linalg.generic {indexing_maps = [#id, #sc], iterator_types = ["reduction"]}
                ins(%x : tensor<1000xi32>) outs(%z : tensor<i32>) {
              ^bb0(%a: i32, %acc: i32):
                %s = arith.subi %acc, %a : i32
                linalg.yield %s : i32
            } -> tensor<i32>
            return %r : tensor<i32>
          }'''
    with ir.Context():
        split = [legalize.split_long_reductions(ir.Module.parse(mlir), g) for g in ("metal-spirv", "llvm-cpu")]
    print("split:", *split)
""")


def test_a_new_backend_is_one_entry():
    """One entry added to BACKENDS reaches devices, aliases, the CLI, export, artifacts,
    the dtype limits, the compile flags and legalize (a fresh process: the views are
    built at import)."""
    script = f"NEW_ENTRY = {NEW_ENTRY!r}\nBACKENDS_PY = {backends.__file__!r}\n" + USE_NEW_ENTRY
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "IRGRAD_DEVICE": ""})
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert lines["devices"].startswith("Backend 'metal' failed to initialize: IREE's 'metal' driver")
    assert lines["gpu"] == "('cuda', 'vulkan', 'metal')"
    assert lines["cli"] == lines["export"] == lines["artifact"] == "metal"
    assert "uses float16 (f16), which metal-spirv cannot run: no half floats here" in lines["refused"]
    assert lines["flags"] == "[]"
    # Not regroupable (a subtraction), 1000 > max_reduction = 100: cut into fenced pieces there; kept on CPU.
    assert lines["split"] == "1 0"


def test_cache_key_follows_only_its_own_backend(monkeypatch):
    """A module's compile-cache key changes with its target's record (flags, limits that
    legalize reads), not when another backend is added or changed."""
    vulkan, cpu = (compiler.cache_key("ir", t, ["--a"]) for t in ("vulkan-spirv", "llvm-cpu"))
    metal = dataclasses.replace(backends.backend("cuda"), name="metal", target="metal-spirv")
    monkeypatch.setattr(compiler, "BACKENDS", (*backends.BACKENDS, metal))
    assert [compiler.cache_key("ir", t, ["--a"]) for t in ("vulkan-spirv", "llvm-cpu")] == [vulkan, cpu]
    shorter = tuple(dataclasses.replace(b, max_reduction=1000) if b.name == "vulkan" else b for b in backends.BACKENDS)
    monkeypatch.setattr(compiler, "BACKENDS", shorter)
    assert compiler.cache_key("ir", "vulkan-spirv", ["--a"]) != vulkan
    assert compiler.cache_key("ir", "llvm-cpu", ["--a"]) == cpu
