"""Tests for frontend/tree_util.py, using jax.tree_util as the oracle."""

from __future__ import annotations

import ast
import collections
import pathlib
import sys

import jax.tree_util as jtu
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    from irgrad.frontend import tree_util as tu
except ImportError:
    from frontend import tree_util as tu


# --------------------------------------------------------------------------
# Custom node types, registered identically with both implementations.
# --------------------------------------------------------------------------

Point = collections.namedtuple("Point", ["x", "y"])
Other = collections.namedtuple("Other", ["x", "y"])


class Pair:
    """Registered with register_pytree_node; ``name`` is aux data."""

    def __init__(self, a, b, name="p"):
        self.a, self.b, self.name = a, b, name

    def __eq__(self, other):
        return type(other) is Pair and (self.a, self.b, self.name) == (other.a, other.b, other.name)

    def __repr__(self):
        return f"Pair({self.a!r}, {self.b!r}, {self.name!r})"


def _pair_flatten(p):
    return (p.a, p.b), p.name


def _pair_unflatten(name, children):
    assert isinstance(children, tuple)
    return Pair(*children, name=name)


tu.register_pytree_node(Pair, _pair_flatten, _pair_unflatten)
jtu.register_pytree_node(Pair, _pair_flatten, _pair_unflatten)


class Box:
    """Registered with register_pytree_node_class (with both implementations)."""

    def __init__(self, value, tag="box"):
        self.value, self.tag = value, tag

    def tree_flatten(self):
        return (self.value,), self.tag

    @classmethod
    def tree_unflatten(cls, tag, children):
        return cls(*children, tag=tag)

    def __eq__(self, other):
        return type(other) is Box and (self.value, self.tag) == (other.value, other.tag)


assert tu.register_pytree_node_class(Box) is Box
jtu.register_pytree_node_class(Box)


class DictSubclass(dict):
    pass


class TupleSubclass(tuple):
    pass


# Trees covering every node kind; all leaves are distinct so order mistakes show.
TREES = {
    "leaf": 1,
    "none": None,
    "empty_tuple": (),
    "empty_list": [],
    "empty_dict": {},
    "singleton_tuple": (1,),
    "flat_tuple": (1, 2, 3),
    "nested_list": [1, [2, [3, 4]], 5],
    "dict_unsorted": {"b": 1, "a": 2, "c": 3},
    "dict_nested": {"z": (1, 2), "a": {"y": 3, "x": [4, 5]}},
    "dict_int_keys": {3: "c", 1: "a", 2: "b"},
    "dict_tuple_keys": {(1, 2): 1, (0, 5): 2},
    "none_inside": [1, None, (None, 2), {"k": None}],
    "namedtuple": Point(1, (2, 3)),
    "namedtuple_nested": [Point(Point(1, 2), None), Other(3, 4)],
    "ordered_dict": collections.OrderedDict([("b", 1), ("a", 2)]),
    "default_dict": collections.defaultdict(list, {"b": 1, "a": [2, 3]}),
    "registered": Pair(1, [2, 3], name="q"),
    "registered_class": Box({"v": (1, 2)}, tag="t"),
    "registered_nested": [Pair(Box(1), Pair(2, 3)), {"p": Pair(None, 4)}],
    "unregistered_subclasses": [DictSubclass(a=1), TupleSubclass((2, 3))],
    "strings_are_leaves": ["abc", b"de", 1.5, True],
    "mixed": ({"w": [np.float32(1.0)], "b": None}, [Point(2, 3), collections.OrderedDict(z=4, a=5)]),
}


# --------------------------------------------------------------------------
# Flatten / structure / round trip, compared with JAX
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TREES))
def test_flatten_matches_jax(name):
    tree = TREES[name]
    leaves, treedef = tu.tree_flatten(tree)
    jleaves, jtreedef = jtu.tree_flatten(tree)
    assert leaves == jleaves
    assert [type(x) for x in leaves] == [type(x) for x in jleaves]
    assert tu.tree_leaves(tree) == jleaves
    assert repr(treedef) == repr(jtreedef)
    assert repr(tu.tree_structure(tree)) == repr(jtreedef)
    assert treedef.num_leaves == jtreedef.num_leaves == len(leaves)
    assert treedef.num_nodes == jtreedef.num_nodes
    assert [repr(c) for c in treedef.children()] == [repr(c) for c in jtreedef.children()]


