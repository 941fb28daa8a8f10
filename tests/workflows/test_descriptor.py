"""Parsing, validating and exporting Cortex workflow descriptors (no database)."""

import copy
import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from workflows.blocks import BLOCK_TYPES
from workflows.descriptor import (
    MAX_ACTIONS,
    MAX_CEL_CHARS,
    DescriptorError,
    actions_by_slug,
    export,
    parse,
    root_slug,
    validate,
)

DEMO_WORKFLOWS = sorted((Path(settings.BASE_DIR) / "demo" / "workflows").glob("*.yaml"))

# Real descriptors, verbatim: the three of reference/examples (from Cortex's CLI,
# cortexapps/cli solutions/environments) and a branch from its GitHub Actions
# deploy solution (trimmed to the blocks).
CREATE_ENVIRONMENT = """\
tag: create-environment
name: Create Environment
description: >
  Creates a new environment entity in Cortex.
  Prompts for cloud type, environment type, and region.
  Add your cluster provisioning steps after the entity creation action.
filter:
  type: GLOBAL
isDraft: true
runResponseTemplate: |
  Environment **{{actions.collect-inputs.outputs.cloudType}}-{{actions.collect-inputs.outputs.envType}}-{{actions.collect-inputs.outputs.region}}** created successfully.

  [View entity](https://app.getcortexapp.com/admin?tag={{actions.collect-inputs.outputs.cloudType}}-{{actions.collect-inputs.outputs.envType}}-{{actions.collect-inputs.outputs.region}})
failedRunResponseTemplate: |
  Failed to create environment **{{actions.collect-inputs.outputs.cloudType}}-{{actions.collect-inputs.outputs.envType}}-{{actions.collect-inputs.outputs.region}}**. Check the action logs for details.
actions:
  - name: Collect Inputs
    slug: collect-inputs
    isRootAction: true
    outgoingActions:
      - create-entity
    schema:
      type: USER_INPUT
      inputs:
        - name: Cloud Type
          key: cloudType
          description: Cloud provider
          required: true
          type: SELECT_FIELD
          options:
            - gcp
            - aws
            - azure
        - name: Environment Type
          key: envType
          description: Environment tier
          required: true
          type: SELECT_FIELD
          options:
            - prod
            - staging
            - dev
        - name: Region
          key: region
          description: Cloud region (e.g. us-east-1, us-west-2, eu-west-1)
          required: true
          type: INPUT_FIELD
      inputOverrides: []
      jsValidatorScript: null
  - name: Create Environment Entity
    slug: create-entity
    isRootAction: false
    outgoingActions: []
    schema:
      type: ADVANCED_HTTP_REQUEST
      actionIdentifier: cortex.createOrUpdateEntity
      integrationAlias: null
      inputs:
        mode: CREATE
        dryRun: false
        body: |
          openapi: "3.0.0"
          info:
            title: "{{actions.collect-inputs.outputs.cloudType}}-{{actions.collect-inputs.outputs.envType}}-{{actions.collect-inputs.outputs.region}}"
            x-cortex-tag: "{{actions.collect-inputs.outputs.cloudType}}-{{actions.collect-inputs.outputs.envType}}-{{actions.collect-inputs.outputs.region}}"
            x-cortex-type: environment
            x-cortex-description: "{{actions.collect-inputs.outputs.cloudType}} {{actions.collect-inputs.outputs.envType}} cluster in {{actions.collect-inputs.outputs.region}}"
            x-cortex-groups:
              - "cloudType:{{actions.collect-inputs.outputs.cloudType}}"
              - "envType:{{actions.collect-inputs.outputs.envType}}"
              - "region:{{actions.collect-inputs.outputs.region}}"
"""

CREATE_RELEASE = """\
tag: create-release
name: Create Release
description: >
  Creates a release entity in Cortex linked to the selected service versions.
  Add your deployment orchestration steps after the entity creation action.
filter:
  type: GLOBAL
isDraft: true
runResponseTemplate: |
  Release **{{actions.collect-inputs.outputs.releaseTag}}** created successfully.

  [View entity](https://app.getcortexapp.com/admin?tag={{actions.collect-inputs.outputs.releaseTag}})
failedRunResponseTemplate: |
  Failed to create release **{{actions.collect-inputs.outputs.releaseTag}}**. Check the action logs for details.
actions:
  - name: Collect Inputs
    slug: collect-inputs
    isRootAction: true
    outgoingActions:
      - build-destinations
    schema:
      type: USER_INPUT
      inputs:
        - name: Release Tag
          key: releaseTag
          description: Release identifier (e.g. release-2026-07-15)
          required: true
          type: INPUT_FIELD
        - name: Service Versions
          key: serviceVersions
          description: Select the service versions included in this release
          required: true
          type: CORTEX_ENTITY_FIELD
          allowMultiple: true
          limitEntitiesToRunnerUserScope: false
          defaultValue: []
          entityFilter:
            typeFilter:
              types:
                - service-version
            domainIds: []
            emailOwners: []
            excludedGroupTags: []
            groupTags: []
            teamIds: []
        - name: Description
          key: description
          description: What is in this release
          required: false
          type: INPUT_FIELD
      inputOverrides: []
      jsValidatorScript: null
  - name: Build Destinations YAML
    slug: build-destinations
    isRootAction: false
    outgoingActions:
      - create-entity
    schema:
      type: JAVASCRIPT
      script: |
        const versions = actions["collect-inputs"].outputs.serviceVersions;
        const arr = Array.isArray(versions) ? versions : [versions];
        const items = arr.map(sv => {
          const tag = (sv && typeof sv === 'object') ? sv.tag : sv;
          return `        - tag: "${tag}"`;
        }).join("\\n");
        return {
          relationshipsYaml: `  x-cortex-relationships:\\n    - type: environments\\n      destinations:\\n${items}`
        };
  - name: Create Release Entity
    slug: create-entity
    isRootAction: false
    outgoingActions: []
    schema:
      type: ADVANCED_HTTP_REQUEST
      actionIdentifier: cortex.createOrUpdateEntity
      integrationAlias: null
      inputs:
        mode: CREATE
        dryRun: false
        body: |
          openapi: "3.0.0"
          info:
            title: "{{actions.collect-inputs.outputs.releaseTag}}"
            x-cortex-tag: "{{actions.collect-inputs.outputs.releaseTag}}"
            x-cortex-type: release
            x-cortex-description: "{{actions.collect-inputs.outputs.description}}"
          {{{actions.build-destinations.outputs.relationshipsYaml}}}
"""

