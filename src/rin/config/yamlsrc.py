"""Reading the YAML: safe semantics only, the file and line of every key, and `include:`.

An included file's `model_list` entries are appended after the including file's; every other
section is merged key by key, the including file winning. Paths in `include:` are relative to the
file that names them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rin.config.problems import ConfigError, KeyPath

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: (file as shown to the user, 1-based line)
Location = tuple[str, int]


@dataclass(slots=True)
class Document:
    """A parsed config: the plain data, plus where each key came from."""

    data: dict[str, Any]
    file: str
    lines: dict[KeyPath, Location] = field(default_factory=dict)
    #: a key given twice in one mapping (YAML keeps the last silently): one warning each
    duplicates: list[str] = field(default_factory=list)

    def where(self, path: KeyPath) -> str:
        """`FILE:LINE` of the key at `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            loc = self.lines.get(path[:end])
            if loc is not None:
                return f"{loc[0]}:{loc[1]}"
        return f"{self.file}:1"


def load_document(path: Path) -> Document:
    """Parse `path` and everything it includes. Raises ConfigError naming file and line."""
    return _load(path, str(path), ())


def _load(path: Path, shown: str, stack: tuple[Path, ...]) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read the config file ({type(exc).__name__})") from None
    data, lines, duplicates = _parse(text, shown)
    doc = Document(data, shown, lines, duplicates)
    includes = doc.data.pop("include", None)
    if includes is not None:
        for index, name in _include_names(doc, includes):
            child_path = path.parent / name
            child_shown = os.path.normpath(os.path.join(os.path.dirname(shown), name))
            where = f"{doc.where(('include', index))}: include[{index}]"
            real = child_path.resolve()
            chain = (*stack, path.resolve())
            if real in chain:
                raise ConfigError(f"{where}: '{name}' is already being loaded (include cycle through "
                                  f"{child_shown}); a file cannot include itself, directly or indirectly")
            if not child_path.is_file():
                raise ConfigError(f"{where}: included file '{name}' not found (looked for {child_shown})")
            child = _load(child_path, child_shown, chain)
            doc.duplicates += child.duplicates
            _merge(doc, child)
    return doc


def _include_names(doc: Document, includes: Any) -> list[tuple[int, str]]:
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise ConfigError(f"{doc.where(('include',))}: include: must be a list of file names")
    for index, name in enumerate(includes):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{doc.where(('include', index))}: include[{index}]: must be a file name")
    return [(i, n.strip()) for i, n in enumerate(includes)]


def _parse(text: str, shown: str) -> tuple[dict[str, Any], dict[KeyPath, Location], list[str]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{shown}{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: YAML syntax error: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}, []
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}:1: the top level must be a mapping of sections "
                          "(model_list, router_settings, general_settings, litellm_settings, ...)")
    lines: dict[KeyPath, Location] = {}
    duplicates: list[str] = []
    _record(node, (), lines, shown, duplicates)
    return data, lines, duplicates


def _record(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, Location], shown: str,
            duplicates: list[str]) -> None:
    """Walk the composed node tree beside the constructed data, noting the line of each key (and
    each key a mapping gives twice: YAML keeps the last one without a word)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                name = ".".join(str(p) for p in (*path, key))
                duplicates.append(f"{shown}:{line}: '{name}' is given twice (also at line {seen[key]}); YAML "
                                  f"keeps only this one, so line {seen[key]}'s is ignored: remove one of them")
            seen[key] = line
            lines[(*path, key)] = (shown, line)
            _record(value_node, (*path, key), lines, shown, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = (shown, item.start_mark.line + 1)
            _record(item, (*path, index), lines, shown, duplicates)


def _merge(doc: Document, child: Document) -> None:
    """Fold an included document into `doc` (the including file wins on every shared key)."""
    copied: set[KeyPath] = set()
    offset = 0
    for key, value in child.data.items():
        if key == "model_list":
            if not isinstance(value, list):
                raise ConfigError(f"{child.where(('model_list',))}: model_list: must be a list of models")
            mine = doc.data.setdefault("model_list", [])
            if not isinstance(mine, list):
                raise ConfigError(f"{doc.where(('model_list',))}: model_list: must be a list of models")
            offset = len(mine)
            mine.extend(value)
        else:
            _merge_value(doc.data, key, value, (key,), copied)
    for path, loc in child.lines.items():
        if path[0] == "model_list" and len(path) > 1 and isinstance(path[1], int):
            doc.lines[("model_list", path[1] + offset, *path[2:])] = loc
        elif any(path[:end] in copied for end in range(1, len(path) + 1)):
            doc.lines[path] = loc


def _merge_value(target: dict[str, Any], key: str, value: Any, path: KeyPath, copied: set[KeyPath]) -> None:
    if key not in target:
        target[key] = value
        copied.add(path)
    elif isinstance(target[key], dict) and isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _merge_value(target[key], sub_key, sub_value, (*path, sub_key), copied)


__all__ = ["Document", "load_document"]
