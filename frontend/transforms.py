"""jvp, vjp, linearize, vmap and the Jacobians built from them.

Each transformation follows grad's pattern (see api.py): under a trace it traces
the user's function into a module of its own, runs one IR pass on it (forward.jvp,
reverse.vjp or batching.vmap) and emits a `func.call` to the result into the
enclosing trace (staging.py); at top level the same code runs inside a cached
TransformRunner, so one call is one compiled IREE function. Nesting is nothing
special: an inner transformation's call lands in the outer one's module, and the
outer pass inlines and transforms it. jacfwd is vmap over jvp, jacrev vmap over vjp's pullback and
hessian jacfwd of jacrev, exactly as in JAX.
"""

from __future__ import annotations

import numpy as np
from irgrad.passes import batching, forward, reverse
from irgrad.passes.ir import IRError, building

from . import dtypes, tree_util
from .api import argnums_tuple, staged
from .config import config
from .core import ShapedArray, aval_of, trace_stack
from .staging import (
    call_traced,
    concrete_args,
    emit_call,
    flatten_fun,
    fun_key,
    fun_name,
    is_array_leaf,
    split_aux,
    trace,
    wrap_transformed,
)

# JAX's dtype of the tangent / cotangent of an integer or boolean value.
float0 = np.dtype([("float0", np.void, 0)])


def _zeros_float0(aval):
    return np.zeros(aval.shape, float0)


def _is_float0(x) -> bool:
    return getattr(x, "dtype", None) == float0


def _hashable_tree(tree):
    """A hashable stand-in for an axes spec (ints and None in any pytree)."""
    leaves, treedef = tree_util.tree_flatten(tree, is_leaf=lambda x: x is None)
    return treedef, tuple(leaves)


def _trace_flat(fun, leaves, tree, has_aux, who):
    """Trace fun(*unflatten(tree, tracers)) over `leaves`' avals into its own module, the
    outer values riding along: (Traced, OutTrees); it returns the output's leaves, then aux's."""
    avals = [aval_of(x) for x in leaves]
    label = f"the function {fun_name(fun)} for {who}"
    flat, trees = flatten_fun(lambda *t: fun(*tree_util.tree_unflatten(tree, t)), label, has_aux)
    inner = trace(flat, avals, name=fun_name(fun), concrete_args=concrete_args(leaves, avals),
                  active=[True] * len(avals), label=label)
    return inner, trees


# ---------------------------------------------------------------------------- jvp


def _check_tangents(p_leaves, p_tree, t_leaves, t_tree, who="jax.jvp"):
    if p_tree != t_tree:
        raise TypeError(f"primal and tangent arguments to {who} must have the same tree structure; primals have "
                        f"tree structure {p_tree} whereas tangents have tree structure {t_tree}.")
    for p, t in zip(p_leaves, t_leaves):
        pa = aval_of(p)
        if _is_float0(t):
            if dtypes.is_float(pa.dtype):
                raise TypeError(f"primal and tangent arguments to {who} do not match; dtypes must be equal, or in "
                                f"case of int/bool primal dtype the tangent dtype must be float0. Got primal dtype "
                                f"{pa.dtype.name} and so expected tangent dtype {pa.dtype.name}, but got tangent "
                                "dtype float0 instead.")
            ta_shape = np.shape(t)
        else:
            ta = aval_of(t)
            want = pa.dtype.name if dtypes.is_float(pa.dtype) else "float0"
            if ta.dtype.name != want:
                raise TypeError(f"primal and tangent arguments to {who} do not match; dtypes must be equal, or in "
                                f"case of int/bool primal dtype the tangent dtype must be float0. Got primal dtype "
                                f"{pa.dtype.name} and so expected tangent dtype {want}, but got tangent dtype "
                                f"{ta.dtype.name} instead.")
            ta_shape = ta.shape
        if tuple(ta_shape) != pa.shape:
            raise ValueError(f"jvp called with different primal and tangent shapes;Got primal shape {pa.shape} "
                             f"and tangent shape as {tuple(ta_shape)}")