TRIGGER_GITHUB_RELEASE = """\
tag: trigger-github-release
name: Trigger GitHub Release
description: >
  Collects the version tag for a service release.
  Add a GitHub release step using your tenant's GitHub integration alias
  to trigger the cortex-service-version GitHub Actions workflow.
filter:
  type: ENTITY
isDraft: true
runResponseTemplate: "GitHub release **{{actions.collect-inputs.outputs.versionTag}}** triggered for [{{context.entity.tag}}](https://app.getcortexapp.com/admin?tag={{context.entity.tag}})."
failedRunResponseTemplate: "Failed to trigger GitHub release for version **{{actions.collect-inputs.outputs.versionTag}}**. Check the action logs for details."
actions:
  - name: Collect Inputs
    slug: collect-inputs
    isRootAction: true
    outgoingActions: []
    schema:
      type: USER_INPUT
      inputs:
        - name: Version Tag
          key: versionTag
          description: Release version tag (e.g. v1.6.1)
          required: true
          type: INPUT_FIELD
      inputOverrides: []
      jsValidatorScript: null
"""

GITHUB_DEPLOY_BRANCH = """\
name: Trigger GitHub Actions Deploy
tag: github-actions-trigger-deploy
isDraft: false
isRunnableViaApi: true
filter:
  type: GLOBAL
variables:
- slug: github-owner
  type: STRING
  defaultValue: ""
  description: GitHub organization or username that owns the repository.
- slug: repo-name
  type: STRING
  defaultValue: ""
actions:
- name: Branch
  slug: branch
  schema:
    branches:
    - name: UI invocation
      slug: ui-invocation
      outgoingAction: inputs
      expression: "variables[\\"github-owner\\"] == \\"\\" || variables[\\"repo-name\\"] == \\"\\""
      type: CONDITIONAL
    - name: API invocation
      slug: api-invocation
      outgoingAction: pass-through
      expression: "variables[\\"github-owner\\"] != \\"\\" && variables[\\"repo-name\\"] != \\"\\""
      type: CONDITIONAL
    joiningAction: merge
    type: CONDITIONAL_BRANCH
  outgoingActions:
  - inputs
  - pass-through
  isRootAction: true
- name: Inputs
  slug: inputs
  schema:
    inputs:
    - name: GitHub Owner
      key: github-owner
      required: true
      defaultValue: null
      placeholder: e.g. my-org
      validationRegex: null
      type: INPUT_FIELD
    - name: Repository Name
      key: repo-name
      required: true
      type: INPUT_FIELD
    inputOverrides:
    - inputKey: github-owner
      outputVariable: variables.github-owner
      editable: true
      type: VALUE
    type: USER_INPUT
  outgoingActions:
  - set-variables
  isRootAction: false
- name: Set variables
  slug: set-variables
  schema:
    variables:
    - slug: github-owner
      source:
        path: actions.inputs.outputs.github-owner
        type: REFERENCE
    type: SET_VARIABLES
  outgoingActions:
  - merge
  isRootAction: false
- name: Pass through
  slug: pass-through
  schema:
    expression: "."
    type: JQ
  outgoingActions:
  - merge
  isRootAction: false
- name: Merge branches
  slug: merge
  schema:
    expression: "."
    type: JQ
  outgoingActions:
  - trigger-deploy
  isRootAction: false
- name: Trigger GitHub Actions Deploy
  slug: trigger-deploy
  schema:
    type: HTTP_REQUEST_ASYNC
    httpMethod: POST
    url: "/repos/{{variables.github-owner}}/{{variables.repo-name}}/actions/workflows/cortex-deploy.yml/dispatches"
    integration: GitHub
    integrationAlias: "PLACEHOLDER_INTEGRATION_ALIAS"
    headers: {}
    payload: '{"ref": "main", "inputs": {"cortex_callback_url": "{{callbackUrl}}"}}'
    timeoutInSeconds: 120
  outgoingActions: []
  isRootAction: false
"""

REAL_DESCRIPTORS = {
    "create-environment": CREATE_ENVIRONMENT,
    "create-release": CREATE_RELEASE,
    "trigger-github-release": TRIGGER_GITHUB_RELEASE,
    "github-actions-trigger-deploy": GITHUB_DEPLOY_BRANCH,
}


def problems(data) -> list[str]:
    """The errors validate() reports for `data` (failing the test if there are none)."""
    with pytest.raises(DescriptorError) as caught:
        validate(data)
    return caught.value.errors


def base() -> dict:
    """A small valid descriptor: form → branch (approve | note) → join → HTTP call."""
    return {
        "tag": "base",
        "name": "Base",
        "filter": {"type": "GLOBAL"},
        "variables": [{"slug": "env", "type": "STRING", "defaultValue": "staging"}],
        "actions": [
            {
                "name": "Form",
                "slug": "form",
                "isRootAction": True,
                "outgoingActions": ["route"],
                "schema": {
                    "type": "USER_INPUT",
                    "inputs": [
                        {
                            "key": "env",
                            "name": "Env",
                            "type": "INPUT_FIELD",
                            "required": True,
                        }
                    ],
                    "inputOverrides": [],
                },
            },
            {
                "name": "Route",
                "slug": "route",
                "isRootAction": False,
                "outgoingActions": ["approve", "note"],
                "schema": {
                    "type": "CONDITIONAL_BRANCH",
                    "branches": [
                        {
                            "name": "Prod",
                            "slug": "prod",
                            "expression": 'variables["env"] == "production"',
                            "outgoingAction": "approve",
                        }
                    ],
                    "fallbackBranch": {
                        "name": "Other",
                        "slug": "other",
                        "outgoingAction": "note",
                    },
                    "joiningAction": "call",
                },
            },
            {
                "name": "Approve",
                "slug": "approve",
                "isRootAction": False,
                "outgoingActions": ["call"],
                "schema": {"type": "MANUAL_APPROVAL", "approvingTeamIds": ["platform"]},
            },
            {
                "name": "Note",
                "slug": "note",
                "isRootAction": False,
                "outgoingActions": [],
                "schema": {"type": "JQ", "expression": "."},
            },
            {
                "name": "Call",
                "slug": "call",
                "isRootAction": False,
                "outgoingActions": [],
                "schema": {
                    "type": "HTTP_REQUEST",
                    "httpMethod": "GET",
                    "url": "http://x/",
                },
            },
        ],
    }


def action(d: dict, slug: str) -> dict:
    return next(a for a in d["actions"] if a["slug"] == slug)


# Parsing


def test_parse_reads_yaml_and_json_alike():
    from_yaml = parse("tag: t\nname: T\nfilter: {type: GLOBAL}\n")
    from_json = parse('{"tag": "t", "name": "T", "filter": {"type": "GLOBAL"}}')
    assert (
        from_yaml
        == from_json
        == {"tag": "t", "name": "T", "filter": {"type": "GLOBAL"}}
    )


def test_parse_accepts_bytes_and_a_byte_order_mark():
    assert parse(b'\xef\xbb\xbf{"tag": "t"}') == {"tag": "t"}
    assert parse("\ufefftag: t\n") == {"tag": "t"}


