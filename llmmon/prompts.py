"""The prompt registry: versioned prompt templates kept as YAML files under ``prompts/``.

One file per prompt name (``prompts/support-answer.yaml``, ``prompts/judge/faithfulness.yaml``)::

    name: support-answer
    description: ...
    versions:
      - version: v1
        hash: 3f2a9c0d1e4b5a67      # written by `llmmon prompts lock`
        model: gpt-4o-mini          # optional
        temperature: 0              # optional
        messages:
          - {role: system, content: "..."}
          - {role: user, content: "{{ question }}"}
        output_schema: {...}        # optional

Each version is pinned by a content hash (sha256 of its canonical JSON, first 16 hex digits,
ignoring ``version`` and ``hash``), so a text edit without a version bump shows up as a mismatch
in ``llmmon prompts check``. Usage::

    support = llmmon.prompt("support-answer")          # latest version
    messages = support.render(question="When do you open on Saturday?")
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

from llmmon.errors import PromptError

__all__ = [
    "Prompt",
    "PromptFile",
    "PromptIssue",
    "check_prompts",
    "content_hash",
    "find_prompt_files",
    "load_prompt_file",
    "lock_prompt_file",
    "prompt",
]

# trim_blocks/lstrip_blocks: `{% for %}` lines in YAML block scalars leave no blank lines behind.
_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_VERSION_KEYS = {"version", "hash", "model", "temperature", "messages", "output_schema", "description"}
_FILE_KEYS = {"name", "description", "versions"}


class _Lines(dict[Any, Any]):
    """A mapping from YAML that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class _MarkedLoader(yaml.SafeLoader):
    """A safe loader whose mappings know their line numbers, for errors that name file and line."""


def _construct_marked_mapping(loader: _MarkedLoader, node: yaml.MappingNode) -> _Lines:
    loader.flatten_mapping(node)
    mapping = _Lines()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_MarkedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_marked_mapping)


def _line_of(mapping: Any, key: Any | None = None) -> int | None:
    if not isinstance(mapping, _Lines):
        return None
    if key is not None and key in mapping.key_lines:
        return mapping.key_lines[key]
    return mapping.line


def content_hash(version: Mapping[str, Any]) -> str:
    """The content hash of one version: sha256 of its canonical JSON without ``version``/``hash``."""
    content = {key: _plain(value) for key, value in version.items() if key not in ("version", "hash")}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt, ready to render. ``hash`` is the computed content hash."""

    name: str
    version: str
    hash: str
    messages: tuple[Mapping[str, str], ...]
    variables: frozenset[str]
    recorded_hash: str | None = None
    model: str | None = None
    temperature: float | None = None
    output_schema: Mapping[str, Any] | None = None
    description: str | None = None
    path: Path | None = None
    _templates: tuple[jinja2.Template, ...] = field(default=(), repr=False, compare=False)

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Fill the templates and stamp name/version/hash on the current span.

        A variable the templates use but the caller did not pass raises ``PromptError``.
        """
        missing = sorted(self.variables - variables.keys())
        if missing:
            raise PromptError(
                f"prompt {self.name!r} {self.version} needs variable(s) {', '.join(missing)}", path=self.path
            )
        rendered: list[dict[str, str]] = []
        for message, template in zip(self.messages, self._templates, strict=True):
            try:
                content = template.render(**variables)
            except jinja2.UndefinedError as exc:  # e.g. an attribute of a passed object is missing
                raise PromptError(
                    f"prompt {self.name!r} {self.version}: {exc.message}", path=self.path
                ) from exc
            rendered.append({"role": message["role"], "content": content})
        _stamp_current_span(self)
        return rendered


def _stamp_current_span(prompt: Prompt) -> None:
    # Imported here: the tracing runtime is optional for code that only renders prompts.
    from llmmon.tracing import context

    context.stamp_prompt(prompt.name, prompt.version, prompt.hash)


@dataclass(frozen=True)
class PromptFile:
    """A parsed prompt file: its name and versions in file order (the last is the latest)."""

    path: Path
    name: str
    description: str | None
    versions: tuple[Prompt, ...]

    @property
    def latest(self) -> Prompt:
        """The newest version (the last one in the file)."""
        return self.versions[-1]

    def get(self, version: str) -> Prompt:
        """The version called ``version``; ``PromptError`` naming the known versions otherwise."""
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        known = ", ".join(v.version for v in self.versions)
        raise PromptError(f"prompt {self.name!r} has no version {version!r} (known: {known})", path=self.path)


