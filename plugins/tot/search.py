"""The two searches of the Tree-of-Thought paper over a :class:`~.tree.Tree`.

Each returns why it ended on its own (``exhausted`` or ``depth``); a budget, a stop request or a
verified solution shows as ``tree.halted`` instead.
"""

from __future__ import annotations

from pygent_sdk.reasoning import Stopped

from .tree import Node, Tree


async def bfs(tree: Tree) -> Stopped:
    """Breadth first (the paper's bfs.py): from the frontier, propose every child, evaluate the
    layer, keep the best ``breadth``, up to the depth limit."""
    frontier = [tree.root]
    for _ in range(tree.depth):
        fresh = await tree.grow(frontier)
        if tree.halted:
            break
        await tree.evaluate(fresh)
        if tree.halted:
            break
        kept = await tree.select(fresh)
        await tree.answer_finals(kept)
        frontier = [n for n in kept if not n.final and n.status == "kept"]
        if tree.halted:
            break
        if not frontier:
            return "exhausted"
    return "depth"


async def dfs(tree: Tree) -> Stopped:
    """Depth first: expand the most valuable child first, prune children valued below
    ``value_threshold``, backtrack when a subtree is exhausted; ``max_nodes`` is the step limit."""
    return "depth" if await _descend(tree, tree.root) else "exhausted"


async def _descend(tree: Tree, node: Node) -> bool:
    """Search below ``node``; True when some branch reached the depth limit."""
    children = await tree.grow([node])
    if tree.halted:
        return False
    await tree.evaluate(children)
    if tree.halted:
        return False
    kept = await tree.select(children)
    threshold = tree.settings.value_threshold
    for child in kept:
        if (child.value or 0.0) < threshold:
            await tree.prune(child, f"valued {child.value:g}, below the threshold {threshold:g}")
    alive = [c for c in kept if c.status == "kept"]
    await tree.answer_finals(alive)
    reached = False
    for child in alive:
        if tree.halted:
            break
        if child.depth >= tree.depth:  # final: answered above
            reached = True
            continue
        if child.final or child.status != "kept":
            continue
        reached = await _descend(tree, child) or reached
    return reached