def test_parse_names_the_line_of_invalid_yaml():
    with pytest.raises(DescriptorError) as caught:
        parse("tag: t\nname: [unclosed\n")
    assert caught.value.errors[0].startswith("invalid YAML: line 3")


def test_parse_names_the_line_of_invalid_json():
    with pytest.raises(DescriptorError) as caught:
        parse('{\n  "tag": "t"\n  "name": "n"\n}')
    assert caught.value.errors == [
        "invalid JSON: line 3, column 3: Expecting ',' delimiter"
    ]


def test_parse_refuses_duplicate_keys():
    with pytest.raises(DescriptorError) as caught:
        parse("tag: a\nname: n\ntag: b\n")
    assert caught.value.errors == [
        "invalid YAML: line 3, column 1: duplicate key 'tag'"
    ]


def test_parse_reads_a_descriptor_between_empty_yaml_documents():
    assert parse("---\ntag: t\n---\n") == {"tag": "t"}
    assert parse("tag: t\n---\n...\n---\n") == {"tag": "t"}


def test_parse_refuses_two_descriptors_in_one_file_naming_where_the_second_begins():
    with pytest.raises(DescriptorError) as caught:
        parse("tag: a\n---\ntag: b\n---\n")
    assert caught.value.errors == [
        "invalid YAML: line 2, column 1: but found another document"
        " (expected a single document in the stream)"
    ]


def test_parse_keeps_dates_as_strings():
    assert parse("tag: t\ndescription: 2026-07-15\n")["description"] == "2026-07-15"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the descriptor is empty"),
        (
            "- a\n- b\n",
            "the descriptor must be a mapping with tag, name, filter and actions",
        ),
        (b"\xff\xfe", "the descriptor is not UTF-8 text"),
    ],
)
def test_parse_refuses_what_is_not_one_descriptor(text, message):
    with pytest.raises(DescriptorError) as caught:
        parse(text)
    assert caught.value.errors == [message]


