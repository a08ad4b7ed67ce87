"""Pytree utilities compatible with ``jax.tree_util``.

A *pytree* is a nested structure of containers (nodes) whose non-container
parts are *leaves*.  Built-in nodes are ``tuple``, ``list``, ``dict`` (children
in sorted-key order), ``None`` (a node with no children, so never a leaf),
namedtuples, ``collections.OrderedDict`` (insertion order) and
``collections.defaultdict`` (sorted-key order).  Further node types can be
added with :func:`register_pytree_node` or :func:`register_pytree_node_class`.
Everything else (including subclasses of the built-in containers that are not
registered themselves) is a leaf.

Flattening a pytree gives its leaves in depth-first, left-to-right order plus a
:class:`PyTreeDef` describing the structure; the two together rebuild the tree.

This module deliberately imports nothing from the rest of the project.
"""

from __future__ import annotations

import collections
import difflib
import functools
import textwrap
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

__all__ = [
    "PyTreeDef",
    "register_pytree_node",
    "register_pytree_node_class",
    "tree_all",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_reduce",
    "tree_structure",
    "tree_unflatten",
]


# --------------------------------------------------------------------------
# Node registry: node type -> (flatten, unflatten)
# --------------------------------------------------------------------------


class _NodeSpec(NamedTuple):
    flatten: Callable[[Any], tuple[Iterable[Any], Any]]  # x -> (children, aux_data)
    unflatten: Callable[[Any, tuple], Any]  # (aux_data, children) -> x


def _sorted_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:
        raise ValueError("Comparator raised exception while sorting pytree dictionary keys.") from None


def _flatten_dict(d: dict) -> tuple[tuple, tuple]:
    keys = _sorted_keys(d)
    return tuple(d[k] for k in keys), keys


def _unflatten_dict(keys: tuple, children: tuple) -> dict:
    return dict(zip(keys, children, strict=True))


def _flatten_ordered_dict(d: collections.OrderedDict) -> tuple[tuple, tuple]:
    return tuple(d.values()), tuple(d)


def _unflatten_ordered_dict(keys: tuple, children: tuple) -> collections.OrderedDict:
    return collections.OrderedDict(zip(keys, children, strict=True))


def _flatten_default_dict(d: collections.defaultdict) -> tuple[tuple, tuple]:
    keys = _sorted_keys(d)
    return tuple(d[k] for k in keys), (d.default_factory, keys)


def _unflatten_default_dict(aux: tuple, children: tuple) -> collections.defaultdict:
    default_factory, keys = aux
    return collections.defaultdict(default_factory, zip(keys, children, strict=True))


# The node table.  Namedtuples are handled by _node_spec (any tuple subclass with ``_fields``).
_REGISTRY: dict[type, _NodeSpec] = {
    tuple: _NodeSpec(lambda t: (t, None), lambda _, children: tuple(children)),
    list: _NodeSpec(lambda xs: (xs, None), lambda _, children: list(children)),
    dict: _NodeSpec(_flatten_dict, _unflatten_dict),
    type(None): _NodeSpec(lambda _: ((), None), lambda _, children: None),
    collections.OrderedDict: _NodeSpec(_flatten_ordered_dict, _unflatten_ordered_dict),
    collections.defaultdict: _NodeSpec(_flatten_default_dict, _unflatten_default_dict),
}


def is_namedtuple_type(t: type) -> bool:
    """Whether ``t`` is a namedtuple class (a node with its fields as keys)."""
    return issubclass(t, tuple) and hasattr(t, "_fields")


def _node_spec(t: type) -> _NodeSpec | None:
    """The spec for node type ``t``, or None when values of type ``t`` are leaves."""
    spec = _REGISTRY.get(t)
    if spec is None and is_namedtuple_type(t):
        spec = _NodeSpec(lambda nt: (tuple(nt), None), lambda _, children: t(*children))
    return spec