@pytest.mark.parametrize("name", list(TREES))
def test_round_trip_matches_jax(name):
    tree = TREES[name]
    leaves, treedef = tu.tree_flatten(tree)
    new_leaves = [f"leaf{i}" for i in range(len(leaves))]
    rebuilt = tu.tree_unflatten(treedef, new_leaves)
    expected = jtu.tree_unflatten(jtu.tree_structure(tree), new_leaves)
    assert type(rebuilt) is type(expected)
    assert rebuilt == expected
    assert treedef.unflatten(iter(new_leaves)) == expected
    # Unflattening the original leaves gives back an equal tree (dicts: same items).
    assert tu.tree_unflatten(treedef, leaves) == tree
    assert tu.tree_structure(rebuilt) == treedef


def test_dict_rebuilt_in_sorted_key_order_like_jax():
    tree = {"b": 1, "a": 2}
    rebuilt = tu.tree_unflatten(tu.tree_structure(tree), [10, 20])
    assert list(rebuilt.items()) == [("a", 10), ("b", 20)]
    assert list(rebuilt) == list(jtu.tree_unflatten(jtu.tree_structure(tree), [10, 20]))
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    rebuilt_od = tu.tree_unflatten(tu.tree_structure(od), [10, 20])
    assert type(rebuilt_od) is collections.OrderedDict
    assert list(rebuilt_od.items()) == [("b", 10), ("a", 20)]


def test_default_dict_keeps_default_factory():
    rebuilt = tu.tree_map(lambda x: x, TREES["default_dict"])
    assert type(rebuilt) is collections.defaultdict
    assert rebuilt.default_factory is list
    assert rebuilt["missing"] == []


@pytest.mark.parametrize(
    ("tree", "expected_repr"),
    [
        ((1, 2), "PyTreeDef((*, *))"),
        ((1,), "PyTreeDef((*,))"),
        ([1, [2, None]], "PyTreeDef([*, [*, None]])"),
        ({"b": 1, "a": (2, 3)}, "PyTreeDef({'a': (*, *), 'b': *})"),
        (None, "PyTreeDef(None)"),
        (5, "PyTreeDef(*)"),
        (Point(1, 2), "PyTreeDef(CustomNode(namedtuple[Point], [*, *]))"),
        (Pair(1, 2, "n"), "PyTreeDef(CustomNode(Pair[n], [*, *]))"),
    ],
)
def test_repr(tree, expected_repr):
    assert repr(tu.tree_structure(tree)) == expected_repr == repr(jtu.tree_structure(tree))


def test_unsortable_dict_keys_raise_value_error():
    with pytest.raises(ValueError, match="sorting pytree dictionary keys") as mine:
        tu.tree_flatten({1: 1, "a": 2})
    with pytest.raises(ValueError) as theirs:
        jtu.tree_flatten({1: 1, "a": 2})
    assert str(mine.value) == str(theirs.value)


# --------------------------------------------------------------------------
# None handling and is_leaf
# --------------------------------------------------------------------------


def test_none_is_a_node_without_children():
    treedef = tu.tree_structure(None)
    assert tu.tree_leaves(None) == [] == jtu.tree_leaves(None)
    assert (treedef.num_leaves, treedef.num_nodes) == (0, 1)
    assert treedef.children() == []
    assert tu.tree_unflatten(treedef, []) is None
    assert tu.tree_leaves([1, None, 2]) == [1, 2]
    assert tu.tree_map(lambda x: x * 10, (1, None, {"a": None, "b": 2})) == (10, None, {"a": None, "b": 20})
    assert tu.tree_structure((None,)) != tu.tree_structure((1,))