def _jvp_traced(fun, primals, t_leaves, has_aux):
    """Inside a trace: (primal output tree, tangent tree with None for integer outputs, aux).
    `t_leaves`: the checked tangent leaves, None for an integer primal's float0."""
    p_leaves, p_tree = tree_util.tree_flatten(tuple(primals))
    inner, trees = _trace_flat(fun, p_leaves, p_tree, has_aux, "jvp")
    avals = inner.in_avals
    wrt = [i for i, av in enumerate(avals) if dtypes.is_float(av.dtype)]
    with building():
        name = forward.jvp(inner.module, inner.name, wrt=wrt, strong_zero=config.irgrad_strong_zero)
    floats = [j for j, av in enumerate(inner.out_avals) if dtypes.is_float(av.dtype)]
    results = emit_call(inner.module, name, [*p_leaves, *inner.captures, *[t_leaves[i] for i in wrt]],
                        [*avals, *inner.capture_avals, *[avals[i] for i in wrt]],
                        [*inner.out_avals, *[inner.out_avals[j] for j in floats]])
    n_all = len(inner.out_avals)
    tans = dict(zip(floats, results[n_all:]))
    y, aux = trees.unflatten(results[:n_all])
    return y, tree_util.tree_unflatten(trees.out, [tans.get(j) for j in range(trees.n_out)]), aux


def _fill_float0(y, t):
    """Put float0 zeros where `t` (y's structure) has None for an integer output."""
    y_leaves, tree = tree_util.tree_flatten(y)
    t_leaves = tree_util.tree_leaves(t, is_leaf=lambda x: x is None)
    return tree_util.tree_unflatten(tree, [_zeros_float0(aval_of(a)) if b is None else b
                                           for a, b in zip(y_leaves, t_leaves)])


def jvp(fun, primals, tangents, has_aux=False):
    """Forward-mode derivative: (fun(*primals), the directional derivative along tangents).

    >>> import irgrad, irgrad.numpy as jnp
    >>> y, t = irgrad.jvp(jnp.sin, (0.0,), (2.0,))
    >>> float(y), float(t)
    (0.0, 2.0)
    """
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise TypeError("primal and tangent arguments to jax.jvp must be tuples or lists; found "
                        f"{type(primals).__name__} and {type(tangents).__name__}.")
    p_leaves, p_tree = tree_util.tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_util.tree_flatten(tuple(tangents))
    _check_tangents(p_leaves, p_tree, t_leaves, t_tree)
    # float0 tangents carry no values (and no dtype irgrad can trace): None, a leafless node.
    t_leaves = [None if _is_float0(t) else t for t in t_leaves]
    traced = staged(("jvp", fun_key(fun), has_aux), lambda p, t: _jvp_traced(fun, p, t, has_aux), (0, 1),
                     f"jvp_{fun_name(fun)}")
    y, t, aux = traced(tuple(primals), t_leaves)
    t = _fill_float0(y, t)
    return (y, t, aux) if has_aux else (y, t)


def linearize(fun, *primals, has_aux=False):
    """(fun(*primals), f_jvp[, aux]) where f_jvp(*tangents) is the jvp at primals.

    Each f_jvp call runs the forward-mode function again (primal work included);
    IREE compiles it once per tangent signature.

    >>> import irgrad, irgrad.numpy as jnp
    >>> y, f_jvp = irgrad.linearize(jnp.exp, 0.0)
    >>> float(f_jvp(3.0))
    3.0
    """
    out = staged(("linearize", fun_key(fun), has_aux), lambda *p: fun(*p), tuple(range(len(primals))),
                 f"linearize_{fun_name(fun)}")(*primals)
    y, aux = split_aux(out, has_aux)

    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise TypeError(f"linearized function called on tangent values inconsistent with the original "
                            f"primal values: got {len(tangents)} tangents for {len(primals)} primals")
        return jvp(fun, primals, tangents, has_aux=has_aux)[1]
    return (y, f_jvp, aux) if has_aux else (y, f_jvp)


# ---------------------------------------------------------------------------- vjp


