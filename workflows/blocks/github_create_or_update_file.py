"""GITHUB_CREATE_OR_UPDATE_FILE: commit a file's text to a repository through the
workspace's GitHub integration.

Cortex's fields: `alias` (which GitHub integration; empty for the default one),
`repositoryName` (the full name `owner/name`), `path`, `content` (the file's text,
not base64), `commitMessage`, and optionally `branch` (GitHub's default branch when
absent), `author` and `committer` (each `{name, email}`). Strings are
Mustache-rendered over the run state; the rendered fields are the step's inputs.

It runs `github.createOrUpdateFile` (workflows.github_actions): a file already at
`path` on the branch is updated (its current blob is looked up), else created.
Outputs are GitHub's answer, `content` (the file) and `commit`.
"""

from __future__ import annotations

from workflows import github_actions
from workflows.models import Integration

from .base import Block, BlockContext, Outcome

_FIELDS = ("repositoryName", "path", "content", "commitMessage", "branch")
_PEOPLE = ("author", "committer")


class GitHubCreateOrUpdateFile(Block):
    type = "GITHUB_CREATE_OR_UPDATE_FILE"
    integration = Integration.Kind.GITHUB

    def execute(self, ctx: BlockContext) -> Outcome:
        schema = ctx.schema
        fields = {
            key: ctx.render(schema[key])
            for key in ("alias", *_FIELDS, *_PEOPLE)
            if schema.get(key) is not None
        }
        inputs = {k: v for k, v in fields.items() if k != "alias"}
        problem = _problem(fields)
        if problem:
            return Outcome.failed(f"Bad configuration: {problem}", inputs=inputs)
        try:
            outputs = github_actions.run_action(
                "github.createOrUpdateFile",
                {
                    "repo": fields["repositoryName"],
                    "path": fields["path"],
                    "content": fields["content"],
                    "message": fields["commitMessage"],
                    **{k: fields[k] for k in ("branch", *_PEOPLE) if fields.get(k)},
                },
                workspace=ctx.workspace,
                alias=fields.get("alias") or "",
                label="GitHub create or update file",
                secrets=ctx.secret_values,
            )
        except github_actions.GitHubActionError as exc:
            return Outcome.failed(str(exc), inputs=inputs, outputs=exc.outputs)
        return Outcome.completed(outputs, inputs=inputs)


def _problem(fields: dict) -> str:
    """What is wrong with the rendered fields, or ""."""
    for key in ("alias", *_FIELDS):
        if key in fields and not isinstance(fields[key], str):
            return f"{key} must be text"
    for key in ("repositoryName", "path", "commitMessage"):
        if not (fields.get(key) or "").strip():
            return f"{key} is required"
    if "content" not in fields:
        return "content is required (the file's text)"
    parts = fields["repositoryName"].strip().strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        return (
            "repositoryName must be the repository's full name, owner/name, "
            f"not {fields['repositoryName']!r}"
        )
    for key in _PEOPLE:
        person = fields.get(key)
        if person is None:
            continue
        if not isinstance(person, dict) or not all(
            isinstance(person.get(k), str) and person[k].strip()
            for k in ("name", "email")
        ):
            return f"{key} must have a name and an email"
    return ""
