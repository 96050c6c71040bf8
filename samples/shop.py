"""An order pipeline: the sample app that `make demo` runs, and that the cloud backends and
infrastructure generators are exercised with.

place_order -> charge (retries on a flaky gateway) -> send_receipt (async)
            -> update_stock, one per line item (ordered per SKU)
            -> ship_order (dead-lettered at once for a country we do not ship to)
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from dispatcher import Dispatcher, NonRetryable, Retry, current

app = Dispatcher("shop")

SHIPPING_COUNTRIES = {"DE", "FR", "GB", "NL", "US"}


class LineItem(BaseModel):
    """One line of an order."""

    sku: str = Field(pattern=r"^[A-Z0-9-]{3,20}$")
    quantity: int = Field(gt=0, le=100)
    unit_cents: int = Field(ge=0)


class Order(BaseModel):
    """An order as the shop front sends it."""

    id: int = Field(gt=0)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    country: str = Field(min_length=2, max_length=2)
    items: list[LineItem] = Field(min_length=1)

    @property
    def total_cents(self) -> int:
        """What the customer pays."""
        return sum(item.quantity * item.unit_cents for item in self.items)


class GatewayTimeout(Exception):
    """The payment gateway did not answer in time (transient)."""


@app.task(queue="orders", timeout=30)
def place_order(order: Order) -> int:
    """Fan an order out: charge it, reserve stock per line, ship it. Returns the total."""
    charge.send(args=(order.id, order.total_cents), kwargs={"email": order.email})
    for item in order.items:
        update_stock.delay(item.sku, -item.quantity)
    ship_order.delay(order.id, order.country)
    return order.total_cents


@app.task(
    queue="payments",
    timeout=30,
    memory=512,
    retry=Retry(attempts=5, delay=0.2, backoff=2.0, max_delay=5),
    dedup_by="order_id",
)
def charge(order_id: int, amount_cents: int, email: str = "") -> str:
    """Charge the customer. The gateway times out on the first try for every third order."""
    task = current()
    if order_id % 3 == 0 and task is not None and task.attempt == 1:
        raise GatewayTimeout(f"gateway did not answer for order {order_id}")
    charge_id = f"ch_{order_id:06d}"
    if email:
        send_receipt.delay(order_id, email, charge_id, amount_cents)
    return charge_id


@app.task(queue="notifications", timeout=10, rate_limit="50/s")
async def send_receipt(order_id: int, email: str, charge_id: str, amount_cents: int) -> str:
    """E-mail the receipt (an async task; the mail API call is simulated)."""
    await asyncio.sleep(0.01)
    return f"mailed to {email}"


_STOCK: dict[str, int] = {"MUG-01": 120, "TEE-M": 40, "TEE-L": 35, "POSTER-A2": 10}


@app.task(queue="inventory", timeout=15, group_by="sku", concurrency=2)
def update_stock(sku: str, delta: int) -> int:
    """Adjust the stock of one SKU (ordered per SKU); returns the new level."""
    if sku not in _STOCK:
        raise NonRetryable(f"unknown SKU {sku!r}")
    _STOCK[sku] += delta
    return _STOCK[sku]


@app.task(queue="shipping", timeout=60, retry=Retry(attempts=3, delay=0.2, max_delay=1))
def ship_order(order_id: int, country: str) -> str:
    """Book the parcel; a country we do not ship to can never succeed, so no retries."""
    if country not in SHIPPING_COUNTRIES:
        raise NonRetryable(f"we do not ship to {country!r}")
    return f"parcel-{order_id:06d}-{country}"


@app.task(queue="reports", timeout=120, schedule="0 3 * * *")
def nightly_stock_report() -> dict[str, int]:
    """Every night at 03:00 UTC: the stock levels, for the buyers."""
    return dict(_STOCK)