def test_parse_refuses_yaml_aliases_that_expand_to_millions_of_values():
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for previous, name in zip("abcde", "bcdef", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    with pytest.raises(DescriptorError, match="more than"):
        parse("\n".join(lines))


# Real descriptors


@pytest.mark.parametrize("name", REAL_DESCRIPTORS)
def test_real_cortex_descriptors_validate(name):
    descriptor = validate(parse(REAL_DESCRIPTORS[name]))
    assert descriptor["tag"] == name


@pytest.mark.parametrize("name", REAL_DESCRIPTORS)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_real_cortex_descriptors_round_trip_through_export(name, fmt):
    descriptor = validate(parse(REAL_DESCRIPTORS[name]))
    text = export(descriptor, fmt)
    assert parse(text) == descriptor
    assert validate(parse(text)) == descriptor


def test_the_reference_examples_are_the_ones_tested_here():
    examples = Path("/work/shared/reference/examples")
    if not examples.is_dir():
        pytest.skip("the reference examples are not on this machine")
    for path in examples.glob("*.yaml"):
        assert parse(path.read_text()) == parse(REAL_DESCRIPTORS[path.stem])


def test_validate_fills_the_defaults_cortex_descriptors_leave_out():
    descriptor = validate(parse(TRIGGER_GITHUB_RELEASE))
    assert descriptor["filter"] == {"type": "ENTITY", "ownershipScope": "ALL"}
    assert descriptor["variables"] == []
    assert descriptor["runRestrictionPolicies"] == []
    assert descriptor["restrictActionCompletionToRunnerUser"] is False
    assert descriptor["isRunnableViaApi"] is False
    assert (
        validate(parse(CREATE_ENVIRONMENT))["actions"][0]["schema"]["inputs"][0][
            "allowAdditionalOptions"
        ]
        is False
    )


def test_a_workflow_without_actions_saves_as_a_stub_as_in_cortex():
    # Cortex's own CLI docs tell authors to write `actions: []` for a stub.
    d = validate(parse("tag: stub\nname: Stub\nfilter: {type: GLOBAL}\nactions: []\n"))
    assert d["actions"] == []
    assert parse(export(d, "yaml"))["actions"] == []


def test_validate_fills_an_empty_description():
    d = base()
    assert validate(d)["description"] == ""


def test_validate_treats_null_keys_as_absent_but_keeps_nulls_in_free_form_json():
    d = validate(parse(CREATE_ENVIRONMENT))
    assert "jsValidatorScript" not in d["actions"][0]["schema"]
    assert "integrationAlias" not in d["actions"][1]["schema"]

    raw = base()
    raw["actions"][4]["schema"] = {
        "type": "ADVANCED_HTTP_REQUEST",
        "actionIdentifier": "cortex.createOrPatchEntity",
        "integrationAlias": None,
        "inputs": {"body": "x", "owner": None},
    }
    schema = action(validate(raw), "call")["schema"]
    assert schema["inputs"] == {"body": "x", "owner": None}
    assert "integrationAlias" not in schema


def test_validate_does_not_change_its_argument():
    raw = parse(CREATE_ENVIRONMENT)
    before = copy.deepcopy(raw)
    validate(raw)
    assert raw == before


def test_validate_keeps_keys_cortex_may_add():
    d = validate(parse(GITHUB_DEPLOY_BRANCH))
    assert action(d, "trigger-deploy")["schema"]["integration"] == "GitHub"
    assert action(d, "branch")["schema"]["branches"][0]["type"] == "CONDITIONAL"


def test_validate_drops_the_timestamps_a_client_sends_since_the_server_keeps_them():
    raw = parse(CREATE_ENVIRONMENT)
    raw |= {
        "createdAt": "2020-01-01T00:00:00Z",
        "lastUpdatedAt": "2020-01-02T00:00:00Z",
    }
    d = validate(raw)
    assert "createdAt" not in d and "lastUpdatedAt" not in d
    assert d == validate(parse(CREATE_ENVIRONMENT))


def test_validate_accepts_nested_forms_of_strings_and_objects():
    d = base()
    action(d, "form")["schema"]["inputs"] += [
        {
            "key": "hosts",
            "name": "Hosts",
            "type": "NESTED_FORM_FIELD",
            "required": False,
            "dataType": "STRING",
            "minRows": 0,
            "maxRows": 3,
        },
        {
            "key": "vars",
            "name": "Vars",
            "type": "NESTED_FORM_FIELD",
            "required": True,
            "dataType": "OBJECT",
            "inputs": [
                {
                    "key": "name",
                    "name": "Name",
                    "type": "INPUT_FIELD",
                    "required": True,
                },
                {
                    "key": "secret",
                    "name": "Secret",
                    "type": "SECRET_FIELD",
                    "required": True,
                },
            ],
        },
    ]
    nested = action(validate(d), "form")["schema"]["inputs"][2]
    assert nested["inputs"][1]["disabled"] is False  # Cortex's default, filled in


def test_a_templated_http_method_saves_and_a_broken_one_names_its_mistake():
    d = base()
    method = "{{#variables.dry-run}}GET{{/variables.dry-run}}{{^variables.dry-run}}POST{{/variables.dry-run}}"
    action(d, "call")["schema"].update(httpMethod=method)
    assert action(validate(d), "call")["schema"]["httpMethod"] == method

    action(d, "call")["schema"].update(httpMethod="{{#variables.x}}GET")
    with pytest.raises(DescriptorError) as caught:
        validate(d)
    assert caught.value.errors == [
        "actions['call'].schema.httpMethod: is not a valid Mustache template: the"
        ' section "variables.x" is never closed with {{/variables.x}}'
    ]


def test_validate_accepts_cairns_approval_options():
    d = base()
    action(d, "approve")["schema"].update(requiredApprovals=2, preventSelfApproval=True)
    assert action(validate(d), "approve")["schema"]["requiredApprovals"] == 2


def test_validate_is_idempotent():
    once = validate(parse(CREATE_RELEASE))
    assert validate(once) == once


# Cortex reads descriptors with Jackson, which takes a number or true/false where a
# string is expected as its text; its YAML export leaves numeric strings unquoted
# (an AWS account id, a version option), so they come back as numbers.
NUMERIC_TEXT = """\
tag: numeric-text
name: Numeric text
filter: {type: GLOBAL}
actions:
  - name: Pick
    slug: pick
    isRootAction: true
    outgoingActions: [call]
    schema:
      type: USER_INPUT
      inputs:
        - name: Python
          key: python
          type: SELECT_FIELD
          required: true
          options: [3.9, 3.10, 3.11]
          defaultValue: 3.10
        - {name: Port, key: port, type: INPUT_FIELD, required: false, defaultValue: 8080}
        - {name: Beta, key: beta, type: SELECT_FIELD, required: false, options: [true, false]}
      inputOverrides: []
  - name: Call
    slug: call
    isRootAction: false
    outgoingActions: [bucket]
    schema:
      type: HTTP_REQUEST
      httpMethod: GET
      url: https://example.test/
      headers: {X-Api-Version: 2}
  - name: Bucket
    slug: bucket
    isRootAction: false
    outgoingActions: []
    schema:
      type: AWS
      accountId: 123456789012
      region: us-east-1
      actionIdentifier: s3.createBucket
      inputs: {count: 3, ratio: 0.50}
"""


def test_numbers_and_booleans_in_string_fields_are_read_as_written():
    d = validate(parse(NUMERIC_TEXT))

    pick, call, bucket = (a["schema"] for a in d["actions"])
    python, port, beta = pick["inputs"]
    assert python["options"] == ["3.9", "3.10", "3.11"]
    assert python["defaultValue"] == "3.10"
    assert port["defaultValue"] == "8080"
    assert beta["options"] == ["true", "false"]
    assert call["headers"] == {"X-Api-Version": "2"}
    assert bucket["accountId"] == "123456789012"
    # Free-form JSON keeps its numbers:
    assert bucket["inputs"] == {"count": 3, "ratio": 0.5}
    assert type(bucket["inputs"]["count"]) is int
    assert json.loads(json.dumps(d)) == d
    for fmt in ("yaml", "json"):
        assert validate(parse(export(d, fmt))) == d


def test_yes_no_on_and_off_are_text_as_written_and_still_booleans_where_one_is_wanted():
    """YAML 1.1 reads them as true/false: a region `no` became "false"."""
    d = validate(
        parse(
            """\
tag: words
name: Words
isDraft: yes
filter: {type: GLOBAL}
variables:
  - {slug: on, type: STRING, defaultValue: off}
  - {slug: region, type: STRING, defaultValue: no}
  - {slug: notify, type: BOOLEAN, defaultValue: yes}
actions:
  - slug: yes
    name: Call
    isRootAction: true
    outgoingActions: []
    schema:
      type: HTTP_REQUEST
      httpMethod: GET
      url: https://example.test/
      headers: {X-Enabled: on, X-Real: true}
"""
        )
    )
    assert d["isDraft"] is True
    assert [(v["slug"], v["defaultValue"]) for v in d["variables"]] == [
        ("on", "off"),
        ("region", "no"),
        ("notify", True),
    ]
    [call] = d["actions"]
    assert call["slug"] == "yes"
    assert call["schema"]["headers"] == {"X-Enabled": "on", "X-Real": "true"}
    for fmt in ("yaml", "json"):
        assert validate(parse(export(d, fmt))) == d


def test_numbers_in_string_fields_of_json_are_read_as_written():
    d = json.loads(json.dumps(yaml.safe_load(NUMERIC_TEXT)))
    d["actions"][2]["schema"]["accountId"] = 123456789012
    text = json.dumps(d).replace('"defaultValue": 3.1', '"defaultValue": 3.10')

    pick = validate(parse(text))["actions"][0]["schema"]
    assert pick["inputs"][0]["defaultValue"] == "3.10"
    assert validate(d)["actions"][2]["schema"]["accountId"] == "123456789012"


def test_quoted_numbers_and_booleans_are_read_where_cortex_wants_them():
    # Jackson also reads "300" as 300 and "true" as true in such fields.
    d = base()
    d["isDraft"] = "true"
    action(d, "form")["schema"]["inputs"].append(
        {
            "key": "replicas",
            "name": "Replicas",
            "type": "NUMBER_FIELD",
            "required": "false",
            "disabled": "FALSE",
            "format": "INTEGER",
            "min": "1",
            "max": "10.5",
            "defaultValue": 2.0,
        }
    )
    action(d, "call")["schema"].update(
        type="HTTP_REQUEST_ASYNC", timeoutInSeconds="300"
    )

    v = validate(d)
    assert v["isDraft"] is True
    replicas = action(v, "form")["schema"]["inputs"][-1]
    assert (replicas["required"], replicas["disabled"]) == (False, False)
    assert (replicas["min"], replicas["max"], replicas["defaultValue"]) == (1, 10.5, 2)
    assert action(v, "call")["schema"]["timeoutInSeconds"] == 300

    action(d, "call")["schema"]["timeoutInSeconds"] = "soon"
    d["isDraft"] = "yes"
    assert problems(d) == [
        "isDraft: must be true or false, not a string",
        "actions['call'].schema.timeoutInSeconds: must be a whole number, not a string",
    ]


def test_a_github_file_block_with_a_null_alias_uses_the_default_integration():
    # As Cortex's own functional-test template writes it (`alias: null`, like
    # `integrationAlias: null` for the default configuration).
    d = base()
    action(d, "note")["schema"] = {
        "type": "GITHUB_CREATE_OR_UPDATE_FILE",
        "alias": None,
        "repositoryName": "acme/app",
        "path": "README.md",
        "content": "hi",
        "commitMessage": "Update README",
        "author": None,
        "committer": None,
    }
    schema = action(validate(d), "note")["schema"]
    assert schema["alias"] == ""
    assert "author" not in schema
    del action(d, "note")["schema"]["alias"]
    assert action(validate(d), "note")["schema"]["alias"] == ""


def test_a_list_or_mapping_where_text_is_expected_is_still_an_error():
    d = validate(parse(NUMERIC_TEXT))
    d["actions"][1]["schema"]["headers"]["X-Api-Version"] = [2]
    d["actions"][2]["schema"]["region"] = {"name": "us-east-1"}
    assert problems(d) == [
        "actions['call'].schema.headers.X-Api-Version: must be a string, not a list",
        "actions['bucket'].schema.region: must be a string, not a mapping",
    ]


# Errors: each names the action (by slug, or index without one) and the field


def _drop(d, slug, field):
    del action(d, slug)["schema"][field]


ERROR_CASES = {
    "no tag": (lambda d: d.pop("tag"), "tag: is required"),
    "a tag with spaces": (
        lambda d: d.update(tag="my workflow"),
        "tag: 'my workflow' is not a valid tag (letters, digits, hyphens and underscores)",
    ),
    "a tag that a page uses": (
        lambda d: d.update(tag="runs"),
        "tag: 'runs' is reserved (a page and an API path use it); choose another tag",
    ),
    "a tag that an API path uses": (
        lambda d: d.update(tag="validate"),
        "tag: 'validate' is reserved (a page and an API path use it); choose another tag",
    ),
    "a tag of digits only, which reads as another workflow's id": (
        lambda d: d.update(tag="40"),
        "tag: '40' is only digits, which the API reads as a workflow's id; add a letter",
    ),
    "no filter": (lambda d: d.pop("filter"), "filter: is required"),
    "an unknown filter type": (
        lambda d: d.update(filter={"type": "TEAM"}),
        "filter.type: unknown filter type 'TEAM' (one of GLOBAL, ENTITY)",
    ),
    "a bad ownership scope": (
        lambda d: d.update(filter={"type": "ENTITY", "ownershipScope": "ANYONE"}),
        "filter.ownershipScope: must be one of ALL, OWNER, EDITOR (not 'ANYONE')",
    ),
    "isDraft not a boolean": (
        lambda d: d.update(isDraft="no"),
        "isDraft: must be true or false, not a string",
    ),
    "a block missing a field": (
        lambda d: _drop(d, "call", "url"),
        "actions['call'].schema.url: is required",
    ),
    "a bad HTTP method": (
        lambda d: action(d, "call")["schema"].update(httpMethod="FETCH"),
        "actions['call'].schema.httpMethod: must be one of GET, POST, PUT, DELETE, PATCH "
        "(not 'FETCH')",
    ),
    "an action without a slug": (
        lambda d: d["actions"][2].pop("slug"),
        "actions[2].slug: is required",
    ),
    "an unknown block type": (
        lambda d: action(d, "note")["schema"].update(type="FOO"),
        "actions['note'].schema.type: unknown block type 'FOO'",
    ),
    "a duplicate slug": (
        lambda d: d["actions"][3].update(slug="approve"),
        "actions[3].slug: 'approve' is already used by actions[2]",
    ),
    "no root": (
        lambda d: d["actions"][0].update(isRootAction=False),
        "actions: no action has isRootAction: true (one must be the root)",
    ),
    "two roots": (
        lambda d: action(d, "call").update(isRootAction=True),
        "actions: 2 root actions (form, call); only one may be the root",
    ),
    "a dangling outgoing action": (
        lambda d: action(d, "note").update(outgoingActions=["nowhere"]),
        "actions['note'].outgoingActions[0]: no action has slug 'nowhere'",
    ),
    "a cycle": (
        lambda d: action(d, "call").update(outgoingActions=["form"]),
        "actions: the actions form a cycle: form → route → approve → call → form",
    ),
    "a fan-out outside a branch": (
        lambda d: action(d, "form").update(outgoingActions=["route", "call"]),
        "actions['form'].outgoingActions: a block of type USER_INPUT continues to at most "
        "one action (only CONDITIONAL_BRANCH splits the path)",
    ),
    "a branch leading outside its outgoing actions": (
        lambda d: action(d, "route")["schema"]["branches"][0].update(
            outgoingAction="call"
        ),
        "actions['route'].schema.branches['prod'].outgoingAction: 'call' is not in the "
        "block's outgoingActions",
    ),
    "a fallback leading outside its outgoing actions": (
        lambda d: action(d, "route")["schema"]["fallbackBranch"].update(
            outgoingAction="form"
        ),
        "actions['route'].schema.fallbackBranch.outgoingAction: 'form' is not in the "
        "block's outgoingActions",
    ),
    "a joining action naming no action": (
        lambda d: action(d, "route")["schema"].update(joiningAction="merge"),
        "actions['route'].schema.joiningAction: no action has slug 'merge'",
    ),
    "an invalid branch expression": (
        lambda d: action(d, "route")["schema"]["branches"][0].update(
            expression="env =="
        ),
        "actions['route'].schema.branches['prod'].expression: is not a valid CEL expression",
    ),
    "a branch expression with an int literal out of range": (
        lambda d: action(d, "route")["schema"]["branches"][0].update(
            expression="variables.n > 99999999999999999999"
        ),
        "actions['route'].schema.branches['prod'].expression: is not a valid CEL"
        " expression: syntax error (line 1, column 15): the int literal"
        " 99999999999999999999 is out of range",
    ),
    "an unreachable action": (
        lambda d: (
            action(d, "route").update(outgoingActions=["approve"])
            or action(d, "route")["schema"]["fallbackBranch"].pop("outgoingAction")
        ),
        "actions['note']: can't be reached from the root action 'form'",
    ),
    "a duplicated variable": (
        lambda d: d["variables"].append({"slug": "env", "type": "NUMBER"}),
        "variables[1].slug: 'env' is already declared by variables[0]",
    ),
    "a variable default of the wrong type": (
        lambda d: d["variables"][0].update(defaultValue={"a": 1}),
        "variables['env'].defaultValue: must be a string, as the variable's type is STRING",
    ),
    "setting an undeclared variable": (
        lambda d: action(d, "note").update(
            schema={
                "type": "SET_VARIABLES",
                "variables": [
                    {"slug": "region", "source": {"type": "REFERENCE", "path": "x"}}
                ],
            }
        ),
        "actions['note'].schema.variables['region'].slug: 'region' is not a declared variable "
        "(declare it under variables)",
    ),
    "an unknown variable source": (
        lambda d: action(d, "note").update(
            schema={
                "type": "SET_VARIABLES",
                "variables": [{"slug": "env", "source": {"type": "MAGIC"}}],
            }
        ),
        "actions['note'].schema.variables['env'].source.type: unknown source type 'MAGIC' "
        "(one of REFERENCE, JAVASCRIPT)",
    ),
    "duplicate input keys": (
        lambda d: action(d, "form")["schema"]["inputs"].append(
            {"key": "env", "name": "Again", "type": "TOGGLE_FIELD", "required": False}
        ),
        "actions['form'].schema.inputs[1].key: 'env' is already used by "
        "actions['form'].schema.inputs[0]",
    ),
    "an unknown input type": (
        lambda d: action(d, "form")["schema"]["inputs"][0].update(type="COLOR_FIELD"),
        "actions['form'].schema.inputs['env'].type: unknown input type 'COLOR_FIELD'",
    ),
    "an input missing a field": (
        lambda d: action(d, "form")["schema"]["inputs"][0].update(type="SELECT_FIELD"),
        "actions['form'].schema.inputs['env'].options: is required",
    ),
    "an invalid validation regex": (
        lambda d: action(d, "form")["schema"]["inputs"][0].update(
            validationRegex="([a-z"
        ),
        "actions['form'].schema.inputs['env'].validationRegex: is not a valid regular expression",
    ),
    "an object nested form without inputs": (
        lambda d: action(d, "form")["schema"]["inputs"].append(
            {
                "key": "rows",
                "name": "Rows",
                "type": "NESTED_FORM_FIELD",
                "required": True,
                "dataType": "OBJECT",
            }
        ),
        "actions['form'].schema.inputs['rows'].inputs: is required for dataType OBJECT",
    ),
    "a nested form inside a nested form": (
        lambda d: action(d, "form")["schema"]["inputs"].append(
            {
                "key": "rows",
                "name": "Rows",
                "type": "NESTED_FORM_FIELD",
                "required": True,
                "dataType": "OBJECT",
                "inputs": [
                    {
                        "key": "sub",
                        "name": "Sub",
                        "type": "NESTED_FORM_FIELD",
                        "required": True,
                        "dataType": "STRING",
                    }
                ],
            }
        ),
        "actions['form'].schema.inputs['rows'].inputs['sub'].type: a nested form can't hold "
        "another NESTED_FORM_FIELD",
    ),
    "a nested form with a bad data type": (
        lambda d: action(d, "form")["schema"]["inputs"].append(
            {
                "key": "rows",
                "name": "Rows",
                "type": "NESTED_FORM_FIELD",
                "required": True,
                "dataType": "LIST",
            }
        ),
        "actions['form'].schema.inputs['rows'].dataType: must be one of STRING, OBJECT (not 'LIST')",
    ),
    "an override of an input the block lacks": (
        lambda d: action(d, "form")["schema"]["inputOverrides"].append(
            {"type": "VALUE", "inputKey": "region", "outputVariable": "variables.env"}
        ),
        "actions['form'].schema.inputOverrides[0].inputKey: no input of this block has key "
        "'region'",
    ),
    "an approval without teams": (
        lambda d: action(d, "approve")["schema"].update(approvingTeamIds=[]),
        "actions['approve'].schema.approvingTeamIds: must not be empty",
    ),
    "requiring zero approvals": (
        lambda d: action(d, "approve")["schema"].update(requiredApprovals=0),
        "actions['approve'].schema.requiredApprovals: must be at least 1",
    ),
    "requiring more approvals than anyone could give": (
        lambda d: action(d, "approve")["schema"].update(
            requiredApprovals=100000000000000000000
        ),
        "actions['approve'].schema.requiredApprovals: must be at most 1000",
    ),
    "a blank approving team": (
        lambda d: action(d, "approve")["schema"].update(
            approvingTeamIds=["platform", "  "]
        ),
        "actions['approve'].schema.approvingTeamIds[1]: must not be blank",
    ),
    "preventSelfApproval not a boolean": (
        lambda d: action(d, "approve")["schema"].update(
            preventSelfApproval="yes please"
        ),
        "actions['approve'].schema.preventSelfApproval: must be true or false, not a string",
    ),
    "an invalid JQ expression": (
        lambda d: action(d, "note")["schema"].update(expression=".a |"),
        "actions['note'].schema.expression: is not a valid JQ expression",
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_validate_names_where_a_descriptor_is_wrong(case):
    mutate, expected = ERROR_CASES[case]
    d = base()
    mutate(d)
    errors = problems(d)
    assert any(e.startswith(expected) for e in errors), errors


def test_the_base_descriptor_of_the_error_cases_is_valid():
    validate(base())


def test_validate_reports_every_problem_at_once():
    d = base()
    d.pop("tag")
    _drop(d, "call", "url")
    action(d, "note").update(outgoingActions=["nowhere"])
    errors = problems(d)
    assert errors == [
        "tag: is required",
        "actions['call'].schema.url: is required",
        "actions['note'].outgoingActions[0]: no action has slug 'nowhere'",
    ]


def test_descriptor_error_reads_as_its_errors_one_a_line():
    error = DescriptorError(["tag: is required", "name: is required"])
    assert str(error) == "tag: is required\nname: is required"
    assert isinstance(error, ValueError)


# Export


def test_export_writes_block_yaml_with_multiline_strings_as_literal_blocks():
    text = export(validate(parse(CREATE_RELEASE)))
    assert text.startswith("tag: create-release\nname: Create Release\n")
    assert "runResponseTemplate: |\n  Release **" in text
    assert "    outgoingActions:\n      - build-destinations\n" in text
    assert "{" not in text.split("runResponseTemplate")[0]  # no flow style


def _reversed_keys(value):
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(value)}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_export_puts_keys_in_the_same_order_whatever_order_a_store_gave_them():
    descriptor = validate(base())
    by_name = json.loads(json.dumps(descriptor, sort_keys=True))
    assert export(by_name) == export(_reversed_keys(by_name)) == export(descriptor)
    assert export(by_name).startswith("tag: base\nname: Base\ndescription: ''\n")


def test_export_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="xml"):
        export(base(), "xml")


# Demo workflows


@pytest.mark.parametrize("path", DEMO_WORKFLOWS, ids=lambda p: p.stem)
def test_demo_workflow_is_valid_and_round_trips(path):
    descriptor = validate(parse(path.read_bytes()))
    assert descriptor["tag"] == path.stem
    assert parse(export(descriptor)) == descriptor
    for template in ("runResponseTemplate", "failedRunResponseTemplate"):
        assert descriptor[template].strip()


def test_demo_workflows_together_use_every_block_type():
    used = {
        a["schema"]["type"]
        for path in DEMO_WORKFLOWS
        for a in yaml.safe_load(path.read_text())["actions"]
    }
    assert set(BLOCK_TYPES) <= used


def test_demo_workflows_use_every_input_type():
    used = set()
    for path in DEMO_WORKFLOWS:
        for a in validate(parse(path.read_text()))["actions"]:
            for item in (
                a["schema"].get("inputs", [])
                if a["schema"]["type"] == "USER_INPUT"
                else []
            ):
                used.add(item["type"])
                used.update(i["type"] for i in item.get("inputs", []))
    assert used >= {
        "INPUT_FIELD", "TEXTAREA_FIELD", "SELECT_FIELD", "MULTISELECT_FIELD",
        "TOGGLE_FIELD", "NUMBER_FIELD", "DATE_FIELD", "SECRET_FIELD",
        "NESTED_FORM_FIELD", "CORTEX_ENTITY_FIELD", "CORTEX_USER_FIELD",
    }  # fmt: skip


# Helpers for the engine


def test_actions_by_slug_and_root_slug():
    descriptor = validate(base())
    assert list(actions_by_slug(descriptor)) == [
        "form",
        "route",
        "approve",
        "note",
        "call",
    ]
    assert actions_by_slug(descriptor)["call"]["schema"]["url"] == "http://x/"
    assert root_slug(descriptor) == "form"


# Robustness: whatever arrives, validate() answers with a DescriptorError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _replace(d: dict, path: list[int], value) -> dict:
    """`d` with one value replaced: the path picks a key or index at each level."""
    node = d
    for depth, part in enumerate(path):
        if not node:
            return d
        key = (
            list(node)[part % len(node)] if isinstance(node, dict) else part % len(node)
        )
        child = node[key]
        if depth == len(path) - 1 or not isinstance(child, dict | list):
            node[key] = value
            return d
        node = child
    return d


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    path=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6),
    value=json_values,
)
def test_validate_raises_only_descriptor_errors_whatever_a_field_holds(path, value):
    d = _replace(base(), path, value)
    try:
        validate(d)
    except DescriptorError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)


