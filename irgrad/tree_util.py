"""irgrad.tree_util: pytrees, as jax.tree_util."""

from irgrad.frontend.tree_util import (  # noqa: F401
    PyTreeDef,
    register_pytree_node,
    register_pytree_node_class,
    tree_all,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_reduce,
    tree_structure,
    tree_unflatten,
)
