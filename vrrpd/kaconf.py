"""keepalived.conf -> a tree of statements, each word knowing its file and line; pure.

keepalived's configuration is line-oriented: a line is a keyword and its arguments; `{` opens a
block belonging to the keyword before it (on the same line or alone on the next), `}` closes it.
The lexical rules followed here are keepalived 2.2.7's (lib/parser.c):

- `#` or `!` outside double quotes starts a comment, also in the middle of a word; `\\#` and
  `\\!` outside quotes are the characters themselves;
- a line ending in `\\` continues on the next line;
- a word in double quotes is one word (without the quotes); an unquoted word ends at
  whitespace or at a `"`;
- `{` and `}` outside quotes are words of their own here (keepalived needs them spaced; a
  configuration that keepalived reads is read the same way);
- `include PATTERN` (glob, relative to the including file's directory) splices each matching
  file in place, in sorted order; a pattern matching nothing is a note, not an error;
- `$NAME=value` defines a parameter and `$NAME` / `${NAME}` in later lines is replaced by it;
- `@ID line` / `@^ID line` keep a line only for one configuration id (keepalived's `-i`):
  with `config_id` given they are resolved, otherwise they are dropped with a note.

`parse_text` is pure: includes are read through the `read` callback. `load` is the thin
function that reads files. Every syntax problem is one `KaSyntaxError` line
`FILE:LINE: message`.
"""

from __future__ import annotations

import glob as globmod
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "KaSyntaxError",
    "Note",
    "Parsed",
    "Stmt",
    "Where",
    "Word",
    "load",
    "parse_text",
]

MAX_INCLUDE_DEPTH = 16