def test_validate_accepts_cortex_blocks_cairn_cannot_run_yet():
    d = base()
    action(d, "note")["schema"] = {
        "type": "PAGERDUTY_CREATE_INCIDENT",
        "serviceId": "P123",
        "title": "Down",
        "body": "It is down",
        "fromEmail": "ada@example.com",
        "urgency": "HIGH",
    }
    validate(d)
    action(d, "note")["schema"]["urgency"] = "MEDIUM"
    assert problems(d) == [
        "actions['note'].schema.urgency: must be one of HIGH, LOW (not 'MEDIUM')"
    ]


def test_a_validation_regex_in_java_or_javascript_syntax_saves():
    d = base()
    action(d, "form")["schema"]["inputs"][0]["validationRegex"] = (
        r"(?<region>\p{Ll}+)-\p{Ll}+-\d"
    )

    saved = validate(d)

    pattern = action(saved, "form")["schema"]["inputs"][0]["validationRegex"]
    assert pattern == r"(?<region>\p{Ll}+)-\p{Ll}+-\d"


def test_variable_defaults_written_as_text_are_read_for_their_type():
    d = base()
    d["variables"] = [
        {"slug": "replicas", "type": "NUMBER", "defaultValue": "3"},
        {"slug": "dry-run", "type": "BOOLEAN", "defaultValue": "true"},
        {"slug": "weights", "type": "ARRAY_OF_NUMBER", "defaultValue": [1, "2.5"]},
        {"slug": "label", "type": "STRING", "defaultValue": 42},
    ]

    defaults = {v["slug"]: v["defaultValue"] for v in validate(d)["variables"]}

    assert defaults == {
        "replicas": 3,
        "dry-run": True,
        "weights": [1, 2.5],
        "label": "42",
    }


