"""The table `leadscore models` prints: registered versions, aliases, figures, the gate's reasons."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

WIDTH = 192  # the table's columns fit without folding most gate reasons


def _figure(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def _table(name: str, rows) -> Table:
    table = Table(title=f"registered versions of {name}, newest first", title_justify="left")
    for column, justify in (
        ("version", "right"),
        ("aliases", "left"),
        ("registered (UTC)", "left"),
        ("ROC AUC", "right"),
        ("log-loss", "right"),
        ("account AUC", "right"),
        ("account ECE", "right"),
        ("hand-overs", "right"),
        ("data", "left"),
        ("feedback", "right"),
        ("gate", "left"),
        ("reason", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        log_loss = _figure(row.log_loss)
        if row.later_log_loss is not None:  # recalibrated: before the map on the test period, after it on the newest
            log_loss = f"{log_loss} (newest: {row.later_log_loss:.4f})"
        table.add_row(
            row.version + (f" (recalibrated {row.recalibrated_from})" if row.recalibrated_from else ""),
            ", ".join(f"@{alias}" for alias in row.aliases),
            row.registered.strftime("%Y-%m-%d %H:%M"),
            _figure(row.roc_auc),
            log_loss,
            _figure(row.account_roc_auc),
            _figure(row.account_ece),
            f"{row.handovers:,}" if row.handovers is not None else "-",
            row.sha256[:12] or "-",
            f"{row.feedback_merged:,}" if row.feedback_merged is not None else "-",
            row.gate,
            row.reason or "-",
        )
    return table


def show_models(name: str, limit: int, tracking_uri: str | None) -> None:
    """`leadscore models`: the table of the newest `limit` versions, then the champion's history
    and where `leadscore rollback` would take it."""
    from training import registry
    from training.versions import versions

    client = registry.existing(tracking_uri)
    rows = versions(client, name, limit)
    out = Console(width=max(Console().width, WIDTH))
    out.print(_table(name, rows))
    history = registry.champion_history(client, name)
    if history:
        out.print(f"@champion history, oldest first: {' → '.join(history)}", highlight=False)
        earlier = registry.earlier_champion(client, name)
        then = f"back to version {earlier}" if earlier else "no earlier champion to go back to"
        out.print(f"leadscore rollback: {then}", highlight=False)
    else:
        out.print("no @champion yet: leadscore promote VERSION", highlight=False)
