"""Block types by Cortex `schema.type`: an explicit dict, like healthchecks' TRANSPORTS.

Each module holds one block type. Types Cortex defines that Cairn can't run
yet still validate (so real descriptors save) but fail at run time, by name.
"""

from django.utils.module_loading import import_string

from .base import Block, BlockFailed

BLOCK_TYPES: dict[str, str] = {
    "USER_INPUT": "workflows.blocks.user_input.UserInput",
    "MANUAL_APPROVAL": "workflows.blocks.manual_approval.ManualApproval",
    "HTTP_REQUEST": "workflows.blocks.http_request.HttpRequest",
    "HTTP_REQUEST_ASYNC": "workflows.blocks.http_request_async.HttpRequestAsync",
    "JQ": "workflows.blocks.jq_block.Jq",
    "JAVASCRIPT": "workflows.blocks.javascript.JavaScript",
    "CONDITIONAL_BRANCH": "workflows.blocks.conditional_branch.ConditionalBranch",
    "SET_VARIABLES": "workflows.blocks.set_variables.SetVariables",
    "ADVANCED_HTTP_REQUEST": "workflows.blocks.advanced_http_request.AdvancedHttpRequest",
    "SLACK": "workflows.blocks.slack.Slack",
    "MS_TEAMS_SEND_MESSAGE": "workflows.blocks.ms_teams.MsTeams",
    "GITHUB_CREATE_OR_UPDATE_FILE": "workflows.blocks.github_create_or_update_file.GitHubCreateOrUpdateFile",
    "PAGERDUTY_CREATE_INCIDENT": "workflows.blocks.pagerduty_create_incident.PagerDutyCreateIncident",
    "JIRA_CREATE_ISSUE": "workflows.blocks.jira_create_issue.JiraCreateIssue",
}

_instances: dict[str, Block] = {}


def get_block(block_type: str) -> Block:
    """The block for a schema type; raises BlockFailed naming a type Cairn can't run."""
    if block_type not in _instances:
        path = BLOCK_TYPES.get(block_type)
        if path is None:
            raise BlockFailed(f"Cairn cannot execute {block_type} blocks yet")
        _instances[block_type] = import_string(path)()
    return _instances[block_type]