def test_a_variable_default_that_is_no_number_is_still_an_error():
    d = base()
    d["variables"] = [{"slug": "replicas", "type": "NUMBER", "defaultValue": "three"}]
    assert problems(d) == [
        "variables['replicas'].defaultValue: must be a number, as the variable's type is NUMBER"
    ]


MUSTACHE_MISTAKES = """
tag: broken-templates
name: Broken templates
filter: {type: GLOBAL}
runResponseTemplate: "Done {{/env}}"
actions:
  - slug: call
    name: Call
    isRootAction: true
    outgoingActions: [shape]
    schema:
      type: HTTP_REQUEST_ASYNC
      httpMethod: POST
      url: "https://ci.example.com/{{#variables.n}}x"
      headers: {X-Token: "{{context.secrets.ci", Authorization: "Bearer {{{context.secrets.ci}}"}
      timeoutInSeconds: -5
  - slug: shape
    name: Shape
    isRootAction: false
    outgoingActions: []
    schema: {type: JAVASCRIPT, script: "return {braces: '{{'};"}
"""


def test_templates_that_do_not_parse_and_a_negative_timeout_are_refused_at_save():
    with pytest.raises(DescriptorError) as caught:
        validate(parse(MUSTACHE_MISTAKES))
    assert caught.value.errors == [
        "runResponseTemplate: is not a valid Mustache template: {{/env}} closes a section that was never opened",
        "actions['call'].schema.timeoutInSeconds: must be at least 1",
        "actions['call'].schema.url: is not a valid Mustache template: the section \"variables.n\" is never closed with {{/variables.n}}",
        "actions['call'].schema.headers.X-Token: is not a valid Mustache template: a tag opened with {{ is never closed with }}",
        "actions['call'].schema.headers.Authorization: is not a valid Mustache template: the tag {{{context.secrets.ci}} is closed with }} instead of }}}",
    ]


