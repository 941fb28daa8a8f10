import pytest
import yaml

from catalog.descriptors import DescriptorError, parse_entity, parse_entity_file

GOOD = """\
openapi: 3.0.1
info:
  title: Payments API
  description: Takes card payments.
  x-cortex-tag: payments-api
  x-cortex-type: library
  x-cortex-groups: [backend, tier-1, backend]
  x-cortex-owners:
    - {type: group, name: payments, provider: CORTEX}
    - {type: EMAIL, email: Grace@Example.com}
    - {type: slack, channel: payments-alerts}
"""


def info(**fields) -> dict:
    """A valid descriptor document whose `info` block is changed by `fields` (None removes)."""
    block = {"title": "Ledger", "x-cortex-tag": "ledger"}
    for key, value in fields.items():
        key = key.replace("_", "-")
        if value is None:
            block.pop(key, None)
        else:
            block[key] = value
    return {"openapi": "3.0.1", "info": block}


def error_of(text: str) -> DescriptorError:
    with pytest.raises(DescriptorError) as caught:
        parse_entity_file(text)
    return caught.value


def test_a_good_descriptor_gives_every_field():
    [spec] = parse_entity_file(GOOD)
    assert spec.tag == "payments-api"
    assert spec.name == "Payments API"
    assert spec.type_tag == "library"
    assert spec.description == "Takes card payments."
    assert spec.groups == ["backend", "tier-1"]
    assert spec.owner_team_tags == ["payments"]
    assert spec.owner_emails == ["grace@example.com"]
    assert spec.info["x-cortex-tag"] == "payments-api"


def test_a_minimal_descriptor_is_a_service_with_no_groups_or_owners():
    spec = parse_entity(info())
    assert spec.type_tag == "service"
    assert spec.description == ""
    assert spec.groups == spec.owner_team_tags == spec.owner_emails == []


def test_x_cortex_description_is_the_description_when_there_is_no_other():
    # Cortex's own solution catalogs describe entities this way.
    described = info(x_cortex_description="Ledger of card payments")
    assert parse_entity(described).description == "Ledger of card payments"
    both = info(description="Takes payments.", x_cortex_description="Other")
    assert parse_entity(both).description == "Takes payments."


def test_surrounding_whitespace_is_trimmed():
    spec = parse_entity(info(title="  Ledger  ", x_cortex_groups=[" backend "]))
    assert spec.name == "Ledger"
    assert spec.groups == ["backend"]


def test_a_file_of_several_documents_gives_one_spec_each():
    text = yaml.safe_dump_all([info(), info(x_cortex_tag="money", title="Money")])
    assert [s.tag for s in parse_entity_file(text)] == ["ledger", "money"]


BAD_DOCUMENTS = {
    "not_a_mapping": (["a", "list"], "", "must be a mapping"),
    "missing_openapi": ({"info": info()["info"]}, "openapi", "is required"),
    "missing_info": ({"openapi": "3.0.1"}, "info", "is required"),
    "info_not_a_mapping": (
        {"openapi": "3.0.1", "info": "x"},
        "info",
        "must be a mapping",
    ),
    "missing_tag": (info(x_cortex_tag=None), "info.x-cortex-tag", "is required"),
    "empty_tag": (info(x_cortex_tag=" "), "info.x-cortex-tag", "non-empty string"),
    "tag_with_spaces": (
        info(x_cortex_tag="my service"),
        "info.x-cortex-tag",
        "not a valid tag",
    ),
    "tag_with_a_slash": (
        info(x_cortex_tag="a/b"),
        "info.x-cortex-tag",
        "not a valid tag",
    ),
    "tag_too_long": (info(x_cortex_tag="a" * 201), "info.x-cortex-tag", "at most 200"),
    "numeric_tag": (info(x_cortex_tag=42), "info.x-cortex-tag", "non-empty string"),
    "missing_title": (info(title=None), "info.title", "is required"),
    "bad_type": (
        info(x_cortex_type="web app"),
        "info.x-cortex-type",
        "not a valid tag",
    ),
    "groups_not_a_list": (
        info(x_cortex_groups="backend"),
        "info.x-cortex-groups",
        "list",
    ),
    "non_string_group": (
        info(x_cortex_groups=["ok", 7]),
        "info.x-cortex-groups[1]",
        "string",
    ),
    "owners_not_a_list": (
        info(x_cortex_owners={"type": "group"}),
        "info.x-cortex-owners",
        "list",
    ),
    "owner_not_a_mapping": (
        info(x_cortex_owners=["ada"]),
        "info.x-cortex-owners[0]",
        "mapping",
    ),
    "owner_without_type": (
        info(x_cortex_owners=[{"name": "platform"}]),
        "info.x-cortex-owners[0].type",
        "not one of group, email, slack",
    ),
    "owner_of_unknown_type": (
        info(x_cortex_owners=[{"type": "team", "name": "platform"}]),
        "info.x-cortex-owners[0].type",
        "'team' is not one of",
    ),
    "group_owner_without_name": (
        info(x_cortex_owners=[{"type": "email", "email": "a@b.io"}, {"type": "group"}]),
        "info.x-cortex-owners[1].name",
        "is required",
    ),
    "email_owner_with_a_bad_email": (
        info(x_cortex_owners=[{"type": "email", "email": "ada-at-example"}]),
        "info.x-cortex-owners[0].email",
        "'ada-at-example' is not an email address",
    ),
    "email_owner_without_email": (
        info(x_cortex_owners=[{"type": "email"}]),
        "info.x-cortex-owners[0].email",
        "not an email address",
    ),
    "email_owner_with_a_number": (
        info(x_cortex_owners=[{"type": "email", "email": 5}]),
        "info.x-cortex-owners[0].email",
        "not an email address",
    ),
}


@pytest.mark.parametrize(
    ("document", "field", "message"), BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys()
)
def test_a_bad_descriptor_is_rejected_with_an_error_naming_the_field(
    document, field, message
):
    error = error_of(yaml.safe_dump(document))
    assert error.field == field
    assert message in str(error)
    if field:
        assert str(error).startswith(f"{field}: ")


def test_invalid_yaml_is_rejected_with_its_line():
    error = error_of("openapi: 3.0.1\ninfo:\n  title: [unclosed\n")
    assert error.field == ""
    assert "invalid YAML" in str(error)
    assert "line" in str(error)


@pytest.mark.parametrize("text", ["", "\n---\n", "# only a comment\n"])
def test_a_file_without_a_descriptor_is_rejected(text):
    assert "no descriptor" in str(error_of(text))


def test_a_bad_second_document_is_reported_as_document_2():
    text = yaml.safe_dump_all([info(), info(x_cortex_tag="money", title=None)])
    error = error_of(text)
    assert error.field == "document 2: info.title"
    assert str(error) == "document 2: info.title: is required"


def test_a_second_document_that_is_not_a_mapping_is_reported_as_document_2():
    error = error_of(yaml.safe_dump(info()) + "---\n- just a list\n")
    assert error.field == "document 2"
    assert str(error).startswith("document 2: the descriptor must be a mapping")


def test_two_documents_with_the_same_tag_in_one_file_are_rejected():
    text = yaml.safe_dump_all([info(), info(title="Ledger again")])
    error = error_of(text)
    assert error.field == "document 2: info.x-cortex-tag"
    assert "already used by document 1" in str(error)