@pytest.mark.parametrize(
    ("tree", "is_leaf"),
    [
        ([1, (2, 3)], lambda x: isinstance(x, tuple)),
        ([None, 1, (None,)], lambda x: x is None),
        ({"a": Point(1, 2), "b": [3]}, lambda x: isinstance(x, Point)),
        ([1, [2, [3]]], lambda x: isinstance(x, list) and len(x) == 1),
        ((1, 2), lambda x: isinstance(x, tuple)),  # the root itself becomes a leaf
    ],
)
def test_is_leaf_matches_jax(tree, is_leaf):
    leaves, treedef = tu.tree_flatten(tree, is_leaf=is_leaf)
    jleaves, jtreedef = jtu.tree_flatten(tree, is_leaf=is_leaf)
    assert leaves == jleaves
    assert repr(treedef) == repr(jtreedef)
    assert tu.tree_leaves(tree, is_leaf=is_leaf) == jleaves
    assert repr(tu.tree_structure(tree, is_leaf=is_leaf)) == repr(jtreedef)
    assert tu.tree_unflatten(treedef, leaves) == tree
    f = lambda x: ("seen", x)
    assert tu.tree_map(f, tree, is_leaf=is_leaf) == jtu.tree_map(f, tree, is_leaf=is_leaf)


# --------------------------------------------------------------------------
# PyTreeDef equality and hashing
# --------------------------------------------------------------------------

STRUCTURE_PAIRS = [
    ((1, 2), ("a", "b")),  # same structure, different leaves
    ((1, 2), [1, 2]),  # tuple vs list
    ((1, 2), (1, 2, 3)),  # different arity
    ({"b": 1, "a": 2}, {"a": 3, "b": 4}),  # dict insertion order is irrelevant
    ({"a": 1}, {"b": 1}),  # different keys
    ({"a": 1}, collections.OrderedDict(a=1)),  # dict vs OrderedDict
    (collections.OrderedDict(a=1, b=2), collections.OrderedDict(b=1, a=2)),  # order matters
    (None, ()),  # no children, different node types
    (None, 1),  # None is not a leaf
    (Point(1, 2), (1, 2)),  # namedtuple vs tuple
    (Point(1, 2), Other(1, 2)),  # different namedtuple classes
    (Point(1, (2, 3)), Point(4, (5, 6))),
    (Pair(1, 2, "x"), Pair(3, 4, "x")),  # same aux data
    (Pair(1, 2, "x"), Pair(1, 2, "y")),  # different aux data
    (Box(1), Box([1])),  # different child structure
    (1, np.ones(3)),  # all leaves look alike
    ([1, [2, None]], [1, [2, None]]),
]


@pytest.mark.parametrize(("a", "b"), STRUCTURE_PAIRS)
def test_structure_equality_and_hash_match_jax(a, b):
    sa, sb = tu.tree_structure(a), tu.tree_structure(b)
    expected = jtu.tree_structure(a) == jtu.tree_structure(b)
    assert (sa == sb) is expected
    assert (sa != sb) is (not expected)
    assert sa == tu.tree_structure(a)  # equal to a freshly built copy
    assert hash(sa) == hash(tu.tree_structure(a))
    if expected:
        assert hash(sa) == hash(sb)
        assert len({sa, sb}) == 1


def test_treedef_usable_as_cache_key():
    cache = {tu.tree_structure({"x": 1, "y": (2, 3)}): "entry"}
    assert cache[tu.tree_structure({"y": ("a", "b"), "x": "c"})] == "entry"
    assert tu.tree_structure({"x": 1, "y": [2, 3]}) not in cache
    assert tu.tree_structure(1) != 1  # comparing with a non-treedef is just False


def test_children():
    treedef = tu.tree_structure({"a": (1, 2), "b": 3})
    assert treedef.children() == [tu.tree_structure((0, 0)), tu.tree_structure(0)]
    assert tu.tree_structure(5).children() == []
    assert tu.tree_structure(Point(1, (2, 3))).children() == [tu.tree_structure(1), tu.tree_structure((2, 3))]


# --------------------------------------------------------------------------
# tree_map over several trees
# --------------------------------------------------------------------------

