"""The naming rule accepts the studio's names and explains every refusal."""

from __future__ import annotations

import unicodedata

import pytest

from axiomd.config import SHOT_RULE
from axiomd.naming import NamingRule, ParsedName, Rejection


@pytest.fixture
def rule() -> NamingRule:
    return NamingRule("shot", SHOT_RULE["template"], SHOT_RULE["fields"], SHOT_RULE["identity"])


@pytest.mark.parametrize(
    "name",
    [
        "TST_SQ010_SH0010_comp_v001.mov",
        "TST_SQ010_SH0010_comp_v1234.exr",
        "AB_SQ0100_SH9999_lighting2_v010.mp4",
        "TST_SQ010_SH0010_comp_v001.MOV",
    ],
)
def test_good_names_parse(rule: NamingRule, name: str) -> None:
    """Names that follow the template are accepted with all their fields."""
    assert isinstance(rule.parse(name), ParsedName)


def test_parsed_name_names_its_asset_with_the_templates_separators(rule: NamingRule) -> None:
    """The asset is the identity fields joined as in the template."""
    parsed = rule.parse("TST_SQ010_SH0010_comp_v003.mov")
    assert isinstance(parsed, ParsedName)
    assert parsed.asset == "TST_SQ010_SH0010_comp"
    assert parsed.requested_number == 3
    assert dict(parsed.identity) == {"show": "TST", "seq": "SQ010", "shot": "SH0010", "task": "comp"}


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("tst_SQ010_SH0010_comp_v001.mov", "show"),  # wrong case
        ("TST_SQ10_SH0010_comp_v001.mov", "seq"),
        ("TST_SQ010_SH10_comp_v001.mov", "shot"),
        ("TST_SQ010_SH0010_Comp_v001.mov", "task"),
        ("TST_SQ010_SH0010_comp_v01.mov", "version"),
        ("TST_SQ010_SH0010_comp_v001.avi", "ext"),  # bad extension
        ("TST_SQ010_SH0010_comp.mov", "task"),  # missing version field
        ("TST_SQ010_SH0010_v001.mov", "task"),  # missing task
        ("TST_SQ010_SH0010_cömp_v001.mov", "task"),  # unicode
        ("TST_SQ010_SH0010 comp_v001.mov", "shot"),  # space
        ("TST_SQ010_SH0010_comp_v001.mov.bak", "ext"),  # trailing junk
        ("TST_SQ010_SH0010_comp_v001", "version"),  # no extension
    ],
)
def test_rejection_names_the_failing_field(rule: NamingRule, name: str, field: str) -> None:
    """Each refusal says which field was wrong."""
    result = rule.parse(name)
    assert isinstance(result, Rejection)
    assert result.field == field
    assert f"field '{field}'" in str(result)


@pytest.mark.parametrize(
    "name",
    [
        "../TST_SQ010_SH0010_comp_v001.mov",
        "TST_SQ010_SH0010_comp_v001..mov",
        "sub/TST_SQ010_SH0010_comp_v001.mov",
        "sub\\TST_SQ010_SH0010_comp_v001.mov",
        "TST_SQ010_SH0010_comp_v001\n.mov",
        "TST\x00_SQ010_SH0010_comp_v001.mov",
        "TST_SQ010_SH0010_comp_v001\x85.mov",  # a C1 control (NEL)
        "TST_SQ010_SH0010_comp_v001\x7f.mov",
        "TST_SQ010_SH0010_" + "c" * 260 + "_v001.mov",
        "",
    ],
)
def test_unsafe_names_are_rejected_before_matching(rule: NamingRule, name: str) -> None:
    """Separators, `..`, control characters and over-long names never reach the template."""
    result = rule.parse(name)
    assert isinstance(result, Rejection)
    assert result.field is None


def test_rejection_explains_expected_pattern_and_gives_a_passing_example(rule: NamingRule) -> None:
    """The message shows what was expected and an example that itself passes."""
    result = rule.parse("TST_SQ010_SH10_comp_v001.mov")
    assert isinstance(result, Rejection)
    assert "SH[0-9]{4}" in result.expected
    assert "'SH10'" in result.problem
    assert isinstance(rule.parse(result.example), ParsedName)
    assert result.example.startswith("TST_SQ010_")


def test_bad_extension_lists_the_allowed_ones(rule: NamingRule) -> None:
    """An extension refusal lists the extensions the root accepts."""
    result = rule.parse("TST_SQ010_SH0010_comp_v001.avi")
    assert isinstance(result, Rejection)
    assert "mov" in result.expected and "exr" in result.expected


def test_rule_without_version_field_parses_with_no_requested_number() -> None:
    """A template without `{version}` is allowed; the number is allocated."""
    rule = NamingRule("asset", "{show}_{asset}.{ext}",
                      {"show": "[A-Z]+", "asset": "[a-z]+", "ext": ["ma", "mb"]},
                      ["show", "asset"])
    parsed = rule.parse("TST_tree.ma")
    assert isinstance(parsed, ParsedName)
    assert parsed.requested_number is None
    assert parsed.asset == "TST_tree"


def test_render_sets_the_version_number_at_the_names_width(rule: NamingRule) -> None:
    """Renumbered files are stored under the name they would have had."""
    parsed = rule.parse("TST_SQ010_SH0010_comp_v001.mov")
    assert isinstance(parsed, ParsedName)
    assert rule.render(parsed.fields, 12) == "TST_SQ010_SH0010_comp_v012.mov"


def test_template_with_field_lacking_pattern_is_refused() -> None:
    """A template naming a field with no pattern is a config mistake, found at load."""
    with pytest.raises(ValueError, match="shot"):
        NamingRule("x", "{show}_{shot}", {"show": "[A-Z]+"}, ["show"])


def test_a_name_is_refused_for_a_control_character_exactly_when_unicode_calls_it_one(
        rule: NamingRule) -> None:
    """Unicode's control characters (category Cc) all lie below U+00A0; the first 12,288
    code points hold them and thousands of their neighbours."""
    for code in range(0x3000):
        char = chr(code)
        if char in "/\\":
            continue
        refused = rule.parse(f"TST_SQ010_SH0010_comp_v001{char}.mov")
        says_control = isinstance(refused, Rejection) and "control character" in refused.problem
        assert says_control == (unicodedata.category(char) == "Cc"), hex(code)
