"""Read manifest files: multi-document YAML with the line of every field.

Errors elsewhere point at ``file:line``, so this module keeps, for every
document, the line where each field's value starts. A file that cannot be
read or parsed raises ``UnreadableInputError`` with ``file:line:column``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FieldPath = tuple[str | int, ...]


class UnreadableInputError(Exception):
    """A file that cannot be opened or is not YAML."""


@dataclass(frozen=True)
class Document:
    """One YAML document of a manifest file."""

    source: str
    line: int
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict, compare=False)

    def where(self, path: FieldPath = ()) -> str:
        """``file:line`` of the deepest known prefix of ``path``."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return f"{self.source}:{self.lines[path[:end]]}"
        return f"{self.source}:{self.line}"


def _field_lines(node: yaml.Node, path: FieldPath, out: dict[FieldPath, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _field_lines(value, (*path, str(key.value)), out)
                out[(*path, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _field_lines(item, (*path, index), out)


def parse_text(text: str, source: str) -> list[Document]:
    """Every non-empty document of a YAML stream."""
    try:
        # The reader checks every character first: a control character raises here.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise UnreadableInputError(f"{source}: YAML error: {exc}") from exc
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            lines: dict[FieldPath, int] = {}
            _field_lines(node, (), lines)
            docs.append(Document(source, node.start_mark.line + 1, data, lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or exc.context or "not valid YAML"
        raise UnreadableInputError(f"{where}: YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise UnreadableInputError(f"{source}: YAML error: {exc}") from exc
    finally:
        loader.dispose()
    return docs


def load_files(paths: list[Path]) -> list[Document]:
    """Every document of every file, in order; ``-`` is not special."""
    docs: list[Document] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UnreadableInputError(f"{path}: cannot read: {reason}") from exc
        docs += parse_text(text, str(path))
    return docs


def dotted(path: FieldPath) -> str:
    """A field path as people write it: ``spec.portals[0].port``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(document)"
