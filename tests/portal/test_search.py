"""portal.search: names found whatever the case of their letters, ASCII or not."""

import pytest

from catalog.models import Entity
from tests.factories import EntityFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("text", ["ünï", "ÜNÏ", "Ünïcode", "wörk", "WÖRK", "code"])
def test_an_entity_is_found_whatever_the_case_of_its_letters(ws, text):
    """SQLite's own LIKE ignores the case of ASCII letters only (QA)."""
    EntityFactory(workspace=ws, tag="unicode", name="Ünïcode Wörkflow")
    EntityFactory(workspace=ws, tag="other", name="Other")
    found = Entity.objects.filter(workspace=ws).search(text)
    assert [e.tag for e in found] == ["unicode"]


def test_percent_and_underscore_in_a_search_are_text(ws):
    EntityFactory(workspace=ws, tag="a_b", name="100% up")
    EntityFactory(workspace=ws, tag="axb", name="100 up")
    assert [e.tag for e in Entity.objects.search("0%")] == ["a_b"]
    assert [e.tag for e in Entity.objects.search("a_")] == ["a_b"]
