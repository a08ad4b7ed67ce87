"""The platforms irgrad compiles for and runs on: one `Backend` record each, in BACKENDS.

A platform (JAX's word: `devices("cuda")`, `Device.platform`) is an IREE compile target,
the runtime driver(s) its modules run on, the flags iree-compile needs for it, what it
cannot run, how JAX names its devices, and what the legalization step must do for it.
Devices, compiling, the compile cache, export / load and the CLI all read this table, so
adding a backend is one entry here.

>>> backend("vulkan").target
'vulkan-spirv'
>>> by_target("llvm-cpu").name, [b.name for b in with_alias("gpu")]
('cpu', ['cuda', 'vulkan'])
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BACKENDS", "PLATFORMS", "Backend", "Refusal", "backend", "by_target", "with_alias"]

# f64 stays f64 where the target has it (IREE demotes it to f32 by default, changing the
# function's signature under the caller's feet).
KEEP_F64 = "--iree-input-demote-f64-to-f32=false"
# IREE's default Vulkan target (the vp_android_baseline_2022 profile) stores only 32-bit
# words and emulates 8- and 16-bit tensors in them, wrongly at the end of a buffer whose
# size is not a multiple of 4: on lavapipe the last 1-3 bytes of a bool / int8 input read
# as 0 and float16 results came back as 0. These SPIR-V features (which desktop GPUs and
# lavapipe have) make IREE use 8- and 16-bit types directly.
VULKAN_FEATURES = ",".join([
    "spirv:v1.3", "cap:Shader",
    "cap:StorageBuffer8BitAccess", "cap:UniformAndStorageBuffer8BitAccess", "cap:Int8", "ext:SPV_KHR_8bit_storage",
    "cap:StorageBuffer16BitAccess", "cap:StorageUniform16", "cap:Int16", "cap:Float16", "ext:SPV_KHR_16bit_storage",
])
# The workgroup count per dimension is limited to 65,535 on Vulkan, and IREE's Vulkan
# target cuts a longer reduction to its first 65,535 elements without a word.
VULKAN_MAX_REDUCTION = 65535

# Data tiling (packing matmul operands into cache-sized tiles) took a 1024^3 f32 matmul
# gradient from 282 to 74 ms of CPU time here, and an MLP step from 3.3 to 2.8 ms; but it
# packs both operands on every call, which doubled a matrix-vector gradient (0.83 ->
# 1.46 ms). So: only for modules with a contraction whose M, N and K are all >=
# compiler.MIN_TILED. IREE 3.13's `--iree-opt-data-tiling` picks the DispatchCreation
# path, which fails to compile common adjoints (an MLP step: "large vector sizes"; a
# matvec fused with an i1 input: "load_from_buffer ... shapes must be compatible"); the
# GlobalOptimization path compiles them and is as fast.
DATA_TILING = "--iree-global-opt-data-tiling"
# Float64 math IREE 3.13's CPU target leaves to libm, which it does not link ("undefined
# symbol: tanh") or cannot lower at all (erf, cbrt); the rest (exp, log, sqrt, pow,
# sinh, ...) are expanded inline and run. Checked one op at a time on this version.
CPU_F64_MATH_MISSING = ("tanh", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "erf", "erfc", "log2", "log10",
                        "cbrt")


@dataclass(frozen=True)
class Refusal:
    """A dtype limit: the element type `dtype` (MLIR's name) anywhere in a module, or only
    in the ops named in `ops`, is refused before compiling (IREE would fail late, in
    linking or deep in codegen). `what` names it in the error (`{op}`: the op found),
    `why` says why the target cannot run it.

    >>> Refusal("f64", "float64 {op}", "no libm", ops=("math.tanh",)).what.format(op="math.tanh")
    'float64 math.tanh'
    """

    dtype: str
    what: str
    why: str
    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Backend:
    """One platform. Field by field:

    name          the platform as JAX names it: `devices("cuda")`, `Device.platform`
    target        iree-compile's target backend (`compile_str(target_backends=[...])`)
    driver        the IREE runtime driver its modules run on; its devices are what the
                  driver's `query_available_devices()` reports
    device_class  the class name in a Device's repr (JAX prints `CudaDevice(id=0)`)
    flags         iree-compile flags every module for `target` gets
    matmul_flags  iree-compile flags added for modules with a real matrix-matrix product
    refuses       types and ops the target cannot run (dtype limits), refused before compiling
    aliases       other names JAX code asks for it by (`devices("gpu")`): the first
                  backend in BACKENDS carrying the alias that has a device answers
    threaded_driver  a second driver for modules with much work (`executable.TASK_WORK`),
                  whose buffers mix with `driver`'s; None: always `driver`
    max_reduction the longest reduction loop the target computes right; legalize splits
                  longer ones into fenced pieces (None: no limit)
    order_all_loops  whether every linalg.generic must write its outputs in loop order to
                  compute right (legalize.order_output_loops; else only elementwise ones, for speed)

    >>> backend("cpu").drivers
    ('local-sync', 'local-task')
    """

    name: str
    target: str
    driver: str
    device_class: str
    flags: tuple[str, ...] = ()
    matmul_flags: tuple[str, ...] = ()
    refuses: tuple[Refusal, ...] = ()
    aliases: tuple[str, ...] = ()
    threaded_driver: str | None = None
    max_reduction: int | None = None
    order_all_loops: bool = False

    @property
    def drivers(self) -> tuple[str, ...]:
        """Every driver this platform's modules may run on, `driver` first."""
        return (self.driver,) if self.threaded_driver is None else (self.driver, self.threaded_driver)


# In order of preference for an alias ("gpu": CUDA, else Vulkan); the CPU first, as it is
# the default device.
BACKENDS: tuple[Backend, ...] = (
    Backend(
        name="cpu", target="llvm-cpu", driver="local-sync", threaded_driver="local-task", device_class="CpuDevice",
        flags=("--iree-llvmcpu-target-cpu=host", KEEP_F64), matmul_flags=(DATA_TILING,),
        refuses=(Refusal("f64", "float64 {op}", "IREE 3.13's CPU target has no float64 "
                         + ", ".join(CPU_F64_MATH_MISSING) + " (they fail to link or to lower)",
                         ops=tuple(f"math.{name}" for name in CPU_F64_MATH_MISSING)),),
    ),
    Backend(
        name="cuda", target="cuda", driver="cuda", device_class="CudaDevice", aliases=("gpu",),
        flags=(KEEP_F64,),
    ),
    Backend(
        name="vulkan", target="vulkan-spirv", driver="vulkan", device_class="VulkanDevice", aliases=("gpu",),
        flags=(f"--iree-vulkan-target-features={VULKAN_FEATURES}",),
        refuses=(Refusal("f64", "float64 (f64)", "SPIR-V for Vulkan has no 64-bit exp / log / tanh (GLSL.std.450 "
                         "takes 16- and 32-bit floats) and IREE's Vulkan target no Float64 capability"),),
        max_reduction=VULKAN_MAX_REDUCTION, order_all_loops=True,
    ),
)

PLATFORMS: tuple[str, ...] = tuple(b.name for b in BACKENDS)
_BY_NAME = {b.name: b for b in BACKENDS}
_BY_TARGET = {b.target: b for b in BACKENDS}


def backend(platform: str) -> Backend:
    """The record of a platform; KeyError naming the known ones for another name.

    >>> backend("cuda").driver
    'cuda'
    """
    try:
        return _BY_NAME[platform]
    except KeyError:
        raise KeyError(f"unknown platform {platform!r}; irgrad knows {', '.join(PLATFORMS)}") from None


def by_target(target: str) -> Backend:
    """The record of an iree-compile target backend.

    >>> by_target("vulkan-spirv").name
    'vulkan'
    """
    try:
        return _BY_TARGET[target]
    except KeyError:
        raise KeyError(f"unknown IREE target {target!r}; irgrad compiles for {', '.join(_BY_TARGET)}") from None


def with_alias(alias: str) -> list[Backend]:
    """The backends JAX code means by `alias`, in order of preference (none: not an alias).

    >>> [b.name for b in with_alias("gpu")], with_alias("cpu")
    (['cuda', 'vulkan'], [])
    """
    return [b for b in BACKENDS if alias in b.aliases]