def test_code_and_expressions_may_hold_braces_that_are_not_mustache():
    text = MUSTACHE_MISTAKES.split("actions:")[0].replace(' "Done {{/env}}"', " Done")
    text += """actions:
  - {slug: shape, name: Shape, isRootAction: true, outgoingActions: [pick], schema: {type: JAVASCRIPT, script: "return {braces: '{{'};"}}
  - {slug: pick, name: Pick, isRootAction: false, outgoingActions: [], schema: {type: JQ, expression: '"{{" + "x"'}}
"""
    assert validate(parse(text))["actions"][0]["schema"]["script"].endswith("'{{'};")


def test_javascript_that_does_not_parse_is_refused_at_save_naming_the_line():
    text = """
tag: bad-scripts
name: Bad scripts
filter: {type: GLOBAL}
variables: [{slug: size, type: NUMBER}]
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [shape]
    schema:
      type: USER_INPUT
      inputs: [{key: name, name: Name, type: INPUT_FIELD, required: true}]
      jsValidatorScript: "return {name: ;"
  - slug: shape
    name: Shape
    isRootAction: false
    outgoingActions: [remember]
    schema:
      type: JAVASCRIPT
      script: |
        const names = await Promise.resolve(["a"]);
        return {names: names.map(n => n.toUpperCase()), raw: `{{`};
  - slug: remember
    name: Remember
    isRootAction: false
    outgoingActions: []
    schema:
      type: SET_VARIABLES
      variables:
        - slug: size
          source: {type: JAVASCRIPT, script: "const n = 1;\\nreturn n +;"}
"""
    with pytest.raises(DescriptorError) as caught:
        validate(parse(text))
    assert caught.value.errors == [
        "actions['form'].schema.jsValidatorScript: is not valid JavaScript: SyntaxError: Unexpected token ';' (line 1)",
        "actions['remember'].schema.variables['size'].source.script: is not valid JavaScript: SyntaxError: Unexpected token ';' (line 2)",
    ]


