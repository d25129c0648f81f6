"""E-commerce: stores and their orders, read-only through the API.

``GET /3.0/ecommerce/stores``, ``GET /3.0/ecommerce/stores/{store_id}``, ``GET
/3.0/ecommerce/stores/{store_id}/orders?count≤1000&offset&customer_id`` and ``GET
/3.0/ecommerce/orders`` (every store's orders). Orders carry their ``customer`` with
``orders_count`` and ``total_spent`` across the store. Stores and orders are seeded with
:meth:`Ecommerce.create_store` and :meth:`Ecommerce.seed_orders`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import query_param

from .answers import links
from .errors import not_found
from .members import epoch, subscriber_hash, ts

if TYPE_CHECKING:
    from .app import MailchimpSimulator

__all__ = ["Ecommerce"]


class Ecommerce:
    def __init__(self, sim: MailchimpSimulator) -> None:
        self.sim = sim

    # -- reads -------------------------------------------------------------------------------

    def _store(self, request: Request) -> dict[str, Any]:
        store = self.sim.stores.get(request.path_params["store_id"])
        if store is None:
            raise not_found()
        return store

    def _store_json(self, base: str, store: dict[str, Any]) -> dict[str, Any]:
        path = f"/ecommerce/stores/{store['id']}"
        return {**store, "_links": links(base, path, "Ecommerce/Stores/Instance")}

    def _order_json(self, base: str, order: dict[str, Any]) -> dict[str, Any]:
        path = f"/ecommerce/stores/{order['store_id']}/orders/{order['id']}"
        return {**order, "_links": links(base, path, "Ecommerce/Stores/Orders/Instance")}

    def _by_customer(self, request: Request, orders: Iterable[dict[str, Any]]) -> list[Any]:
        customer = query_param(request, "customer_id")
        return [o for o in orders if not customer or o["customer"]["id"] == customer]

    async def stores(self, request: Request) -> Response:
        return self.sim.collection(request, "stores", list(self.sim.stores.values()),
                                   self._store_json, "/ecommerce/stores",
                                   "Ecommerce/Stores/Collection")  # fmt: skip

    async def store(self, request: Request) -> Response:
        return self.sim.json(
            request, self._store_json(self.sim.base(request), self._store(request))
        )

    async def store_orders(self, request: Request) -> Response:
        store_id = self._store(request)["id"]
        orders = self._by_customer(request, self.sim.orders[store_id].values())
        path = f"/ecommerce/stores/{store_id}/orders"
        schema = "Ecommerce/Stores/Orders/Collection"
        return self.sim.collection(
            request, "orders", orders, self._order_json, path, schema, store_id=store_id
        )

    async def all_orders(self, request: Request) -> Response:
        orders = (o for by_id in self.sim.orders.values() for o in by_id.values())
        return self.sim.collection(request, "orders", self._by_customer(request, orders),
                                   self._order_json, "/ecommerce/orders",
                                   "Ecommerce/Orders/Collection")  # fmt: skip

    # -- seeding -----------------------------------------------------------------------------

    def create_store(
        self,
        store_id: str,
        *,
        list_id: str | None = None,
        name: str | None = None,
        currency_code: str = "USD",
    ) -> str:
        """An e-commerce store connected to ``list_id`` (default: the default audience)."""
        sim = self.sim
        now = ts(sim.wall_clock())
        sim.stores[store_id] = {
            "id": store_id, "list_id": list_id or sim.default_list_id(),
            "name": name or store_id, "platform": "", "domain": f"{store_id}.example.org",
            "is_syncing": False, "email_address": "shop@example.org",
            "currency_code": currency_code, "money_format": "", "primary_locale": "en",
            "timezone": "UTC", "phone": "", "address": {}, "list_is_active": True,
            "created_at": now, "updated_at": now,
        }  # fmt: skip
        sim.orders[store_id] = {}
        return store_id

    def seed_orders(self, store_id: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add orders to a store (created if missing); returns the order ids. Each row: ``id``
        (or ``order_id``), ``email``, ``customer_id`` (default: the email's hash),
        ``order_total`` (or ``amount``), ``currency_code``, ``processed_at`` (or
        ``ordered_at``, ISO 8601; default now), ``first_name``, ``last_name``, ``lines``."""
        sim = self.sim
        if store_id not in sim.stores:
            self.create_store(store_id)
        orders, currency = sim.orders[store_id], sim.stores[store_id]["currency_code"]
        ids = []
        for row in rows:
            order_id = str(row.get("id") or row.get("order_id") or f"order-{len(orders) + 1}")
            email = str(row.get("email") or "").strip()
            processed = row.get("processed_at") or row.get("ordered_at")
            stamp = ts(epoch(str(processed), "processed_at") if processed else sim.wall_clock())
            customer = {
                "id": str(row.get("customer_id") or subscriber_hash(email)),
                "email_address": email, "opt_in_status": False, "company": "",
                "first_name": str(row.get("first_name") or ""),
                "last_name": str(row.get("last_name") or ""), "orders_count": 0,
                "total_spent": 0.0, "address": {}, "created_at": stamp, "updated_at": stamp,
            }  # fmt: skip
            orders[order_id] = {
                "id": order_id, "customer": customer, "store_id": store_id, "campaign_id": "",
                "landing_site": "", "financial_status": str(row.get("financial_status") or "paid"),
                "fulfillment_status": "",
                "currency_code": str(row.get("currency_code") or currency),
                "order_total": float(row.get("order_total", row.get("amount", 0)) or 0),
                "order_url": "", "discount_total": 0.0, "tax_total": 0.0, "shipping_total": 0.0,
                "tracking_code": "", "processed_at_foreign": stamp, "cancelled_at_foreign": "",
                "updated_at_foreign": stamp, "shipping_address": {}, "billing_address": {},
                "promos": [], "lines": list(row.get("lines") or []), "tracking_number": "",
                "tracking_carrier": "", "tracking_url": "",
            }  # fmt: skip
            ids.append(order_id)
        counts: Counter[str] = Counter()
        spent: defaultdict[str, float] = defaultdict(float)
        for order in orders.values():  # each customer's totals across the store's orders
            counts[order["customer"]["id"]] += 1
            spent[order["customer"]["id"]] += order["order_total"]
        for order in orders.values():
            customer = order["customer"]
            customer.update(orders_count=counts[customer["id"]],
                            total_spent=round(spent[customer["id"]], 2))  # fmt: skip
        return ids