def _ct_type(x) -> str:
    """A cotangent's JAX type, as JAX's errors print it: float32[3,4], float0[2]."""
    return f"float0[{','.join(map(str, np.shape(x)))}]" if _is_float0(x) else aval_of(x).str_short()


def _check_cotangent(y_leaves, y_tree, ct):
    ct_leaves, ct_tree = tree_util.tree_flatten(ct)
    if ct_tree != y_tree:
        raise ValueError(f"unexpected tree structure.\n\nThe argument to a VJP function returned by `jax.vjp` must "
                         f"match the pytree structure of the differentiated function's output: got {ct_tree}, "
                         f"but the output had {y_tree}.")
    for y, c in zip(y_leaves, ct_leaves):
        ya = aval_of(y)
        if dtypes.is_float(ya.dtype):
            ok = _ct_type(c) == ya.str_short()
        else:       # an integer output's cotangent: float0 (or, leniently, any array) of its shape
            ok = np.shape(c) == ya.shape
        if not ok:
            expected = ya.str_short() if dtypes.is_float(ya.dtype) else _ct_type(np.zeros(ya.shape, float0))
            raise ValueError(f"unexpected JAX type (e.g. shape/dtype) for argument to VJP function: got "
                             f"{_ct_type(c)}, but expected {expected} because the corresponding output of the "
                             f"differentiated function had JAX type {ya.str_short()}")
    return ct_leaves


def _pullback_traced(inner, n_out, p_leaves, ct_leaves):
    """Inside a trace: call @F_vjp (added to inner's module on first use) on the
    primals and the float outputs' cotangents; the float primals' cotangents."""
    wrt = [i for i, av in enumerate(inner.in_avals) if dtypes.is_float(av.dtype)]
    seeds = [j for j in range(n_out) if dtypes.is_float(inner.out_avals[j].dtype)]
    if inner.aux is None:
        with building():
            inner.aux = reverse.vjp(inner.module, inner.name, wrt=wrt, seeds=seeds,
                                    strong_zero=config.irgrad_strong_zero)
    out_avals = inner.out_avals
    results = emit_call(inner.module, inner.aux, [*p_leaves, *inner.captures, *[ct_leaves[j] for j in seeds]],
                        [*inner.in_avals, *inner.capture_avals, *[out_avals[j] for j in seeds]],
                        [*out_avals, *[inner.in_avals[i] for i in wrt]])
    return results[len(out_avals):]


def _vjp_traced(fun, primals, has_aux):
    """Inside a trace: trace fun into its own module and call it. (inner, y tree, aux)."""
    p_leaves, p_tree = tree_util.tree_flatten(tuple(primals))
    inner, trees = _trace_flat(fun, p_leaves, p_tree, has_aux, "vjp")
    y, aux = trees.unflatten(call_traced(inner, p_leaves))
    return inner, y, aux


class _Pullback:
    """The function vjp returns: cotangent of the output -> one cotangent per primal.

    Made inside a trace, it calls the reverse pass's @F_vjp on that trace's values
    (once the calls are inlined, CSE merges the primal sweep it repeats with the
    original). Made at top level, it keeps the primal values and runs one compiled
    function per call, cached per signature like grad."""

    def __init__(self, fun, has_aux, primals, y, inner=None):
        self.fun, self.has_aux, self.inner = fun, has_aux, inner
        self.primals = tuple(primals)
        self.p_leaves, self.p_tree = tree_util.tree_flatten(self.primals)
        self.y_leaves, self.y_tree = tree_util.tree_flatten(y)

    def __call__(self, *args):
        if len(args) != 1:
            raise TypeError(f"The function returned by `jax.vjp` applied to {self.fun} was called with {len(args)} "
                            "arguments, but functions returned by `jax.vjp` must be called with a single argument "
                            "corresponding to the single value returned by the function being differentiated.")
        ct_leaves = _check_cotangent(self.y_leaves, self.y_tree, args[0])
        if self.inner is not None:
            grads = _pullback_traced(self.inner, len(self.y_leaves), self.p_leaves, ct_leaves)
        else:
            fun, has_aux = self.fun, self.has_aux

            def traced(primals, ct_leaves):
                inner, y, _ = _vjp_traced(fun, primals, has_aux)
                return _pullback_traced(inner, len(tree_util.tree_leaves(y)), tree_util.tree_leaves(primals),
                                        ct_leaves)
            grads = staged(("vjp_pullback", fun_key(fun), has_aux), traced, (0, 1),
                            f"vjp_{fun_name(fun)}")(self.primals, [None if _is_float0(c) else c for c in ct_leaves])
        it = iter(grads)
        avals = [aval_of(x) for x in self.p_leaves]
        leaves = [next(it) if dtypes.is_float(av.dtype) else _zeros_float0(av) for av in avals]
        return tree_util.tree_unflatten(self.p_tree, leaves)


