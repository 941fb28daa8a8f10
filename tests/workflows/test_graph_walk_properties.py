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
    edge_into_join: bool = False  # its paths' last blocks point at the join


@st.composite
def sequences(draw, depth: int = 0, names=None) -> list[Node]:
    names = names if names is not None else itertools.count()
    nodes = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 3))):
        node = Node(f"n{next(names)}")
        if depth < 3 and draw(st.booleans()):
            node.paths = [
                draw(sequences(depth + 1, names))
                for _ in range(draw(st.integers(1, 3)))
            ]
            node.choice = draw(st.none() | st.integers(0, len(node.paths) - 1))
            node.edge_into_join = draw(st.booleans())
        nodes.append(node)
    return nodes


def descriptor_actions(
    seq: list[Node], *, root: bool = True, join: str | None = None, edge=False
) -> list:
    """The actions of a sequence; `join` is where the enclosing branch joins,
    and with `edge` the sequence's last block points at it."""
    actions = []
    for i, node in enumerate(seq):
        after = seq[i + 1].slug if i + 1 < len(seq) else None
        if not node.paths:
            next_ = [after] if after else ([join] if edge and join else [])
            actions.append(action(node.slug, "ECHO", next_, root=root and i == 0))
            continue
        # A branch joins at what follows it; the last of a sequence has no join.
        targets = [path[0].slug for path in node.paths if path]
        if after and not all(node.paths):
            targets.append(after)  # an empty path: the branch points at its join
        if node.choice is None:
            target = None
        else:
            chosen = node.paths[node.choice]
            target = chosen[0].slug if chosen else after
        schema = {"target": target}
        if after:
            schema["joiningAction"] = after
        actions.append(
            action(
                node.slug, "CONDITIONAL_BRANCH", targets, root=root and i == 0, **schema
            )
        )
        for path in node.paths:
            actions += descriptor_actions(
                path, root=False, join=after, edge=node.edge_into_join
            )
    return actions


def expected_order(seq: list[Node]) -> list[str]:
    order = []
    for node in seq:
        order.append(node.slug)
        if node.paths and node.choice is not None:
            order += expected_order(node.paths[node.choice])
    return order


def not_taken(seq: list[Node]) -> set[str]:
    skipped = set()
    for node in seq:
        for i, path in enumerate(node.paths):
            if i == node.choice:
                skipped |= not_taken(path)
            else:
                skipped |= {n.slug for n in _all(path)}
    return skipped


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
    assert {s for s, status in statuses.items() if status == "SKIPPED"} == not_taken(
        seq
    )
    assert {s for s, status in statuses.items() if status == "COMPLETED"} == set(
        expected_order(seq)
    )
