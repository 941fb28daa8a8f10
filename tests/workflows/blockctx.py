"""Build a BlockContext for a block's unit tests, without the engine or a saved run."""

from workflows.blocks.base import BlockContext
from workflows.models import Run, Step


def make_ctx(
    schema: dict,
    state: dict | None = None,
    *,
    slug: str = "step",
    workspace=None,
    initiator=None,
    callback_url: str = "",
    run: Run | None = None,
    secret_values: tuple[str, ...] = (),
) -> BlockContext:
    action = {
        "slug": slug,
        "name": slug.title(),
        "schema": schema,
        "outgoingActions": [],
    }
    state = (
        state if state is not None else {"context": {}, "actions": {}, "variables": {}}
    )
    run = run or Run(workspace=workspace, initiator=initiator)
    step = Step(run=run, slug=slug, type=schema.get("type", ""))
    return BlockContext(
        run=run,
        step=step,
        action=action,
        state=state,
        workspace=workspace,
        initiator=initiator,
        callback_url=callback_url,
        secret_values=secret_values,
    )