@dataclass(frozen=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Word:
    text: str
    quoted: bool = False


@dataclass
class Stmt:
    """One keyword line: `words[0]` is the keyword; `block` the statements of its `{ }` (None:
    no block). `raw` is the decommented source text after the keyword (for `script`, whose
    argument keepalived re-splits itself)."""

    words: list[Word]
    where: Where
    raw: str = ""
    block: list[Stmt] | None = None

    @property
    def key(self) -> str:
        return self.words[0].text

    @property
    def args(self) -> list[str]:
        return [w.text for w in self.words[1:]]


@dataclass(frozen=True)
class Note:
    where: Where
    message: str


@dataclass
class Parsed:
    stmts: list[Stmt]
    notes: list[Note] = field(default_factory=list)


class KaSyntaxError(Exception):
    """The file cannot be read as a keepalived configuration; str() is one line."""


# Reads an include: (pattern, directory of the including file) -> [(name, text)], sorted;
# raises KaSyntaxError (via the caller) with OSError text for an unreadable file.
Reader = Callable[[str, str], list[tuple[str, str]]]

_DEFINE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")
_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_CONDITION = re.compile(r"@(\^?)(\S*)\s+(.*)$")


def _decomment(line: str, where: Where) -> tuple[str, bool]:
    """The line without its comment; True when it ends in a continuation `\\`."""
    out: list[str] = []
    quote = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == '"':
            quote = not quote
        elif c == "\\" and quote and i + 1 < len(line):
            out.append(line[i : i + 2])  # an escaped character inside quotes stays as it is
            i += 2
            continue
        elif c == "\\" and not quote:
            if i + 1 == len(line):
                return "".join(out).strip(), True
            nxt = line[i + 1]
            if nxt in "#!":
                out.append(nxt)
                i += 2
                continue
            out.append(c + nxt)
            i += 2
            continue
        elif c in "#!" and not quote:
            break
        out.append(c)
        i += 1
    if quote:
        raise KaSyntaxError(f'{where}: unterminated quote (a " without its closing ")')
    return "".join(out).strip(), False


def _words(text: str) -> Iterator[tuple[Word, int]]:
    """Words of a decommented line, with the offset just past each word."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == '"':
            end = i + 1
            while text[end] != '"':  # _decomment checked that the quotes pair up
                end += 2 if text[end] == "\\" else 1
            yield Word(text[i + 1 : end], quoted=True), end + 1
            i = end + 1
            continue
        if text[i] in "{}":
            yield Word(text[i]), i + 1
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in '"{}':
            j += 1
        yield Word(text[i:j]), j
        i = j


@dataclass
class _Line:
    words: list[Word]
    where: Where
    raws: list[str]  # raws[k]: the text after words[k]


class _Lexer:
    def __init__(self, read: Reader | None, config_id: str | None, notes: list[Note]) -> None:
        self.read = read
        self.config_id = config_id
        self.notes = notes
        self.params: dict[str, str] = {}

    def lines(self, text: str, name: str, depth: int, stack: tuple[str, ...]) -> Iterator[_Line]:
        physical = text.splitlines()
        k = 0
        while k < len(physical):
            where = Where(name, k + 1)
            line, cont = _decomment(physical[k], where)
            k += 1
            while cont and k < len(physical):
                more, cont = _decomment(physical[k], Where(name, k + 1))
                line = f"{line} {more}"
                k += 1
            if not line:
                continue
            cond = _CONDITION.match(line)
            if line.startswith("@"):
                if cond is None:
                    raise KaSyntaxError(f"{where}: a conditional line needs '@ID text'")
                negate, cid, rest = cond.groups()
                if self.config_id is None:
                    self.notes.append(
                        Note(
                            where,
                            f"conditional line for configuration id {'^' if negate else ''}"
                            f"{cid}: dropped (give --config-id to choose)",
                        )
                    )
                    continue
                if (cid == self.config_id) == bool(negate):
                    continue
                line = rest
            define = _DEFINE.match(line)
            if define:
                self.params[define.group(1)] = define.group(2).strip()
                continue
            if "$" in line:
                line = _PARAM.sub(self._param, line)
            pairs = list(_words(line))
            words = [w for w, _ in pairs]
            raws = [line[end:].strip() for _, end in pairs]
            if not words:
                continue  # only blanks left (a continuation into an empty line)
            if words[0].text == "include" and not words[0].quoted:
                yield from self._include(words, where, depth, stack, name)
                continue
            yield _Line(words, where, raws)

    def _param(self, m: re.Match[str]) -> str:
        key = m.group(1) or m.group(2)
        return self.params.get(key, m.group(0))

    def _include(
        self, words: list[Word], where: Where, depth: int, stack: tuple[str, ...], name: str
    ) -> Iterator[_Line]:
        if len(words) != 2:
            raise KaSyntaxError(f"{where}: include needs one file name or pattern")
        if self.read is None:
            raise KaSyntaxError(f"{where}: include is not available here")
        if depth >= MAX_INCLUDE_DEPTH:
            raise KaSyntaxError(f"{where}: includes nested deeper than {MAX_INCLUDE_DEPTH}")
        pattern = words[1].text
        files = self.read(pattern, os.path.dirname(name))
        if not files:
            self.notes.append(Note(where, f"include {pattern}: matches no file, nothing included"))
        for sub, text in files:
            if sub in stack:
                raise KaSyntaxError(f"{where}: include {pattern}: {sub} includes itself")
            yield from self.lines(text, sub, depth + 1, (*stack, sub))


def _build(lines: Iterator[_Line], first: Where) -> list[Stmt]:
    root: list[Stmt] = []
    stack: list[tuple[list[Stmt], Stmt | None]] = [(root, None)]
    last: Stmt | None = None  # the statement a `{` alone on a line would open
    for line in lines:
        i = 0
        words = line.words
        while i < len(words):
            w = words[i]
            if w.text == "{" and not w.quoted:
                if last is None or last.block is not None:
                    raise KaSyntaxError(f"{line.where}: '{{' without a keyword before it")
                last.block = []
                stack.append((last.block, last))
                last = None
                i += 1
                continue
            if w.text == "}" and not w.quoted:
                if len(stack) == 1:
                    raise KaSyntaxError(f"{line.where}: '}}' without a matching '{{'")
                stack.pop()
                last = None
                i += 1
                continue
            j = i
            while j < len(words) and not (words[j].text in "{}" and not words[j].quoted):
                j += 1
            stmt = Stmt(words[i:j], line.where, raw=line.raws[i])
            stack[-1][0].append(stmt)
            last = stmt
            i = j
        # a keyword line's block may open on the next line: keep `last`
    if len(stack) > 1:
        opened = stack[-1][1]
        at = opened.where if opened is not None else first
        raise KaSyntaxError(f"{at}: '{{' of {opened.key if opened else '?'} is never closed")
    return root


def parse_text(
    text: str, name: str, read: Reader | None = None, config_id: str | None = None
) -> Parsed:
    """Parse one configuration text; `name` is how its lines are cited (FILE:LINE)."""
    notes: list[Note] = []
    lexer = _Lexer(read, config_id, notes)
    stmts = _build(lexer.lines(text, name, 0, (name,)), Where(name, 1))
    return Parsed(stmts, notes)


def _decode(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_files(pattern: str, base: str) -> list[tuple[str, str]]:
    """The files an include pattern names (relative to `base`), sorted, with their text."""
    full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
    names = sorted(globmod.glob(full)) if globmod.has_magic(full) else [full]
    out = []
    for n in names:
        if os.path.isdir(n):
            continue
        try:
            with open(n, "rb") as f:
                out.append((n, _decode(n, f.read())))
        except FileNotFoundError:
            if globmod.has_magic(full):
                continue
            return []
        except OSError as e:
            raise KaSyntaxError(f"{n}: cannot read: {e.strerror or e}") from None
    return out


def load(path: str, config_id: str | None = None) -> Parsed:
    """Read and parse `path` and its includes; KaSyntaxError (one line) on any problem."""
    try:
        with open(path, "rb") as f:
            text = _decode(path, f.read())
    except OSError as e:
        raise KaSyntaxError(f"{path}: cannot read: {e.strerror or e}") from None
    return parse_text(text, path, read_files, config_id)
