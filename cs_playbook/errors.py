"""The project's exception types: bad input is part of the interface, not a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CsPlaybookError", "ParamsError", "Problem", "DataContractError"]


class CsPlaybookError(Exception):
    """Bad input the user can fix; the CLI prints it and exits with code 2."""


class ParamsError(CsPlaybookError):
    """A parameter file is missing, malformed or holds a value outside what is allowed."""


@dataclass(frozen=True)
class Problem:
    """One broken rule of the data contract: where, which rule, how many rows, examples."""

    table: str
    column: str
    rule: str
    n_rows: int
    examples: tuple[str, ...] = ()
    file: str | None = None

    def render(self) -> str:
        """One readable line (plus examples) for the analyst."""
        where = self.file or self.table
        rows = "row" if self.n_rows == 1 else "rows"
        head = f"- {where} | table {self.table} | column {self.column} | {self.rule} | {self.n_rows} {rows}"
        if not self.examples:
            return head
        return head + "\n" + "\n".join(f"    e.g. {e}" for e in self.examples)


@dataclass
class DataContractError(CsPlaybookError):
    """All problems found in one pass over the input data, reported together."""

    problems: list[Problem] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        """The full report: one block per problem, grouped in the order they were found."""
        tables = sorted({p.table for p in self.problems})
        n = len(self.problems)
        head = (
            f"The input data breaks the data contract: {n} problem{'s' if n != 1 else ''} "
            f"in {', '.join(tables)}"
            + (f" (source: {self.source})" if self.source else "")
            + ". See docs/data-contract.md."
        )
        return "\n".join([head, *(p.render() for p in self.problems)])

    def __str__(self) -> str:
        return self.render()
