"""IRC lines: parse one into a Message, serialise a Message back to a line.

Pure functions, no I/O. Follows modern IRC (modern.ircdocs.horse) and the
IRCv3 message-tags specification, including tag value escaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Lengths from the IRCv3 message-tags spec and RFC 1459.
MAX_LINE_BODY = 512  # bytes, the message proper, including CR LF
MAX_TAGS_FROM_CLIENT = 4096  # bytes, '@' and trailing space included
MAX_TAGS_TOTAL = 8191  # bytes, what a server may send

_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}
_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


class ParseError(ValueError):
    """A line that is not an IRC message (empty, tags only, bad prefix)."""


@dataclass(slots=True)
class Message:
    """One IRC message. ``params`` holds every parameter, the trailing one last."""

    command: str
    params: list[str] = field(default_factory=list)
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def param(self, index: int, default: str = "") -> str:
        """The parameter at ``index``, or ``default`` when there are fewer."""
        return self.params[index] if index < len(self.params) else default

    def to_line(self, with_tags: bool = True) -> str:
        """Serialise without CR LF. Tags are left out when ``with_tags`` is false."""
        return format_message(self, with_tags)


def unescape_tag_value(value: str) -> str:
    """Undo IRCv3 tag value escaping; a lone trailing backslash is dropped."""
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            if i + 1 < len(value):
                nxt = value[i + 1]
                out.append(_UNESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def escape_tag_value(value: str) -> str:
    """Escape a tag value for the wire."""
    # Five C-level searches: far cheaper than a generator over the escapes.
    if (
        ";" not in value
        and " " not in value
        and "\\" not in value
        and "\r" not in value
        and "\n" not in value
    ):
        return value
    return "".join(_ESCAPES.get(c, c) for c in value)


def parse_tags(raw: str) -> dict[str, str]:
    """Parse the tag section (without '@'). Later duplicates win, as the spec says."""
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not key:
            continue
        tags[key] = unescape_tag_value(value) if sep else ""
    return tags


def parse_line(line: str) -> Message:
    """Parse one line (CR LF already stripped).

    Raises:
        ParseError: the line holds no command.
    """
    pos = 0
    length = len(line)
    tags: dict[str, str] = {}
    source: str | None = None
    if line.startswith("@"):
        end = line.find(" ")
        if end == -1:
            raise ParseError("tags without a command")
        tags = parse_tags(line[1:end])
        pos = end
    while pos < length and line[pos] == " ":
        pos += 1
    if pos < length and line[pos] == ":":
        end = line.find(" ", pos)
        if end == -1:
            raise ParseError("source without a command")
        source = line[pos + 1 : end]
        pos = end
    while pos < length and line[pos] == " ":
        pos += 1
    if pos >= length:
        raise ParseError("no command")
    params: list[str] = []
    end = line.find(" ", pos)
    if end == -1:
        return Message(line[pos:].upper(), params, source, tags)
    command = line[pos:end].upper()
    pos = end
    while pos < length:
        while pos < length and line[pos] == " ":
            pos += 1
        if pos >= length:
            break
        if line[pos] == ":":
            params.append(line[pos + 1 :])
            break
        end = line.find(" ", pos)
        if end == -1:
            params.append(line[pos:])
            break
        params.append(line[pos:end])
        pos = end
    return Message(command, params, source, tags)


def format_tags(tags: dict[str, str]) -> str:
    """The tag section with its leading '@' and no trailing space ('' when empty)."""
    if not tags:
        return ""
    parts = [f"{k}={escape_tag_value(v)}" if v else k for k, v in tags.items()]
    return "@" + ";".join(parts)


#: What may not stand inside a line: each becomes a space (``format_message``).
_LINE_BREAKS = str.maketrans("\r\n\0", "   ")


def _breaks_a_line(source: str | None, params: list[str]) -> bool:
    text = (source or "") + "".join(params)  # one string: three scans at C speed
    return "\r" in text or "\n" in text or "\0" in text


def format_message(msg: Message, with_tags: bool = True) -> str:
    """Serialise a Message, making the last parameter trailing when it must be.

    A CR, LF or NUL in the source or a parameter becomes a space, whatever
    put it there (a lone CR a client sent mid-line, a peer's text on a path
    that writes text whole): written as it is, it would end the line there
    for a client and start another, from any source.
    """
    parts: list[str] = []
    if with_tags and msg.tags:
        parts.append(format_tags(msg.tags))
    source, params = msg.source, msg.params
    if _breaks_a_line(source, params):
        source = source.translate(_LINE_BREAKS) if source else source
        params = [param.translate(_LINE_BREAKS) for param in params]
    if source:
        parts.append(":" + source)
    parts.append(msg.command)
    if params:
        parts.extend(params[:-1])
        last = params[-1]
        if not last or " " in last or last[0] == ":":
            parts.append(":" + last)
        else:
            parts.append(last)
    return " ".join(parts)


def too_long(data: bytes) -> bool:
    """Longer than a client may send: 4096 bytes of tags, 512 of message (CR LF included)."""
    body = data
    if data.startswith(b"@"):
        space = data.find(b" ")
        tags_len = space + 1 if space != -1 else len(data)
        if tags_len > MAX_TAGS_FROM_CLIENT:
            return True
        body = data[tags_len:]
    return len(body) > MAX_LINE_BODY - 2
