"""Inputs the fuzzers (tests/fuzz/) found that crashed the manifest loader."""

from __future__ import annotations

import pytest

from chatnet_operator.api.loader import UnreadableInputError, parse_text
from chatnet_operator.api.validate import validate_documents


@pytest.mark.parametrize("char", ["\x01", "\x00", "\x7f", "\ufffe"])
def test_manifest_with_a_control_character(char: str) -> None:
    # yaml.SafeLoader(text) checks the characters before parsing: its
    # ReaderError escaped ``chatnet validate`` as a traceback.
    text = f"apiVersion: chat.example.org/v1\nkind: ChatNetwork{char}\n"
    with pytest.raises(UnreadableInputError, match=r"fuzz\.yaml: YAML error"):
        parse_text(text, "fuzz.yaml")


@pytest.mark.parametrize("kind", ["{a: b}", "[ChatNetwork]"])
def test_manifest_whose_kind_is_a_mapping(kind: str) -> None:
    # ``kind not in KINDS`` raised TypeError (unhashable) out of validate_documents.
    docs = parse_text(f"apiVersion: chat.example.org/v1\nkind: {kind}\n", "fuzz.yaml")
    report = validate_documents(docs)
    assert [p.field for p in report.problems] == ["kind"]
    assert "is not a chatnet kind" in report.problems[0].problem
