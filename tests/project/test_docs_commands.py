"""The commands the docs tell a person to type exist.

Every `scopecount SUBCOMMAND` in README.md and hardware_docs/*.md is a subcommand of the command
line's parser (and its action, where the subcommand takes one of a fixed few: `model install`,
`config check`), and every `make TARGET` is a target of the Makefile. Only code is read: inline
code spans and fenced blocks; in a block, what follows `#` is prose, and only its code spans are.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from device.cli.main import build_parser
from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "hardware_docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
SPAN = re.compile(r"(`+)((?:(?!\n[ \t]*\n)[^`])+?)\1")
# `scopecount` as a command: at the start, after a space, a quote or a path (`.../bin/scopecount`),
# but not the service user's name (`sudo -u scopecount scopecount model ...`)
WORD = r"([a-z][a-z0-9-]*)"
SCOPECOUNT = re.compile(
    rf"(?:^|(?<=[\s/(\"'`]))(?<!-u )(?<!--user )scopecount[ \t]+{WORD}(?:[ \t]+{WORD})?"
)
MAKE = re.compile(r"(?:^|(?<=[\s(;&|`]))make[ \t]+([^#;&|`]*)")
TARGET = re.compile(r"[A-Za-z0-9_.-]+")


def spans(text: str, first_line: int) -> list[tuple[int, str]]:
    """Inline code spans of prose (a span may go on over a line break, never over a blank
    line), with the line each starts on."""
    return [
        (first_line + text.count("\n", 0, m.start()), m.group(2).replace("\n", " "))
        for m in SPAN.finditer(text)
    ]


def code_in(text: str) -> list[tuple[int, str]]:
    """(line number, code) for every code span and every fenced line, comments left out."""
    out: list[tuple[int, str]] = []
    fenced = False
    prose: list[str] = []
    start = 1
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            if not fenced:
                out += spans("\n".join(prose), start)
                prose = []
            fenced = not fenced
            start = n + 1
        elif fenced:
            code, _, comment = line.partition("#")
            out += [(n, code), *spans(comment, n)]
        else:
            prose.append(line)
    return out + spans("\n".join(prose), start)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the scopecount parser has no subcommands")


def fixed_actions(parser: argparse.ArgumentParser) -> list[str] | None:
    """The choices of the subcommand's first positional argument (`model install|list|...`), or
    None where its first word is free (a file, a folder, a host)."""
    for action in parser._actions:
        if not action.option_strings and action.dest != "help":
            return [str(c) for c in action.choices] if action.choices else None
    return None


def make_targets(makefile: str) -> set[str]:
    targets: set[str] = set()
    for line in makefile.splitlines():
        m = re.match(r"([^\s#:=][^:=]*):(?!=)", line)
        if m:
            targets.update(t for t in m.group(1).split() if "$" not in t)
        if line.startswith(".PHONY:"):
            targets.update(line.split(":", 1)[1].split())
    return targets - {".PHONY"}


def mentions(text: str) -> tuple[list[tuple[int, str, str | None]], list[tuple[int, str]]]:
    """(line, subcommand, next word) for each `scopecount ...`; (line, target) for each `make`."""
    commands: list[tuple[int, str, str | None]] = []
    makes: list[tuple[int, str]] = []
    for n, code in code_in(text):
        commands += [(n, m.group(1), m.group(2)) for m in SCOPECOUNT.finditer(code)]
        for m in MAKE.finditer(code):
            for word in m.group(1).split():
                if word.startswith("-") or "=" in word:
                    continue  # make's options and VAR=value
                if not TARGET.fullmatch(word):
                    break
                makes.append((n, word))
    return commands, makes


def problems(name: str, text: str, parser: argparse.ArgumentParser, targets: set[str]) -> list[str]:
    subs = subcommands(parser)
    commands, makes = mentions(text)
    found: list[str] = []
    for n, cmd, action in commands:
        if cmd not in subs:
            found.append(f"{name}:{n}: `scopecount {cmd}`: no such subcommand")
            continue
        allowed = fixed_actions(subs[cmd])
        if action and allowed is not None and action not in allowed:
            found.append(
                f"{name}:{n}: `scopecount {cmd} {action}`: {cmd} takes {'|'.join(allowed)}"
            )
    found += [
        f"{name}:{n}: `make {t}`: not a target in the Makefile"
        for n, t in makes
        if t not in targets
    ]
    return sorted(found, key=lambda f: int(f.split(":")[1]))


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.fixture(scope="module")
def targets() -> set[str]:
    return make_targets((REPO / "Makefile").read_text())


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_the_docs_name_only_commands_that_exist(doc: Path, parser, targets):
    found = problems(str(doc.relative_to(REPO)), doc.read_text(), parser, targets)
    assert not found, "\n".join(found)


def test_the_docs_are_read():
    """The check sees the commands the docs do give (a broken pattern would pass everything)."""
    commands, makes = mentions((REPO / "README.md").read_text())
    assert {"train", "doctor", "model"} <= {c for _, c, _ in commands}
    assert {"run", "test"} <= {t for _, t in makes}
    commands, _ = mentions((REPO / "hardware_docs" / "setup.md").read_text())
    assert ("config", "check") in {(c, a) for _, c, a in commands}


def test_the_check_finds_what_does_not_exist(parser, targets):
    doc = "\n".join(
        [
            "Run `scopecount frobnicate FILE`,",
            "then `/opt/scopecount/venv/bin/scopecount model frob`.",
            "Plain prose: make sure scopecount counts. A span wrapped over lines: `scopecount",
            "records summry DIR`.",
            "",
            "```",
            "scopecount doctor            # fine; `make nothing-here` is not",
            "sudo scopecount config check",
            "sudo -u scopecount scopecount model list --json",
            "sudo -u scopecount scopecount modle list",
            "make test-latest ARGS='-x tests/measuring'",
            "make pi-test PI_OS=trixie && make no-such-target",
            "```",
        ]
    )
    found = problems("doc.md", doc, parser, targets)
    assert [f.split(": ", 1)[1] for f in found] == [
        "`scopecount frobnicate`: no such subcommand",
        "`scopecount model frob`: model takes "
        + "|".join(fixed_actions(subcommands(parser)["model"]) or []),
        "`scopecount records summry`: records takes summary",
        "`make nothing-here`: not a target in the Makefile",
        "`scopecount modle`: no such subcommand",
        "`make no-such-target`: not a target in the Makefile",
    ], found