MAP_CASES = [
    (lambda x, y: x + y, ({"a": 1, "b": (2, 3)}, {"b": (20, 30), "a": 10})),
    (lambda x, y, z: x * y - z, ([1, [2, 3]], [4, [5, 6]], [7, [8, 9]])),
    (lambda x, y: (x, y), ((1, 2), ((3, 4), None))),  # first tree is a prefix of the second
    (lambda p, q: p * q, (Point(1, 2), Point(3, 4))),
    (lambda p, q: p + q, (Pair(1, [2], "n"), Pair(10, [20], "n"))),
    (lambda p, q: p - q, (Box((5, 6)), Box((1, 2)))),
    (lambda x, y: x, ((1, None), (2, None))),
    (lambda x: -x, ({"w": np.arange(3.0), "b": 2.0},)),
    (lambda: 0, ((),)),
]


@pytest.mark.parametrize(("f", "trees"), MAP_CASES)
def test_tree_map_matches_jax(f, trees):
    got = tu.tree_map(f, *trees)
    expected = jtu.tree_map(f, *trees)
    assert repr(tu.tree_structure(got)) == repr(jtu.tree_structure(expected))
    for g, e in zip(tu.tree_leaves(got), jtu.tree_leaves(expected), strict=True):
        np.testing.assert_array_equal(g, e)


def test_tree_map_values():
    assert tu.tree_map(lambda x, y: x + y, {"a": 1, "b": (2, 3)}, {"a": 10, "b": (20, 30)}) == {
        "a": 11,
        "b": (22, 33),
    }
    assert tu.tree_map(lambda x, y: (x, y), (1, 2), ((3, 4), 5)) == ((1, (3, 4)), (2, 5))
    assert tu.tree_map(lambda x: x + 1, Pair(1, 2, "n")) == Pair(2, 3, "n")


def test_flatten_up_to():
    treedef = tu.tree_structure((1, {"a": 2}))
    assert treedef.flatten_up_to(([3, 4], {"a": None})) == [[3, 4], None]
    jtreedef = jtu.tree_structure((1, {"a": 2}))
    assert jtreedef.flatten_up_to(([3, 4], {"a": None})) == [[3, 4], None]


# Mismatched structures: the ValueError text is compared verbatim with JAX's.
MISMATCHES = [
    ((1, 2), [1, 2]),
    ((1, 2), (1, 2, 3)),
    ([1, 2], [1]),
    ({"a": 1}, {"b": 1}),
    ({"a": 1}, {"a": 1, "b": 2}),
    ({"a": 1, "b": 2}, {"a": 1, "c": 2}),
    ({"a": [1, (2, 3)]}, {"a": [1, (2, 3, 4)]}),
    ((1, None), (1, 2)),
    ({"a": 1}, collections.OrderedDict(a=1)),
    (collections.OrderedDict(a=1, b=2), collections.OrderedDict(b=1, a=2)),
    (Point(1, 2), (1, 2)),
    (Pair(1, 2, "x"), Pair(1, 2, "y")),
    (Pair(1, (2,)), Pair(1, (2, 3))),
]


@pytest.mark.parametrize(("a", "b"), MISMATCHES)
def test_tree_map_mismatch_error_matches_jax(a, b):
    with pytest.raises(ValueError, match="pytree structure error") as mine:
        tu.tree_map(lambda x, y: x, a, b)
    with pytest.raises(ValueError) as theirs:
        jtu.tree_map(lambda x, y: x, a, b)
    assert str(mine.value) == str(theirs.value)


def test_tree_map_mismatch_in_third_tree():
    with pytest.raises(ValueError, match="different lengths of list"):
        tu.tree_map(lambda x, y, z: x, [1, 2], [1, 2], [1])


def test_namedtuple_mismatch_reports_the_right_field():
    # JAX 0.10.2 names ".x" here although the mismatch is in field y; we report ".y".
    with pytest.raises(ValueError) as mine:
        tu.tree_map(lambda x, y: x, Point(1, (2, 3)), Point(1, [2, 3]))
    assert str(mine.value).splitlines()[:2] == [
        "pytree structure error: different types at key path",
        "    tree_map tree.y",
    ]


# --------------------------------------------------------------------------
# tree_unflatten leaf-count errors
# --------------------------------------------------------------------------


def test_unflatten_too_few_leaves():
    with pytest.raises(ValueError) as mine:
        tu.tree_unflatten(tu.tree_structure((1, 2)), [1])
    with pytest.raises(ValueError) as theirs:
        jtu.tree_unflatten(jtu.tree_structure((1, 2)), [1])
    assert str(mine.value) == str(theirs.value) == "Too few leaves for PyTreeDef; expected 2, got 1"


