"""The line parser and serialiser against the irc-parser-tests vectors, plus
property tests of message-tag escaping.

Vectors come from the PyPI package ``irc-parser-tests`` (Daniel Oaks' suite):
``msg-split`` (parse), ``msg-join`` (serialise) and ``mask-match`` (the
wildcard masks bans use). ``userhost-split`` and ``validate-hostname`` test
client-side helpers the server does not have.

The server upper-cases commands while parsing (commands are case-insensitive
and the dispatch table is upper case), so verbs are compared upper-cased.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from parser_tests import data

from chatnet_node.irc.message import (
    Message,
    ParseError,
    escape_tag_value,
    format_message,
    format_tags,
    parse_line,
    parse_tags,
    unescape_tag_value,
)
from chatnet_node.irc.names import mask_matches


def _tags(atoms: dict[str, Any]) -> dict[str, str]:
    return {k: (v if v is not None else "") for k, v in (atoms.get("tags") or {}).items()}


def _expected(atoms: dict[str, Any]) -> tuple[dict[str, str], str | None, str, list[str]]:
    return (
        _tags(atoms),
        atoms.get("source"),
        str(atoms["verb"]).upper(),
        [str(p) for p in atoms.get("params") or []],
    )


def _atoms(msg: Message) -> tuple[dict[str, str], str | None, str, list[str]]:
    return (msg.tags, msg.source, msg.command, msg.params)


SPLIT = data.msg_split["tests"]
JOIN = data.msg_join["tests"]
MASKS = data.mask_match["tests"]


def test_vectors_are_there() -> None:
    assert len(SPLIT) >= 30
    assert len(JOIN) >= 15
    assert len(MASKS) >= 5


@pytest.mark.parametrize("case", SPLIT, ids=[c["input"][:60] for c in SPLIT])
def test_msg_split(case: dict[str, Any]) -> None:
    msg = parse_line(case["input"])
    assert _atoms(msg) == _expected(case["atoms"])


@pytest.mark.parametrize("case", SPLIT, ids=[c["input"][:60] for c in SPLIT])
def test_msg_split_reserialises_to_the_same_atoms(case: dict[str, Any]) -> None:
    """parse -> format -> parse is the identity on atoms."""
    msg = parse_line(case["input"])
    assert _atoms(parse_line(format_message(msg))) == _atoms(msg)


@pytest.mark.parametrize("case", JOIN, ids=[c.get("desc", "?")[:60] for c in JOIN])
def test_msg_join(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    msg = Message(
        str(atoms["verb"]),
        [str(p) for p in atoms.get("params") or []],
        atoms.get("source"),
        _tags(atoms),
    )
    line = format_message(msg)
    if line not in case["matches"]:
        # Tag order is free: the line must still mean the same as the vectors.
        assert _atoms(parse_line(line)) == _atoms(parse_line(case["matches"][0]))
    assert _atoms(parse_line(line)) == _expected(atoms)


@pytest.mark.parametrize("case", MASKS, ids=[c["mask"] for c in MASKS])
def test_mask_match(case: dict[str, Any]) -> None:
    for hostmask in case.get("matches", []):
        assert mask_matches(case["mask"], hostmask), hostmask
    for hostmask in case.get("fails", []):
        assert not mask_matches(case["mask"], hostmask), hostmask


@pytest.mark.parametrize("line", ["", "   ", "@a=b", "@a=b ", ":src", ":src   "])
def test_lines_without_a_command_are_refused(line: str) -> None:
    with pytest.raises(ParseError):
        parse_line(line)


def test_duplicate_tags_last_wins_and_empty_value_is_empty() -> None:
    assert parse_tags("a=1;b;a=2;c=") == {"a": "2", "b": "", "c": ""}


def test_trailing_param_forms() -> None:
    assert format_message(Message("PRIVMSG", ["#c", "hi there"])) == "PRIVMSG #c :hi there"
    assert format_message(Message("PRIVMSG", ["#c", ":)"])) == "PRIVMSG #c ::)"
    assert format_message(Message("AWAY", [""])) == "AWAY :"
    assert format_message(Message("PING", ["x"], tags={"a": "b c"}), with_tags=False) == "PING x"


# Property tests of tag escaping.

tag_values = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=60,
)
tag_keys = st.from_regex(r"\A\+?[a-z][a-z0-9-]{0,15}(/[a-z0-9-]{1,8})?\Z")


@given(tag_values)
def test_escape_round_trip(value: str) -> None:
    escaped = escape_tag_value(value)
    assert not any(c in escaped for c in "; \r\n")
    assert unescape_tag_value(escaped) == value


@given(st.dictionaries(tag_keys, tag_values, max_size=6), tag_values.filter(bool))
def test_tags_round_trip_through_a_whole_line(tags: dict[str, str], text: str) -> None:
    msg = Message("PRIVMSG", ["#chan", text.replace("\r", "").replace("\n", "")], "a!b@c", tags)
    line = format_message(msg)
    assert "\r" not in line.split(" ", 1)[0]
    parsed = parse_line(line)
    assert parsed.tags == tags
    assert parsed.params == msg.params
    assert parsed.source == "a!b@c"


@given(st.dictionaries(tag_keys, tag_values, min_size=1, max_size=6))
def test_format_tags_parses_back(tags: dict[str, str]) -> None:
    head = format_tags(tags)
    assert head.startswith("@")
    assert " " not in head
    assert parse_tags(head[1:]) == tags


@given(st.text(alphabet="abc\\:sn;", max_size=20))
def test_unescape_never_fails_and_escape_is_its_inverse_on_results(raw: str) -> None:
    value = unescape_tag_value(raw)
    assert unescape_tag_value(escape_tag_value(value)) == value


@given(
    st.lists(
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1),
        max_size=10,
    ),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=40),
)
def test_params_round_trip(middles: list[str], trailing: str) -> None:
    middles = [m.lstrip(":") or "x" for m in middles]
    msg = Message("CMD", [*middles, trailing])
    assert parse_line(format_message(msg)).params == msg.params


@given(
    st.text(alphabet="ab \r\n\0:", max_size=12),
    st.lists(st.text(alphabet="xy \r\n\0:", max_size=12), max_size=3),
)
def test_a_serialised_message_is_always_one_line(source: str, params: list[str]) -> None:
    """A CR, LF or NUL anywhere (a lone CR a client sent, a peer's text) becomes
    a space: the line a client reads ends where the server meant it to."""
    line = format_message(Message("PRIVMSG", ["#room", *params], source or None))
    assert not {"\r", "\n", "\0"} & set(line), repr(line)
    assert format_message(Message("PRIVMSG", ["#room", "hi\r\nQUIT :x"], "m!m@h")) == (
        ":m!m@h PRIVMSG #room :hi  QUIT :x"
    )
