"""MANUAL_APPROVAL: wait until enough approving-team members approve; a rejection fails.

Beyond Cortex: `requiredApprovals` (default 1), `preventSelfApproval`
(default false) and `timeoutInSeconds` (no default: wait for ever; past it
the sweep fails the run). The engine records each Decision and passes them
to resume().
"""

from datetime import timedelta

from django.utils import timezone

from .base import Block, BlockContext, BlockFailed, Outcome

# How a rejection's error begins (the run page tells it from a failure by it).
REJECTED_BY = "Rejected by "


class ManualApproval(Block):
    type = "MANUAL_APPROVAL"

    def execute(self, ctx: BlockContext) -> Outcome:
        schema = ctx.schema
        teams = [str(t) for t in schema.get("approvingTeamIds") or []]
        if not teams:
            raise BlockFailed("approvingTeamIds names no team, so nobody could approve")
        required = schema.get("requiredApprovals") or 1
        inputs = {
            "approverDescription": ctx.render(schema.get("approverDescription") or ""),
            "approvingTeamIds": teams,
            "requiredApprovals": required,
            "preventSelfApproval": bool(schema.get("preventSelfApproval")),
        }
        timeout = schema.get("timeoutInSeconds")
        deadline = timezone.now() + timedelta(seconds=timeout) if timeout else None
        return Outcome.waiting("MANUAL_APPROVAL", inputs=inputs, deadline=deadline)

    def resume(self, ctx: BlockContext, payload: dict) -> Outcome:
        decisions = payload["decisions"]
        required = ctx.schema.get("requiredApprovals") or 1
        record = [
            {
                "user": d.user.email,
                "verdict": d.verdict,
                "reason": d.reason,
                "at": d.created_at.isoformat(),
            }
            for d in decisions
        ]
        inputs = dict(ctx.step.inputs)
        rejected = next((d for d in decisions if d.verdict == "REJECTED"), None)
        if rejected is not None:
            return Outcome.failed(
                f"{REJECTED_BY}{rejected.user.email}: {rejected.reason}",
                inputs=inputs,
                outputs={"approved": False, "decisions": record},
            )
        approved = [d for d in decisions if d.verdict == "APPROVED"]
        if len(approved) < required:
            # Not `approved: false` yet: the page showed "approved: No" at 1 of
            # 2 approvals, which reads as a rejection.
            return Outcome.waiting(
                "MANUAL_APPROVAL", inputs=inputs, outputs={"decisions": record}
            )
        return Outcome.completed(
            {
                "approved": True,
                "approvedBy": [d.user.email for d in approved],
                "decisions": record,
            },
            inputs=inputs,
        )
