"""The period summary for people: one table per currency and what is still open.

A controller closing a month reads it top to bottom: each currency's accounts with their
debit and credit, the totals underneath (green when they balance), then what the period
still holds back (pending, held, excluded), and a last line saying whether it is complete:
nothing pending, nothing held, every currency balanced. Excluded transactions are never
journaled, so they do not keep a period open; they are listed so that nothing is hidden.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from services.period_summary import STATES


def _balanced(currency: dict[str, Any]) -> bool:
    return Decimal(currency["total_debit"]) == Decimal(currency["total_credit"])


def currency_table(summary: dict[str, Any], currency: dict[str, Any]) -> Table:
    scope = summary["org"] or "(unlabeled)"
    balanced = _balanced(currency)
    t = Table(title=f"{summary['period']}  {scope}  {currency['currency']}", show_footer=True,
              caption="[green]balanced[/green]" if balanced else "[bold red]NOT balanced[/]")
    t.add_column("account", footer="total")
    style = "green" if balanced else "bold red"
    t.add_column("debit", justify="right", footer=Text(currency["total_debit"], style=style))
    t.add_column("credit", justify="right", footer=Text(currency["total_credit"], style=style))
    for account in currency["accounts"]:
        t.add_row(account["account"], account["debit"], account["credit"])
    return t


def open_items_table(summary: dict[str, Any]) -> Table:
    t = Table(title=f"{summary['period']}: transactions not journaled")
    for name in ("state", "count", "by currency", "reasons"):
        t.add_column(name, justify="right" if name == "count" else "left")
    for state in STATES:
        part = summary[state]
        t.add_row(
            state, str(part["count"]),
            ", ".join(f"{c['currency']} {c['amount']} ({c['count']})"
                      for c in part["currencies"]) or "-",
            ", ".join(f"{r['reason']} {r['count']}" for r in part["reasons"]) or "-",
        )
    return t


def verdict(summary: dict[str, Any]) -> Text:
    """One line: is the period complete?"""
    unbalanced = [c["currency"] for c in summary["currencies"] if not _balanced(c)]
    pending, held = summary["pending"]["count"], summary["held"]["count"]
    head = f"{summary['period']}: {summary['entry_count']} entries; "
    if not unbalanced and pending == 0 and held == 0:
        return Text(head + "complete: nothing pending or held", style="bold green")
    missing = [f"{pending} pending"] if pending else []
    missing += [f"{held} held"] if held else []
    missing += [f"unbalanced in {', '.join(unbalanced)}"] if unbalanced else []
    return Text(head + "not complete: " + ", ".join(missing), style="bold yellow")


def summary_view(summary: dict[str, Any]) -> Group:
    """Everything, in reading order."""
    tables: list[Any] = [currency_table(summary, c) for c in summary["currencies"]]
    if not tables:
        tables.append(Text(f"{summary['period']}: no entries dated in this period"))
    return Group(*tables, open_items_table(summary), verdict(summary))