def register_pytree_node(
    nodetype: type,
    flatten_func: Callable[[Any], tuple[Iterable[Any], Any]],
    unflatten_func: Callable[[Any, tuple], Any],
) -> None:
    """Register ``nodetype`` as a pytree node.

    ``flatten_func(x)`` returns ``(children, aux_data)``; ``aux_data`` must be
    hashable and comparable, it becomes part of the :class:`PyTreeDef`.
    ``unflatten_func(aux_data, children)`` rebuilds the value (``children`` is
    a tuple).

    Example::

        >>> class Pair:
        ...     def __init__(self, a, b):
        ...         self.a, self.b = a, b
        >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, ch: Pair(*ch))
        >>> tree_leaves(Pair(1, [2, 3]))
        [1, 2, 3]
    """
    if nodetype in _REGISTRY:
        raise ValueError(f"Duplicate custom PyTreeDef type registration for {nodetype}.")
    _REGISTRY[nodetype] = _NodeSpec(flatten_func, unflatten_func)


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: register ``cls`` using its ``tree_flatten`` / ``tree_unflatten`` methods.

    Example::

        >>> @register_pytree_node_class
        ... class Box:
        ...     def __init__(self, x):
        ...         self.x = x
        ...     def tree_flatten(self):
        ...         return (self.x,), None
        ...     @classmethod
        ...     def tree_unflatten(cls, aux_data, children):
        ...         return cls(*children)
        >>> tree_structure(Box((1, 2)))
        PyTreeDef(CustomNode(Box[None], [(*, *)]))
    """
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


# --------------------------------------------------------------------------
# PyTreeDef
# --------------------------------------------------------------------------


class PyTreeDef:
    """Immutable description of a pytree's structure (everything except the leaves).

    A leaf is represented by ``node_type is None``; every other PyTreeDef is a
    node with a type, its aux data and one child PyTreeDef per child.
    PyTreeDefs are hashable and compare equal when node types, aux data and
    child structures are equal, so they can be used as cache keys.

    Example::

        >>> treedef = tree_structure({"b": 1, "a": (2, 3)})
        >>> treedef
        PyTreeDef({'a': (*, *), 'b': *})
        >>> treedef.num_leaves, treedef.num_nodes
        (3, 5)
        >>> treedef.unflatten([10, 20, 30])
        {'a': (10, 20), 'b': 30}
    """

    __slots__ = ("_aux", "_children", "_hash", "_node_type", "num_leaves", "num_nodes")

    def __init__(self, node_type: type | None, aux: Any = None, children: tuple[PyTreeDef, ...] = ()):
        self._node_type = node_type
        self._aux = aux
        self._children = tuple(children)
        if node_type is None:
            self.num_leaves, self.num_nodes = 1, 1
        else:
            self.num_leaves = sum(c.num_leaves for c in self._children)
            self.num_nodes = 1 + sum(c.num_nodes for c in self._children)
        self._hash: int | None = None

    # -- structure queries ------------------------------------------------
    def children(self) -> list[PyTreeDef]:
        """The child PyTreeDefs (empty for a leaf).

        Example::

            >>> tree_structure((1, [2, 3])).children()
            [PyTreeDef(*), PyTreeDef([*, *])]
        """
        return list(self._children)

    def node_data(self) -> tuple[type, Any] | None:
        """(node type, aux data) of the root, or None for a leaf (as JAX's).

        Example::

            >>> tree_structure({"a": 1}).node_data()
            (<class 'dict'>, ('a',))
        """
        return None if self._node_type is None else (self._node_type, self._aux)

    # -- rebuilding -------------------------------------------------------
    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Build a pytree with this structure from ``leaves`` (same as :func:`tree_unflatten`).

        Example::

            >>> tree_structure([1, (2, 3)]).unflatten("abc")
            ['a', ('b', 'c')]
        """
        leaves = list(leaves)
        if len(leaves) < self.num_leaves:
            raise ValueError(f"Too few leaves for PyTreeDef; expected {self.num_leaves}, got {len(leaves)}")
        if len(leaves) > self.num_leaves:
            raise ValueError(f"Too many leaves for PyTreeDef; expected {self.num_leaves}, got {len(leaves)}.")
        return self._build(iter(leaves))

    def _build(self, leaves: Iterator[Any]) -> Any:
        if self._node_type is None:
            return next(leaves)
        children = tuple(c._build(leaves) for c in self._children)
        return _node_spec(self._node_type).unflatten(self._aux, children)

    def flatten_up_to(self, tree: Any) -> list[Any]:
        """Flatten ``tree`` only as far as this structure goes.

        ``self`` must be a prefix of ``tree``'s structure: where ``self`` has a
        leaf, the whole corresponding subtree of ``tree`` becomes one output.
        Raises ValueError (worded like JAX's ``tree_map`` errors) on a mismatch.

        Example::

            >>> tree_structure((1, 2)).flatten_up_to(([3, 4], None))
            [[3, 4], None]
        """
        out: list[Any] = []
        self._flatten_up_to(tree, "tree", "", out)
        return out

    def _flatten_up_to(self, tree: Any, name: str, path: str, out: list[Any]) -> None:
        nt = self._node_type
        if nt is None:
            out.append(tree)
            return

        def error(kind: str, detail: str) -> ValueError:
            return ValueError(
                f"pytree structure error: {kind} at key path\n    {name}{path}\n"
                f"At that key path, the prefix pytree {name} has a subtree of type{detail}"
            )

        if type(tree) is not nt:
            raise error(
                "different types",
                f"\n    {nt}\nbut at the same key path the full pytree has a subtree of different type\n"
                f"    {type(tree)}.",
            )
        children, aux = _node_spec(nt).flatten(tree)
        children = tuple(children)
        if issubclass(nt, (list, tuple)) and len(children) != len(self._children):
            raise error(
                f"different lengths of {nt.__name__}",
                f" {nt.__name__} of length {len(self._children)}, but the full pytree has a subtree "
                f"of the same type but of length {len(children)}.",
            )
        if len(children) != len(self._children):
            mine = _child_keys(nt, self._aux, len(self._children))
            theirs = _child_keys(nt, aux, len(children))
            diff = " ".join(str(k) for k in set(mine).symmetric_difference(theirs))
            raise error(
                "different numbers of pytree children",
                f"\n    {nt}\nwith {len(mine)} child keys\n    {' '.join(map(str, mine))}\n"
                f"but at the same key path the full pytree has a subtree of the same type but with "
                f"{len(theirs)} child keys\n    {' '.join(map(str, theirs))}\n"
                f"so the symmetric difference on key sets is\n    {diff}",
            )
        if aux != self._aux:
            ndiff = "\n".join(difflib.ndiff(str(self._aux).splitlines(), str(aux).splitlines()))
            raise error(
                "different pytree metadata",
                f"\n    {nt}\nwith metadata\n    {self._aux}\nbut at the same key path the full pytree "
                f"has a subtree of the same type but with metadata\n    {aux}\n"
                f"so the diff in the metadata at these pytree nodes is\n{textwrap.indent(ndiff, '    ')}",
            )
        keys = _child_keys(nt, aux, len(children))
        for key, child_def, child in zip(keys, self._children, children, strict=True):
            child_def._flatten_up_to(child, name, path + _keystr(nt, key), out)

    # -- identity ---------------------------------------------------------
    def _key(self) -> tuple:
        return (self._node_type, self._aux, self._children)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._key())
        return self._hash

    def __repr__(self) -> str:
        return f"PyTreeDef({self._repr_body()})"

    def _repr_body(self) -> str:
        nt = self._node_type
        parts = [c._repr_body() for c in self._children]
        if nt is None:
            return "*"
        if nt is type(None):
            return "None"
        if nt is tuple:
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        if nt is list:
            return "[" + ", ".join(parts) + "]"
        if nt is dict:
            return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(self._aux, parts, strict=True)) + "}"
        name = f"namedtuple[{nt.__name__}]" if is_namedtuple_type(nt) else f"{nt.__name__}[{self._aux}]"
        return f"CustomNode({name}, [{', '.join(parts)}])"