def load_prompt_file(path: Path) -> PromptFile:
    """Parse and validate one prompt file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"cannot read prompt file: {exc.strerror or exc}", path=path) from exc
    try:
        data = yaml.load(text, Loader=_MarkedLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PromptError(f"invalid YAML: {exc.problem or exc}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise PromptError(f"invalid YAML: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise PromptError("a prompt file must be a mapping with name and versions", path=path, line=1)
    unknown = sorted(str(k) for k in data.keys() - _FILE_KEYS)
    if unknown:
        raise PromptError(f"unknown key {unknown[0]!r}", path=path, line=_line_of(data, unknown[0]))
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise PromptError("'name' must be a non-empty string", path=path, line=_line_of(data, "name"))
    versions_data = data.get("versions")
    if not isinstance(versions_data, list) or not versions_data:
        raise PromptError("'versions' must be a non-empty list", path=path, line=_line_of(data, "versions"))
    versions: list[Prompt] = []
    seen: set[str] = set()
    for entry in versions_data:
        version = _parse_version(name, entry, path=path, default_line=_line_of(data, "versions"))
        if version.version in seen:
            raise PromptError(f"version {version.version!r} appears twice", path=path, line=_line_of(entry))
        seen.add(version.version)
        versions.append(version)
    description = data.get("description")
    return PromptFile(
        path=path, name=name, description=str(description) if description else None, versions=tuple(versions)
    )


def _parse_version(name: str, entry: Any, *, path: Path, default_line: int | None) -> Prompt:
    if not isinstance(entry, dict):
        raise PromptError("each item of 'versions' must be a mapping", path=path, line=default_line)
    line = _line_of(entry)
    unknown = sorted(str(k) for k in entry.keys() - _VERSION_KEYS)
    if unknown:
        raise PromptError(f"unknown key {unknown[0]!r}", path=path, line=_line_of(entry, unknown[0]))
    version = entry.get("version")
    if not isinstance(version, str | int) or isinstance(version, bool) or str(version) == "":
        raise PromptError("each version needs a 'version' string", path=path, line=line)
    version = str(version)
    recorded = entry.get("hash")
    if recorded is not None and not isinstance(recorded, str):
        raise PromptError("'hash' must be a string", path=path, line=_line_of(entry, "hash"))
    messages = entry.get("messages")
    if not isinstance(messages, list) or not messages:
        where = _line_of(entry, "messages") or line
        raise PromptError(f"version {version}: 'messages' must be a non-empty list", path=path, line=where)
    templates: list[jinja2.Template] = []
    variables: set[str] = set()
    plain_messages: list[dict[str, str]] = []
    for message in messages:
        msg_line = _line_of(message) or _line_of(entry, "messages")
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise PromptError(f"version {version}: each message needs a 'role'", path=path, line=msg_line)
        content = message.get("content")
        if not isinstance(content, str):
            raise PromptError(
                f"version {version}: message content must be a string", path=path, line=msg_line
            )
        try:
            ast = _ENV.parse(content)
            templates.append(_ENV.from_string(content))
        except jinja2.TemplateSyntaxError as exc:
            content_line = _line_of(message, "content") or msg_line or 1
            raise PromptError(
                f"version {version}: template error: {exc.message}",
                path=path,
                line=content_line + exc.lineno - 1,
            ) from exc
        variables |= jinja2.meta.find_undeclared_variables(ast)
        plain_messages.append({"role": message["role"], "content": content})
    temperature = entry.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float) or isinstance(temperature, bool)
    ):
        raise PromptError("'temperature' must be a number", path=path, line=_line_of(entry, "temperature"))
    model = entry.get("model")
    if model is not None and not isinstance(model, str):
        raise PromptError("'model' must be a string", path=path, line=_line_of(entry, "model"))
    schema = entry.get("output_schema")
    if schema is not None and not isinstance(schema, dict):
        raise PromptError(
            "'output_schema' must be a mapping", path=path, line=_line_of(entry, "output_schema")
        )
    description = entry.get("description")
    return Prompt(
        name=name,
        version=version,
        hash=content_hash(entry),
        messages=tuple(plain_messages),
        variables=frozenset(variables),
        recorded_hash=recorded,
        model=model,
        temperature=float(temperature) if temperature is not None else None,
        output_schema=_plain(schema) if schema is not None else None,
        description=str(description) if description else None,
        path=path,
        _templates=tuple(templates),
    )


def find_prompt_files(prompts_dir: Path) -> list[Path]:
    """Every prompt file under ``prompts_dir`` (``*.yaml`` and ``*.yml``), sorted."""
    if not prompts_dir.is_dir():
        raise PromptError("prompts directory not found", path=prompts_dir)
    return sorted(p for p in prompts_dir.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


_CACHE: dict[Path, tuple[int, int, PromptFile]] = {}


def _load_cached(path: Path) -> PromptFile:
    # Apps call prompt() per request; re-parse only when the file changed on disk.
    stat = path.stat()
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
        return cached[2]
    loaded = load_prompt_file(path)
    _CACHE[path] = (stat.st_mtime_ns, stat.st_size, loaded)
    return loaded


def prompt(name: str, version: str | None = None, *, prompts_dir: Path | None = None) -> Prompt:
    """Load prompt ``name`` (its latest version, or ``version``) from ``prompts_dir``.

    ``prompts_dir`` defaults to the ``prompts_dir`` setting (``LLMMON_PROMPTS_DIR``, ``./prompts``).
    """
    if prompts_dir is None:
        from llmmon.config import Settings

        prompts_dir = Settings().prompts_dir
    for suffix in (".yaml", ".yml"):
        path = (prompts_dir / name).with_name(Path(name).name + suffix)
        if path.is_file():
            break
    else:
        raise PromptError(f"no prompt named {name!r} (looked for {name}.yaml)", path=prompts_dir)
    loaded = _load_cached(path.resolve())
    if loaded.name != name:
        raise PromptError(f"file declares name {loaded.name!r}, expected {name!r}", path=path, line=1)
    return loaded.latest if version is None else loaded.get(version)


@dataclass(frozen=True)
class PromptIssue:
    """A problem ``llmmon prompts check`` found with one prompt version."""

    path: Path
    name: str
    version: str
    kind: str  # "unlocked" | "edited" | "edited-since-recorded" | "invalid"
    message: str
    line: int | None = None


def check_prompts(
    prompts_dir: Path, *, recorded_hashes: Mapping[tuple[str, str], set[str]] | None = None
) -> tuple[list[PromptFile], list[PromptIssue]]:
    """Load every prompt file and compare each version's computed hash with the recorded ones.

    ``recorded_hashes`` maps (name, version) to the hashes seen in the database's spans; a version
    whose content changed after it was used in production is reported even if the file was re-locked.
    """
    files: list[PromptFile] = []
    issues: list[PromptIssue] = []
    for path in find_prompt_files(prompts_dir):
        try:
            loaded = load_prompt_file(path)
        except PromptError as exc:
            issues.append(PromptIssue(path, "?", "?", "invalid", str(exc), exc.line))
            continue
        files.append(loaded)
        for version in loaded.versions:
            if version.recorded_hash is None:
                issues.append(
                    PromptIssue(
                        path,
                        loaded.name,
                        version.version,
                        "unlocked",
                        f"{loaded.name} {version.version}: no hash recorded (run `llmmon prompts lock`)",
                    )
                )
            elif version.recorded_hash != version.hash:
                issues.append(
                    PromptIssue(
                        path,
                        loaded.name,
                        version.version,
                        "edited",
                        f"{loaded.name} {version.version}: content changed without a version bump "
                        f"(file hash {version.recorded_hash}, content hash {version.hash})",
                    )
                )
            seen = (recorded_hashes or {}).get((loaded.name, version.version), set()) - {version.hash}
            if seen:
                issues.append(
                    PromptIssue(
                        path,
                        loaded.name,
                        version.version,
                        "edited-since-recorded",
                        f"{loaded.name} {version.version}: traces recorded this version with hash "
                        f"{', '.join(sorted(seen))}, but its content hash is now {version.hash}",
                    )
                )
    return files, issues


def lock_prompt_file(path: Path) -> list[str]:
    """Write the content hash of every version that has none; returns the versions locked.

    Edits the text in place (a ``hash:`` line under ``version:``) so comments and layout survive.
    Versions whose recorded hash is wrong are left alone: that is an edit that needs a version bump.
    """
    loaded = load_prompt_file(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    raw = yaml.load("".join(lines), Loader=_MarkedLoader)
    inserts: list[tuple[int, str]] = []
    locked: list[str] = []
    for entry, version in zip(raw["versions"], loaded.versions, strict=True):
        if version.recorded_hash is not None:
            continue
        key_line = entry.key_lines["version"]  # 1-based
        source = lines[key_line - 1]
        column = source.index("version")
        if source[:column].strip() not in ("", "-"):
            raise PromptError("cannot lock a version written in flow style; add `hash:` by hand", path=path)
        inserts.append((key_line, " " * column + f"hash: {version.hash}\n"))
        locked.append(version.version)
    for line_no, text in sorted(inserts, reverse=True):
        if not lines[line_no - 1].endswith("\n"):
            lines[line_no - 1] += "\n"
        lines.insert(line_no, text)
    if inserts:
        path.write_text("".join(lines), encoding="utf-8")
        _CACHE.pop(path.resolve(), None)
        # Re-parse to prove the edit produced a valid file with matching hashes.
        for version in load_prompt_file(path).versions:
            if version.version in locked and version.recorded_hash != version.hash:
                raise PromptError(f"lock of {version.version} did not round-trip", path=path)
    return locked
