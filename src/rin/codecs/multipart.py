"""multipart/form-data bodies (audio uploads, image edits): read in place, without copying the
files, and passed upstream with only the model field changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from rin.errors import InvalidRequest


@dataclass(slots=True)
class Part:
    name: str
    #: where the part's value lies in the raw body (start, end)
    span: tuple[int, int]
    filename: str | None = None
    content_type: str | None = None


@dataclass(slots=True)
class Form:
    raw: bytes
    boundary: bytes
    parts: list[Part] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        """A text field's value (the first of that name)."""
        for part in self.parts:
            if part.name == name and part.filename is None:
                start, end = part.span
                return self.raw[start:end].decode("utf-8", "replace")
        return None

    def values(self, name: str) -> list[str]:
        return [self.raw[p.span[0]:p.span[1]].decode("utf-8", "replace") for p in self.parts
                if p.name == name and p.filename is None]

    def file(self, *names: str) -> Part | None:
        return next((p for p in self.parts if p.name in names and p.filename is not None), None)

    def data(self, part: Part) -> memoryview:
        return memoryview(self.raw)[part.span[0]:part.span[1]]

    def with_value(self, name: str, value: str) -> tuple[memoryview | bytes, ...]:
        """The body with text field `name` set to `value`, as pieces of the original around the new
        value: the transport sends them in order, so the upload is never copied."""
        view = memoryview(self.raw)
        for part in self.parts:
            if part.name == name and part.filename is None:
                start, end = part.span
                return (view[:start], value.encode(), view[end:])
        raise InvalidRequest(f"'{name}' is required.", param=name)


def boundary_of(content_type: str | None) -> bytes:
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise InvalidRequest("This endpoint takes multipart/form-data (a file upload); send the file "
                             "as a form field, as the OpenAI SDKs do.")
    for piece in content_type.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise InvalidRequest("The multipart/form-data content type has no boundary.")


def parse_form(raw: bytes, content_type: str | None) -> Form:
    """The parts of a multipart body, located by offsets; a truncated or malformed body is a 400."""
    boundary = boundary_of(content_type)
    form = Form(raw, boundary)
    delimiter = b"--" + boundary
    pos = raw.find(delimiter)
    if pos < 0:
        raise InvalidRequest("The multipart body has no part: is it cut short?")
    while True:
        pos += len(delimiter)
        if raw[pos:pos + 2] == b"--":
            return form
        header_end = raw.find(b"\r\n\r\n", pos)
        if header_end < 0:
            raise _truncated()
        headers = raw[pos:header_end].decode("utf-8", "replace")
        start = header_end + 4
        end = raw.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise _truncated()
        form.parts.append(_part(headers, (start, end)))
        pos = end + 2


def _part(headers: str, span: tuple[int, int]) -> Part:
    name = filename = content_type = None
    for line in headers.split("\r\n"):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "content-disposition":
            for item in value.split(";")[1:]:
                k, _, v = item.strip().partition("=")
                if k == "name":
                    name = v.strip('"')
                elif k == "filename":
                    filename = v.strip('"')
        elif key == "content-type":
            content_type = value.strip()
    if name is None:
        raise InvalidRequest("A multipart part has no name (Content-Disposition: form-data; name=...).")
    return Part(name, span, filename, content_type)


def _truncated() -> InvalidRequest:
    return InvalidRequest("The multipart body is cut short (no closing boundary): send the whole file.")