def vjp(fun, *primals, has_aux=False):
    """Reverse mode: (fun(*primals), pullback), pullback(cotangent) -> one cotangent per primal.

    >>> import irgrad, irgrad.numpy as jnp
    >>> y, pullback = irgrad.vjp(jnp.sin, 0.0)
    >>> float(pullback(jnp.float32(2.0))[0])
    2.0
    """
    if trace_stack():
        inner, y, aux = _vjp_traced(fun, primals, has_aux)
    else:
        inner = None
        y, aux = staged(("vjp", fun_key(fun), has_aux), lambda *p: _vjp_traced(fun, p, has_aux)[1:],
                         tuple(range(len(primals))), f"vjp_{fun_name(fun)}")(*primals)
    pullback = _Pullback(fun, has_aux, primals, y, inner)
    return (y, pullback, aux) if has_aux else (y, pullback)


# --------------------------------------------------------------------------- vmap


def _broadcast_prefix(prefix, tree, what):
    """One entry of `prefix` (a pytree prefix of `tree` with int / None leaves) per leaf of `tree`."""
    prefix_def = tree_util.tree_structure(prefix, is_leaf=lambda x: x is None)
    try:
        subtrees = prefix_def.flatten_up_to(tree)
    except ValueError:
        raise ValueError(f"vmap {what} specification must be a tree prefix of the corresponding value, got "
                         f"specification {prefix} for value tree {tree_util.tree_structure(tree)}.") from None
    axes = tree_util.tree_leaves(prefix, is_leaf=lambda x: x is None)
    return [a for a, sub in zip(axes, subtrees) for _ in range(tree_util.tree_structure(sub).num_leaves)]


def _check_axes_spec(axes, what):
    for a in tree_util.tree_leaves(axes, is_leaf=lambda x: x is None):
        if a is not None and not isinstance(a, int | np.integer):
            raise TypeError(f"vmap {what} must be an int, None, or (nested) container with those types as leaves, "
                            f"but got {a!r}.")