def test_a_script_that_stops_short_is_not_blamed_for_a_bracket_it_never_wrote():
    text = """
tag: short
name: Short
filter: {type: GLOBAL}
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: []
    schema:
      type: USER_INPUT
      inputs: [{key: name, name: Name, type: INPUT_FIELD, required: true}]
      jsValidatorScript: "if ("
"""
    with pytest.raises(DescriptorError) as caught:
        validate(parse(text))
    assert caught.value.errors == [
        "actions['form'].schema.jsValidatorScript: is not valid JavaScript:"
        " SyntaxError: unbalanced brackets, or an unfinished last statement (line 1)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tag: x\nicon: !!binary aGVsbG8=\n",
            "descriptor.icon: JSON can't store binary data (!!binary)",
        ),
        (
            "tag: x\nwhen: !!set {a}\n",
            "descriptor.when: JSON can't store a set (!!set); use a list",
        ),
        (
            "tag: x\ndeep: " + "[" * 3000 + "]" * 3000 + "\n",
            "invalid YAML: the YAML is nested too deeply",
        ),
        (
            '{"tag": "x", "deep": ' + "[" * 3000 + "]" * 3000 + "}",
            "invalid JSON: nested too deeply",
        ),
        (
            "tag: x\nn: " + "9" * 5000 + "\n",
            "descriptor.n: a number of 5000 digits is longer than Cairn reads",
        ),
        (
            '{"tag": "x", "n": [' + "9" * 5000 + "]}",
            "descriptor.n[0]: a number of 5000 digits is longer than Cairn reads",
        ),
    ],
)
def test_parse_refuses_what_json_cannot_store_or_python_cannot_read_saying_what(
    text, message
):
    with pytest.raises(DescriptorError) as caught:
        parse(text)
    assert message in str(caught.value)


# --- what a check may cost ---------------------------------------------------------------


def test_a_workflow_of_more_actions_than_cairn_checks_is_refused_saying_how_many():
    d = base()
    d["actions"] += [
        {
            "name": f"Step {i}",
            "slug": f"step-{i}",
            "isRootAction": False,
            "outgoingActions": [],
            "schema": {"type": "JQ", "expression": str(i)},
        }
        for i in range(MAX_ACTIONS - len(d["actions"]) + 1)
    ]
    assert problems(d) == [
        f"actions: {MAX_ACTIONS + 1} actions; a workflow may have at most {MAX_ACTIONS}"
    ]
    d["actions"].pop()
    assert "actions:" not in " ".join(problems(d))  # 500 are checked (step-N unreached)


def test_a_branch_expression_nested_deeper_than_cairn_evaluates_is_refused_at_save():
    d = base()
    deep = "(" * 251 + "true" + ")" * 251
    action(d, "route")["schema"]["branches"][0]["expression"] = deep
    assert problems(d) == [
        "actions['route'].schema.branches['prod'].expression: is not a valid CEL"
        " expression: the expression is nested too deeply to evaluate (more than"
        " about 30 parentheses or lists inside each other, or 140 terms chained by"
        " one operator)"
    ]
    # Brackets inside a string literal are text:
    action(d, "route")["schema"]["branches"][0]["expression"] = (
        'variables["env"] == "' + "(" * 300 + '"'
    )
    validate(d)


def test_branch_expressions_longer_than_cairn_checks_in_all_are_refused_naming_each():
    d = base()
    long = "variables.env == '" + "x" * (MAX_CEL_CHARS // 2) + "'"
    route = action(d, "route")["schema"]
    route["branches"][0]["expression"] = long
    route["branches"].append(
        {"name": "Too", "slug": "too", "expression": long, "outgoingAction": "approve"}
    )
    assert problems(d) == [
        "actions['route'].schema.branches['too'].expression: not checked: the"
        f" workflow's branch expressions are longer than {MAX_CEL_CHARS:,} characters"
        " in all"
    ]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            {"type": "NUMBER_FIELD", "format": "INTEGER", "defaultValue": 2.5},
            "CPU must be a whole number.",
        ),
        (
            {"type": "NUMBER_FIELD", "format": "DECIMAL", "defaultValue": 2, "min": 4},
            "CPU must be at least 4.",
        ),
        (
            {"type": "SELECT_FIELD", "options": ["a", "b"], "defaultValue": "c"},
            '"c" is not one of the options for CPU.',
        ),
        (
            {"type": "DATE_FIELD", "format": "DATE", "defaultValue": "next week"},
            "CPU must be a date (YYYY-MM-DD).",
        ),
    ],
)
def test_a_disabled_input_whose_default_its_rules_refuse_is_refused_at_save(
    field, message
):
    """Its value can't be changed, so every run waited on a form that could
    never be sent (QA)."""
    d = base()
    form = action(d, "form")["schema"]
    form["inputs"].append(
        {"key": "cpu", "name": "CPU", "required": True, "disabled": True, **field}
    )
    errors = problems(d)
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "actions['form'].schema.inputs['cpu'].defaultValue: a disabled input keeps"
        " its default, and this one is not valid: "
    )
    assert message in errors[0]
    form["inputs"][-1]["defaultValue"] = {"NUMBER_FIELD": 4, "SELECT_FIELD": "b"}.get(
        field["type"], "2026-01-02"
    )
    validate(d)  # a good default, or an input that is not disabled, saves


def test_a_disabled_input_an_override_sets_is_not_judged_by_its_declared_default():
    """At run time the override gives it its value or options (review)."""
    d = base()
    form = action(d, "form")["schema"]
    form["inputs"].append(
        {
            "key": "region",
            "name": "Region",
            "type": "SELECT_FIELD",
            "required": True,
            "disabled": True,
            "options": ["a"],
            "defaultValue": "prod",
        }
    )
    form["inputOverrides"] = [
        {"inputKey": "region", "outputVariable": "variables.env", "type": "OPTION"}
    ]
    validate(d)