def _child_keys(node_type: type, aux: Any, n: int) -> list[Any]:
    """The keys naming each child of a node (field names, indices or dict keys), for error messages."""
    if is_namedtuple_type(node_type):
        return list(node_type._fields)
    if node_type in (dict, collections.OrderedDict):
        return list(aux)
    if node_type is collections.defaultdict:
        return list(aux[1])
    return list(range(n))


def _keystr(node_type: type, key: Any) -> str:
    """One key-path step, written like JAX's ``keystr``."""
    if is_namedtuple_type(node_type):
        return f".{key}"
    if node_type in (tuple, list):
        return f"[{key}]"
    if node_type in (dict, collections.OrderedDict, collections.defaultdict):
        return f"[{key!r}]"
    return f"[<flat index {key}>]"


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def leaf_paths(treedef: PyTreeDef, prefix: str = "") -> Iterator[str]:
    """The key path of each leaf of ``treedef``, written like JAX's ``keystr``.

    Example::

        >>> list(leaf_paths(tree_structure(({"w": 1}, [2])), "args"))
        ["args[0]['w']", 'args[1][0]']
    """
    if treedef._node_type is None:
        yield prefix
        return
    keys = _child_keys(treedef._node_type, treedef._aux, len(treedef._children))
    for key, child in zip(keys, treedef._children):
        yield from leaf_paths(child, prefix + _keystr(treedef._node_type, key))