def _vmap_traced(fun, in_axes, out_axes, axis_size, args, kwargs):
    args = tuple(args)
    leaves, tree = tree_util.tree_flatten((args, kwargs))
    axes = _broadcast_prefix(in_axes, args, "in_axes") + [0] * (len(leaves) - tree_util.tree_structure(args).num_leaves)
    sizes = {}
    for i, (x, a) in enumerate(zip(leaves, axes)):
        if a is None:
            continue
        if not is_array_leaf(x):
            raise TypeError(f"vmap was requested to map its argument along axis {a}, which implies that its rank "
                            f"should be at least {a + 1 if a >= 0 else -a}, but is only 0 (its shape is ())")
        shape = aval_of(x).shape
        if not -len(shape) <= a < len(shape):
            raise ValueError(f"vmap was requested to map its argument along axis {a}, which implies that its rank "
                             f"should be at least {a + 1 if a >= 0 else -a}, but is only {len(shape)} "
                             f"(its shape is {shape})")
        axes[i] = a % len(shape)
        sizes[i] = shape[axes[i]]
    if len(set(sizes.values())) > 1:
        lines = [f"  * one axis had size {s}" for s in sizes.values()]
        raise ValueError("vmap got inconsistent sizes for array axes to be mapped:\n" + "\n".join(lines))
    if sizes:
        n = next(iter(sizes.values()))
        if axis_size is not None and axis_size != n:
            raise ValueError(f"vmap got inconsistent sizes: axis_size={axis_size} but the mapped axes have size {n}")
    elif axis_size is None:
        raise ValueError("vmap must have at least one non-None value in in_axes or axis_size must be specified")
    else:
        n = axis_size
    mapped = [i for i in range(len(leaves)) if axes[i] is not None]
    avals = []
    for i in mapped:
        av = aval_of(leaves[i])
        avals.append(ShapedArray(av.shape[:axes[i]] + av.shape[axes[i] + 1:], av.dtype, av.weak_type))

    def call(*tracers):
        flat = list(leaves)
        for i, t in zip(mapped, tracers):
            flat[i] = t
        a, kw = tree_util.tree_unflatten(tree, flat)
        return fun(*a, **kw)

    label = f"the function {fun_name(fun)} for vmap"
    flat_fun, trees = flatten_fun(call, label)
    inner = trace(flat_fun, avals, name=fun_name(fun), label=label)
    out_tree = trees.out
    outs_axes = _broadcast_prefix(out_axes, tree_util.tree_unflatten(out_tree, [0] * out_tree.num_leaves),
                                  "out_axes")
    out_avals = []
    for k, (av, a) in enumerate(zip(inner.out_avals, outs_axes)):
        if a is None:
            out_avals.append(av)
            continue
        if not -(len(av.shape) + 1) <= a <= len(av.shape):
            raise ValueError(f"vmap out_axes specification {a} is out of bounds for an output of rank "
                             f"{len(av.shape)} (output component [{k}])")
        a = a % (len(av.shape) + 1)
        outs_axes[k] = a
        out_avals.append(ShapedArray(av.shape[:a] + (n,) + av.shape[a:], av.dtype, av.weak_type))
    with building():
        try:
            name = batching.vmap(inner.module, inner.name, [axes[i] for i in mapped] + [None] * len(inner.captures),
                                 outs_axes, axis_size=n)
        except IRError as e:
            if "out_axes is None" not in str(e):
                raise
            raise ValueError("at vmap out_axes, got axis spec None but output was batched on axis 0") from None
    results = emit_call(inner.module, name, [*[leaves[i] for i in mapped], *inner.captures],
                        [*[aval_of(leaves[i]) for i in mapped], *inner.capture_avals], out_avals)
    return tree_util.tree_unflatten(out_tree, results)


def vmap(fun, in_axes=0, out_axes=0, axis_name=None, axis_size=None, spmd_axis_name=None):
    """Vectorize `fun` over an array axis: the batching pass adds a batch dimension to
    every op of the traced function (one compiled function, no Python loop).

    `in_axes` / `out_axes`: an int, None, or a pytree prefix of the arguments /
    outputs with those as leaves, as in JAX. Keyword arguments are mapped over axis 0.
    `axis_name` is accepted; collectives over it are not supported.

    >>> import irgrad, irgrad.numpy as jnp
    >>> irgrad.vmap(jnp.dot, in_axes=(0, None))(jnp.ones((3, 2)), jnp.arange(2.0))
    Array([1., 1., 1.], dtype=float32)
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not (in_axes is None or isinstance(in_axes, int | tuple)):
        raise TypeError("vmap in_axes must be an int, None, or a tuple of entries corresponding to the positional "
                        f"arguments passed to the function, but got {in_axes}.")
    _check_axes_spec(in_axes, "in_axes")
    _check_axes_spec(out_axes, "out_axes")
    if not callable(fun):
        raise TypeError(f"vmap requires a callable as its first argument, got {fun!r}")
    key = ("vmap", fun_key(fun), _hashable_tree(in_axes), _hashable_tree(out_axes), axis_size)

    def traced(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
                             f"positional arguments passed to the function, but got len(in_axes)={len(in_axes)}, "
                             f"len(args)={len(args)}")
        return _vmap_traced(fun, in_axes, out_axes, axis_size, args, kwargs)

    return wrap_transformed(staged(key, traced, (), f"vmap_{fun_name(fun)}"), fun, key)


# ---------------------------------------------------------------------- Jacobians


def _argnums_partial(fun, argnums, args):
    """(f of the argnums arguments only, those arguments) — the rest are closed over."""
    nums = argnums_tuple(argnums, len(args))

    def partial(*dyn):
        full = list(args)
        for i, d in zip(nums, dyn):
            full[i] = d
        return fun(*full)
    partial.__name__ = fun_name(fun)
    return partial, tuple(args[i] for i in nums)


def _std_basis(tree):
    """The rows of the identity over all of tree's leaves: per leaf, an array (N, *leaf.shape)."""
    import irgrad.numpy as jnp  # (frontend.numpy_api, imported late: it imports this package's core)
    leaves, treedef = tree_util.tree_flatten(tree)
    avals = [aval_of(x) for x in leaves]
    n = sum(int(np.prod(av.shape, dtype=int)) for av in avals)
    eye = np.eye(n, dtype=np.float32)
    out, start = [], 0
    for av in avals:
        size = int(np.prod(av.shape, dtype=int))
        out.append(jnp.asarray(eye[:, start:start + size].reshape((n, *av.shape)), dtype=av.dtype))
        start += size
    return tree_util.tree_unflatten(treedef, out), n


