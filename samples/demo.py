"""`make demo`: run the shop's order pipeline end to end on the embedded local backend.

    python -m samples.demo [--db PATH]

Sends a handful of orders (one that cannot ship, one with an unknown product, two whose first
charge times out), plus one garbage message from a "legacy producer", runs a worker until the
queues are empty, then shows results, stock and dead letters with their reasons.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters.local.store import LocalBackend
from adapters.local.worker import Worker
from dispatcher import (
    Delivery,
    InvalidArguments,
    Outcome,
    Status,
    TaskHandle,
    TaskResult,
    decode,
)
from dispatcher.errors import InvalidMessage
from samples.shop import Order, app, place_order

console = Console()

ORDERS = [
    {"id": 1, "email": "ada@example.com", "country": "GB", "items": [("MUG-01", 2, 1200)]},
    {"id": 2, "email": "alan@example.com", "country": "DE", "items": [("TEE-M", 1, 2500)]},
    {"id": 3, "email": "grace@example.com", "country": "US", "items": [("TEE-L", 3, 2500)]},
    {"id": 4, "email": "edsger@example.com", "country": "NL", "items": [("POSTER-A2", 1, 900)]},
    {"id": 5, "email": "barbara@example.com", "country": "BR", "items": [("MUG-01", 1, 1200)]},
    {"id": 6, "email": "ken@example.com", "country": "FR", "items": [("HAT-XL", 1, 1900)]},
]


def _order(raw: dict[str, object]) -> Order:
    items = [
        {"sku": sku, "quantity": qty, "unit_cents": cents}
        for sku, qty, cents in raw["items"]  # type: ignore[attr-defined]
    ]
    return Order.model_validate({**raw, "items": items})


def _show(delivery: Delivery, outcome: Outcome) -> None:
    try:
        envelope = decode(delivery.body)
        shown = ", ".join(_brief(arg) for arg in envelope.args)
        what = f"{envelope.task.rsplit('.', 1)[-1]}({shown})"
        attempt = envelope.attempt + delivery.receive_count - 1
    except InvalidMessage:
        what, attempt = "<unreadable message>", delivery.receive_count
    if outcome.kind == "ack":
        console.print(f"  [green]done[/]        {what} (attempt {attempt})", highlight=False)
    elif outcome.kind == "retry":
        console.print(
            f"  [yellow]retry[/]       {what} in {outcome.delay:.2f}s: {outcome.reason}",
            highlight=False,
        )
    else:
        console.print(f"  [red]dead-letter[/] {what}: {outcome.reason}", highlight=False)


def main() -> None:
    """Run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=".dispatcher/shop-demo.sqlite3", help="queue file")
    path = Path(parser.parse_args().db)
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    backend = LocalBackend(path, app)
    app.use(backend)
    console.rule(f"[bold]faas-dispatcher demo[/]: app {app.name!r} on the local backend ({path})")

    console.print("\n[bold]1. Sending orders[/] (arguments are validated before anything is sent)")
    handles: dict[int, TaskHandle[int]] = {}
    for raw in ORDERS:
        handles[int(raw["id"])] = place_order.delay(_order(raw))  # type: ignore[call-overload]
        console.print(f"  sent place_order for order {raw['id']} ({raw['country']})")
    try:
        place_order.send(args=({"id": 7, "email": "nobody", "country": "GB", "items": []},))
    except InvalidArguments as error:
        console.print(f"  [red]refused at send time[/]: {error}", highlight=False)
    backend.send_raw("orders", b"<order id=8 />", task="legacy-xml-producer")
    console.print("  a legacy producer put a non-JSON message on the 'orders' queue")

    console.print("\n[bold]2. Running a worker[/] until the queues are empty")
    stats = Worker(app, on_outcome=_show).run(burst=True)
    console.print(f"  {stats.total} runs: {dict(stats.outcomes)}")

    console.print("\n[bold]3. Results[/] (each order and the tasks it caused)")
    table = Table("order", "total", "charge", "receipt", "stock", "shipping")
    for order_id, handle in handles.items():
        total = handle.result(timeout=5)
        chain = {r.task.rsplit(".", 1)[-1]: r for r in backend.results.by_root(handle.id)}
        table.add_row(
            str(order_id),
            f"{total / 100:.2f}",
            *(_short(chain.get(name)) for name in ("charge", "send_receipt", "update_stock")),
            _short(chain.get("ship_order")),
        )
    console.print(table)
    report = app.tasks["samples.shop.nightly_stock_report"]
    console.print(f"  stock levels in the worker: {report()}")

    letters = backend.dead_letters.entries()
    console.print(f"\n[bold]4. Dead letters[/] ({len(letters)}; nothing is dropped)")
    dead = Table("id", "task", "attempt", "reason")
    for letter in letters:
        dead.add_row(letter.id, letter.task or "?", str(letter.attempt), escape(letter.reason))
    console.print(dead)
    console.print(
        "\nInspect them with [bold]dispatcher dlq list samples.shop "
        f"--backend local:{escape(str(path))}[/], replay one with [bold]dlq replay ... ID[/] "
        "(or --all)."
    )
    app.close()


def _brief(value: object) -> str:
    if isinstance(value, dict) and "id" in value:
        return f"<order {value['id']}>"
    return repr(value)


def _short(record: TaskResult | None) -> str:
    if record is None:
        return "-"
    if record.status is Status.SUCCEEDED:
        return str(record.value)
    return f"[red]{record.status.value}[/]: {record.error_message or record.reason}"


if __name__ == "__main__":
    main()
