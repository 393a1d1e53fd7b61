"""Inputs the fuzzers (tests/fuzz/) found that crashed the manifest loader."""

from __future__ import annotations

import pytest

from chatnet_operator.api.loader import UnreadableInputError, parse_text


@pytest.mark.parametrize("char", ["\x01", "\x00", "\x7f", "\ufffe"])
def test_manifest_with_a_control_character(char: str) -> None:
    # yaml.SafeLoader(text) checks the characters before parsing: its
    # ReaderError escaped ``chatnet validate`` as a traceback.
    text = f"apiVersion: chat.example.org/v1\nkind: ChatNetwork{char}\n"
    with pytest.raises(UnreadableInputError, match=r"fuzz\.yaml: YAML error"):
        parse_text(text, "fuzz.yaml")