def _split_last(x, in_tree, front_shape):
    """x (*front_shape, N) -> in_tree of arrays (*front_shape, *leaf.shape)."""
    leaves, treedef = tree_util.tree_flatten(in_tree)
    parts, start = [], 0
    for leaf in leaves:
        shape = aval_of(leaf).shape
        size = int(np.prod(shape, dtype=int))
        parts.append(x[..., start:start + size].reshape((*front_shape, *shape)))
        start += size
    return tree_util.tree_unflatten(treedef, parts)


def _split_first(x, y_tree_value, back_shape):
    """x (N, *back_shape) -> y tree of arrays (*leaf.shape, *back_shape)."""
    leaves, treedef = tree_util.tree_flatten(y_tree_value)
    parts, start = [], 0
    for leaf in leaves:
        shape = aval_of(leaf).shape
        size = int(np.prod(shape, dtype=int))
        parts.append(x[start:start + size].reshape((*shape, *back_shape)))
        start += size
    return tree_util.tree_unflatten(treedef, parts)


def _check_float(tree, who, what):
    for x in tree_util.tree_leaves(tree):
        dt = aval_of(x).dtype
        if not dtypes.is_float(dt) and who == "jacrev":
            raise TypeError(f"jacrev requires real- or complex-valued inputs (input dtype that is a sub-dtype of "
                            f"np.inexact), but got {dt.name}. If you want to use Boolean- or integer-valued inputs, "
                            "use vjp or set allow_int to True.")
        if not dtypes.is_float(dt):
            raise TypeError(f"{who} requires real-valued {what}s (input dtype that is a sub-dtype of np.floating), "
                            f"but got {dt.name}. For holomorphic differentiation, pass holomorphic=True. For "
                            f"differentiation of non-holomorphic functions involving complex {what}s or integer "
                            f"{what}s, use jax.{'jvp' if who == 'jacfwd' else 'vjp'} directly.")


def _jacfwd_traced(fun, argnums, has_aux, args):
    f_partial, dyn = _argnums_partial(fun, argnums, args)
    _check_float(dyn, "jacfwd", "input")
    basis, _ = _std_basis(dyn)

    def pushfwd(t):
        out = jvp(f_partial, dyn, t, has_aux=has_aux)
        return (out[0], out[1], out[2]) if has_aux else (out[0], out[1])
    res = vmap(pushfwd, out_axes=(None, -1, None) if has_aux else (None, -1))(basis)
    y, jac = res[0], res[1]
    example = dyn[0] if isinstance(argnums, int) else dyn
    y_leaves, y_tree = tree_util.tree_flatten(y)
    jac_leaves = tree_util.tree_leaves(jac)
    out = tree_util.tree_unflatten(y_tree, [_split_last(j, example, aval_of(yl).shape)
                                            for yl, j in zip(y_leaves, jac_leaves)])
    return (out, res[2]) if has_aux else out


