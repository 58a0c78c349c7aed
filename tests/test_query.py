"""The filter language shared by the TUI and `fleetui cards`."""

import pytest

from fleetui.core.errors import UserError
from fleetui.inventory.query import Term, parse, quote


def test_terms_keys_and_quoted_values():
    assert parse('team:"Ads ranking" model:h800 status:spare gpu-7') == [
        Term("team", "Ads ranking", quoted=True),
        Term("model", "h800"),
        Term("status", "spare"),
        Term(None, "gpu-7"),
    ]


def test_a_dash_starting_a_word_negates_it():
    assert parse('-team:llm -h800 - "-5" bj1- -"x y"') == [
        Term("team", "llm", negated=True),
        Term(None, "h800", negated=True),
        Term(None, "-"),  # a lone dash is text
        Term(None, "-5", quoted=True),  # quoted: a value starting with a dash
        Term(None, "bj1-"),
        Term(None, "x y", quoted=True, negated=True),
    ]


def test_key_aliases_and_status_prefixes():
    assert parse("host:bj1 state:rep") == [Term("node", "bj1"), Term("status", "repair")]
    assert parse('status:"in service"') == [Term("status", "in_service", quoted=True)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tema:llm", "did you mean 'team'"),
        ('team:"Ads', "unclosed quote"),
        ("status:broken", "Unknown status 'broken'; use one of in_service, spare, repair"),
        ("status:re", "^status:re is ambiguous: repair or retired.$"),
        ("state:R", "^status:R is ambiguous: repair or retired.$"),
        ("team:", "needs a value"),
        ('team="', "unclosed quote"),
        ("model=h800", "^model= is not a filter; write model:value .only team, project, node"),
        # the filter as typed: repr() doubled each backslash and swapped the quotes
        ('team="C:\\new\\team\\"', r"^The filter 'team=\"C:\\new\\team\\\"' has an unclosed"),
        ("team:\"O'Brien", r"^The filter 'team:\"O'Brien' has an unclosed quote.$"),
    ],
)
def test_bad_filters_say_what_is_wrong_in_one_sentence(text, message):
    with pytest.raises(UserError, match=message) as raised:
        parse(text)
    assert "\n" not in str(raised.value)


NAMES = [
    'Q"uote [b]/x 数据',
    "O'Brien",
    "back\\slash",
    "ends\\",
    '"',
    "'lead",
    " spaced out ",
    "none",
]


@pytest.mark.parametrize("name", NAMES)
def test_a_quoted_value_reads_back_as_itself(name):
    """quote() is how the app writes any value into a filter: the parser gives it back whole."""
    assert parse(f"team={quote(name)} status:spare") == [
        Term("team", name, exact=True, quoted=True),
        Term("status", "spare"),
    ]
    assert parse(f"{quote(name)} project:{quote(name)}") == [
        Term(None, name, quoted=True),
        Term("project", name, quoted=True),
    ]


def test_a_quote_inside_a_word_is_a_character():
    assert parse("team:O'Brien it's") == [Term("team", "O'Brien"), Term(None, "it's")]
    assert parse("model:\"A100 80G\",h800 'two words'") == [
        Term("model", "A100 80G,h800", quoted=True),
        Term(None, "two words", quoted=True),
    ]


def test_several_statuses_and_exact_names():
    assert parse("status:in_s,spare,rep team=LLM node:bj1") == [
        Term("status", "in_service,spare,repair"),
        Term("team", "LLM", exact=True),
        Term("node", "bj1"),
    ]
    assert parse("a=b") == [Term(None, "a=b")], "= names a key only after team/project/node/site"
