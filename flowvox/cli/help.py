"""The parser and help formatter every `flowvox` verb uses."""

from __future__ import annotations

import argparse
from typing import NoReturn


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps text with line breaks (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """Refuses bad arguments in one stderr line with exit status 2, like every other flowvox
    error (argparse prints the whole usage first): ``flowvox speak: error: argument --nfe:
    invalid int value: 'x' (see flowvox speak --help)``. Subparsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")
