"""The filter language shared by the TUI and `fleetui cards`."""

import pytest

from fleetui.core.errors import UserError
from fleetui.inventory.query import Term, parse


def test_terms_keys_and_quoted_values():
    assert parse('team:"Ads ranking" model:h800 status:spare gpu-7') == [
        Term("team", "Ads ranking"),
        Term("model", "h800"),
        Term("status", "spare"),
        Term(None, "gpu-7"),
    ]


def test_key_aliases_and_status_prefixes():
    assert parse("host:bj1 state:rep") == [Term("node", "bj1"), Term("status", "repair")]
    assert parse('status:"in service"') == [Term("status", "in_service")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tema:llm", "did you mean 'team'"),
        ('team:"Ads', "unclosed quote"),
        ("status:broken", "Unknown status 'broken'; use one of in_service, spare, repair"),
        ("status:re", "^status:re is ambiguous: repair or retired.$"),
        ("state:R", "^status:R is ambiguous: repair or retired.$"),
        ("team:", "needs a value"),
    ],
)
def test_bad_filters_say_what_is_wrong_in_one_sentence(text, message):
    with pytest.raises(UserError, match=message) as raised:
        parse(text)
    assert "\n" not in str(raised.value)