def test_unflatten_too_many_leaves():
    with pytest.raises(ValueError) as mine:
        tu.tree_unflatten(tu.tree_structure((1, 2)), [1, 2, 3])
    with pytest.raises(ValueError) as theirs:
        jtu.tree_unflatten(jtu.tree_structure((1, 2)), [1, 2, 3])
    # JAX says "...; expected 2."; we also say how many we got.
    assert str(theirs.value) == "Too many leaves for PyTreeDef; expected 2."
    assert str(mine.value) == "Too many leaves for PyTreeDef; expected 2, got 3."
    with pytest.raises(ValueError, match="Too many leaves"):
        tu.tree_unflatten(tu.tree_structure(None), [1])


# --------------------------------------------------------------------------
# tree_reduce / tree_all
# --------------------------------------------------------------------------

REDUCE_CASES = [
    (lambda a, b: a + b, [1, (2, 3), {"x": 4}], {}),
    (lambda a, b: a + b, [1, (2, 3)], {"initializer": 10}),
    (lambda a, b: a + b, [], {"initializer": 0}),
    (lambda a, b: a + [b], {"b": 1, "a": 2}, {"initializer": []}),  # order follows sorted keys
    (max, Point(3, (7, 1)), {}),
    (lambda a, b: a + b, [[1], [2]], {"is_leaf": lambda x: isinstance(x, list) and len(x) == 1}),
]


@pytest.mark.parametrize(("f", "tree", "kwargs"), REDUCE_CASES)
def test_tree_reduce_matches_jax(f, tree, kwargs):
    assert tu.tree_reduce(f, tree, **kwargs) == jtu.tree_reduce(f, tree, **kwargs)


def test_tree_reduce_values_and_empty_error():
    assert tu.tree_reduce(lambda a, b: a + b, [1, (2, 3)]) == 6
    assert tu.tree_reduce(lambda a, b: a + [b], {"b": 1, "a": 2}, []) == [2, 1]
    with pytest.raises(TypeError):
        tu.tree_reduce(lambda a, b: a + b, [None, ()])


@pytest.mark.parametrize(
    "tree", [[True, (1, None)], {"a": 0}, [], None, [1, [2, [0]]], Pair(1, 2), ["", "x"]]
)
def test_tree_all_matches_jax(tree):
    assert tu.tree_all(tree) is jtu.tree_all(tree)


def test_tree_all_values_and_is_leaf():
    assert tu.tree_all([True, (1, None)]) is True
    assert tu.tree_all({"a": 0, "b": 1}) is False
    assert tu.tree_all([]) is True
    assert tu.tree_all([[0], 1], is_leaf=lambda x: isinstance(x, list) and len(x) == 1) is True


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------


def test_registered_node_flatten_and_unflatten():
    leaves, treedef = tu.tree_flatten(Pair(1, [2, 3], name="q"))
    assert leaves == [1, 2, 3]
    assert repr(treedef) == "PyTreeDef(CustomNode(Pair[q], [*, [*, *]]))"
    assert treedef.unflatten([7, 8, 9]) == Pair(7, [8, 9], name="q")
    box = tu.tree_map(lambda x: x * 2, Box({"v": (1, 2)}, tag="t"))
    assert box == Box({"v": (2, 4)}, tag="t")


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="Duplicate custom PyTreeDef type registration"):
        tu.register_pytree_node(Pair, _pair_flatten, _pair_unflatten)
    with pytest.raises(ValueError, match="Duplicate custom PyTreeDef type registration"):
        tu.register_pytree_node(tuple, lambda t: (t, None), lambda _, c: tuple(c))


def test_unregistered_subclasses_are_leaves():
    tree = [DictSubclass(a=1), TupleSubclass((2, 3))]
    assert tu.tree_leaves(tree) == tree == jtu.tree_leaves(tree)


# --------------------------------------------------------------------------
# The module must stay self-contained
# --------------------------------------------------------------------------


def test_module_has_no_project_imports():
    source = (ROOT / "frontend" / "tree_util.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