def _structure_and_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None, leaves: list[Any]) -> PyTreeDef:
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return _LEAF
    spec = _node_spec(type(tree))
    if spec is None:
        leaves.append(tree)
        return _LEAF
    children, aux = spec.flatten(tree)
    child_defs = tuple(_structure_and_leaves(c, is_leaf, leaves) for c in children)
    return PyTreeDef(type(tree), aux, child_defs)


_LEAF = PyTreeDef(None)


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], PyTreeDef]:
    """Flatten ``tree`` into ``(leaves, treedef)``.

    ``is_leaf``, if given, is called on every subtree first; returning True
    makes that subtree a leaf.

    Example::

        >>> tree_flatten({"b": 1, "a": [2, None]})
        ([2, 1], PyTreeDef({'a': [*, None], 'b': *}))
    """
    leaves: list[Any] = []
    treedef = _structure_and_leaves(tree, is_leaf, leaves)
    return leaves, treedef


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a pytree from ``treedef`` and an iterable of leaves.

    Raises ValueError if the number of leaves differs from ``treedef.num_leaves``.

    Example::

        >>> leaves, treedef = tree_flatten((1, {"x": 2}))
        >>> tree_unflatten(treedef, [10, 20])
        (10, {'x': 20})
    """
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree`` in flattening order.

    Example::

        >>> tree_leaves([1, (2, None), {"z": 3, "y": 4}])
        [1, 2, 4, 3]
    """
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The :class:`PyTreeDef` of ``tree``.

    Example::

        >>> tree_structure((1, [2, 3]))
        PyTreeDef((*, [*, *]))
    """
    return tree_flatten(tree, is_leaf)[1]


def tree_map(
    f: Callable[..., Any], tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None
) -> Any:
    """Apply ``f`` leaf-wise and rebuild a tree with ``tree``'s structure.

    Every tree in ``rest`` must have ``tree``'s structure as a prefix (usually
    they are identical); where ``tree`` has a leaf, the whole matching subtree
    of each ``rest`` tree is passed to ``f``.  A mismatch raises ValueError.

    Example::

        >>> tree_map(lambda x, y: x + y, {"a": 1, "b": (2, 3)}, {"a": 10, "b": (20, 30)})
        {'a': 11, 'b': (22, 33)}
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    all_leaves = [leaves]
    for r in rest:
        out: list[Any] = []
        treedef._flatten_up_to(r, "tree_map tree", "", out)
        all_leaves.append(out)
    return treedef.unflatten(f(*xs) for xs in zip(*all_leaves, strict=True))


class _NoInitializer:
    def __repr__(self) -> str:
        return "<no initializer>"


_NO_INITIALIZER = _NoInitializer()


def tree_reduce(
    function: Callable[[Any, Any], Any],
    tree: Any,
    initializer: Any = _NO_INITIALIZER,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """``functools.reduce`` over the leaves of ``tree``.

    Example::

        >>> tree_reduce(lambda a, b: a + b, [1, (2, 3)])
        6
        >>> tree_reduce(lambda a, b: a + b, [], initializer=0)
        0
    """
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INITIALIZER:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True if every leaf of ``tree`` is truthy (True for a tree without leaves).

    Example::

        >>> tree_all([True, (1, None)]), tree_all({"a": 0})
        (True, False)
    """
    return all(tree_leaves(tree, is_leaf))