def _jacrev_traced(fun, argnums, has_aux, args):
    f_partial, dyn = _argnums_partial(fun, argnums, args)
    _check_float(dyn, "jacrev", "input")
    if has_aux:
        y, pullback, aux = vjp(f_partial, *dyn, has_aux=True)
    else:
        (y, pullback), aux = vjp(f_partial, *dyn), None
    for leaf in tree_util.tree_leaves(y):
        dt = aval_of(leaf).dtype
        if not dtypes.is_float(dt):
            raise TypeError(f"jacrev requires real-valued outputs (output dtype that is a sub-dtype of "
                            f"np.floating), but got {dt.name}. For differentiation of functions with integer "
                            "outputs, use jax.vjp directly.")
    basis, _ = _std_basis(y)
    jac = vmap(pullback)(basis)                   # per primal: tree of (N, *leaf.shape)
    jac = jac[0] if isinstance(argnums, int) else jac
    example = dyn[0] if isinstance(argnums, int) else dyn
    # jac: example's structure, leaves (N_out, *in_leaf.shape) -> y's structure of example's structure
    in_leaves, in_tree = tree_util.tree_flatten(example)
    jac_leaves = tree_util.tree_leaves(jac)
    per_in = [_split_first(j, y, aval_of(x).shape) for x, j in zip(in_leaves, jac_leaves)]
    y_leaves, y_tree = tree_util.tree_flatten(y)
    per_in_leaves = [tree_util.tree_leaves(p) for p in per_in]
    out = tree_util.tree_unflatten(y_tree, [tree_util.tree_unflatten(in_tree, [p[k] for p in per_in_leaves])
                                            for k in range(len(y_leaves))])
    return (out, aux) if has_aux else out


def _jacobian(kind, traced_fn, fun, argnums, has_aux, holomorphic):
    if holomorphic:
        raise NotImplementedError(f"{kind}(holomorphic=True): irgrad has no complex dtypes")
    nums = argnums if isinstance(argnums, int) else tuple(argnums)
    key = (kind, fun_key(fun), nums, has_aux)

    def traced(*args):
        return traced_fn(fun, argnums, has_aux, args)

    def transformed(*args):
        argnums_t = argnums_tuple(argnums, len(args))
        return staged(key, traced, argnums_t, f"{kind}_{fun_name(fun)}")(*args)
    return wrap_transformed(transformed, fun, key)


def jacfwd(fun, argnums=0, has_aux=False, holomorphic=False):
    """The Jacobian of `fun` by forward mode: vmap of jvp over the standard basis.

    >>> import irgrad, irgrad.numpy as jnp
    >>> irgrad.jacfwd(lambda x: x ** 2)(jnp.array([1.0, 2.0]))
    Array([[2., 0.],
           [0., 4.]], dtype=float32)
    """
    return _jacobian("jacfwd", _jacfwd_traced, fun, argnums, has_aux, holomorphic)


def jacrev(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """The Jacobian of `fun` by reverse mode: vmap of vjp's pullback over the standard basis.

    >>> import irgrad, irgrad.numpy as jnp
    >>> irgrad.jacrev(lambda x: x ** 2)(jnp.array([1.0, 2.0]))
    Array([[2., 0.],
           [0., 4.]], dtype=float32)
    """
    return _jacobian("jacrev", _jacrev_traced, fun, argnums, has_aux, holomorphic)


jacobian = jacrev


def hessian(fun, argnums=0, has_aux=False, holomorphic=False):
    """The Hessian of scalar `fun`: jacfwd(jacrev(fun)).

    >>> import irgrad, irgrad.numpy as jnp
    >>> irgrad.hessian(lambda x: jnp.sum(x ** 3))(jnp.array([1.0, 2.0]))
    Array([[ 6.,  0.],
           [ 0., 12.]], dtype=float32)
    """
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux, holomorphic=holomorphic), argnums, has_aux=has_aux,
                  holomorphic=holomorphic)
