"""A property-based test of the graph walk: branches nested in branches.

Hypothesis builds random workflows of plain blocks and CONDITIONAL_BRANCHes,
nested up to three deep, each branch picking one of its paths (or none), with
or without a joining action, paths that end or that edge into the join. The
blocks the engine runs must be, in order, those a plain reading of the
structure gives; the blocks of the paths not taken must be Skipped.
"""

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.workflows.enginekit import CALLS, action, make_workflow
from workflows import engine
from workflows.models import Run, Step

TAGS = itertools.count()  # the examples share one database: a tag each


@dataclass
class Node:
    slug: str
    paths: list[list["Node"]] = field(default_factory=list)  # a branch's paths
    choice: int | None = None  # the path the branch takes; None: none
    # For the last block of a path (a plain block, or a branch's empty path):
    # point at the join this many levels out (None: end, and so go on at the
    # nearest join, as the engine does).
    edge: int | None = None


@st.composite
def sequences(draw, depth: int = 0, names=None) -> list[Node]:
    names = names if names is not None else itertools.count()
    nodes = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 3))):
        node = Node(f"n{next(names)}", edge=draw(st.none() | st.integers(0, 2)))
        if depth < 3 and draw(st.booleans()):
            node.paths = [
                draw(sequences(depth + 1, names))
                for _ in range(draw(st.integers(1, 3)))
            ]
            node.choice = draw(st.none() | st.integers(0, len(node.paths) - 1))
        nodes.append(node)
    return nodes


def descriptor_actions(seq: list[Node], joins=(), root=True) -> list:
    """The actions of a sequence; `joins` are the joins of the branches it is
    inside that have one, innermost last."""
    actions = []
    for i, node in enumerate(seq):
        after = seq[i + 1].slug if i + 1 < len(seq) else None
        last = after is None
        edge = _edge(node, joins) if last else None
        if not node.paths:
            next_ = [after] if after else ([edge] if edge else [])
            actions.append(action(node.slug, "ECHO", next_, root=root and i == 0))
            continue
        # A branch joins at what follows it; the last of a sequence has no join.
        inner = (*joins, after) if after else joins
        targets = [path[0].slug for path in node.paths if path]
        # An empty path points at the branch's join, or (with none) at an outer one:
        empty_to = after or edge
        if empty_to and not all(node.paths):
            targets.append(empty_to)
        if node.choice is None:
            target = None
        else:
            chosen = node.paths[node.choice]
            target = chosen[0].slug if chosen else empty_to
        schema = {"target": target}
        if after:
            schema["joiningAction"] = after
        actions.append(
            action(
                node.slug, "CONDITIONAL_BRANCH", targets, root=root and i == 0, **schema
            )
        )
        for path in node.paths:
            actions += descriptor_actions(path, inner, root=False)
    return actions


def _edge(node: Node, joins) -> str | None:
    if node.edge is None or not joins:
        return None
    return joins[-1 - min(node.edge, len(joins) - 1)]


def _levels(node: Node, joins) -> int:
    """How many joins out the node's edge goes past (0: the nearest)."""
    if node.edge is None or not joins:
        return 0
    return min(node.edge, len(joins) - 1)


def walk(seq: list[Node], joins=()) -> tuple[list[str], int]:
    """What a plain reading runs, in order, and how many joins out the
    sequence's end goes past (its last block's edge)."""
    order = []
    for i, node in enumerate(seq):
        order.append(node.slug)
        after = seq[i + 1].slug if i + 1 < len(seq) else None
        last = after is None
        if node.paths and node.choice is not None:
            inner = (*joins, after) if after else joins
            path = node.paths[node.choice]
            if path:
                ran, up = walk(path, inner)
            else:  # straight to the branch's join, or to an outer one
                ran, up = [], 0 if after else (_levels(node, joins) if last else 0)
            order += ran
            if after and up:
                return order, up - 1  # past this branch's join too
            if not after:
                return order, up
        if last and not node.paths:
            return order, _levels(node, joins)
    return order, 0


def expected_order(seq: list[Node]) -> list[str]:
    return walk(seq)[0]


def skipped(seq: list[Node], joins=()) -> set[str]:
    """The blocks of paths not taken, and of joins (and what follows them
    in their sequence) that the walk went past."""
    ran = set(expected_order_from(seq, joins))
    return {n.slug for n in _all(seq)} - ran


def expected_order_from(seq, joins):
    return walk(seq, joins)[0]


def _all(seq: list[Node]):
    for node in seq:
        yield node
        for path in node.paths:
            yield from _all(path)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=150,
    derandomize=True,  # the same workflows every run: CI stays reproducible
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seq=sequences())
def test_nested_branches_run_the_blocks_a_plain_reading_gives(
    seq, ws, grace, test_blocks
):
    CALLS.clear()
    actions = descriptor_actions(seq)
    workflow = make_workflow(ws, actions, tag=f"wf-{next(TAGS)}")
    run = engine.start(workflow=workflow, initiator=grace)
    for _ in range(20):
        run.refresh_from_db()
        if run.status != Run.Status.IN_PROGRESS:
            break
        engine.advance(run.pk)

    assert run.status == Run.Status.COMPLETED, (run.error, actions)
    assert expected_order(seq) == CALLS, actions
    statuses = dict(Step.objects.filter(run=run).values_list("slug", "status"))
    assert {s for s, status in statuses.items() if status == "COMPLETED"} == set(
        expected_order(seq)
    )
    # Every other block is Skipped: none is left without a status.
    assert {s for s, status in statuses.items() if status == "SKIPPED"} == skipped(seq)
