"""Store platforms by name. Adding a platform is one module and one line here."""

from __future__ import annotations

from importlib import import_module

from webapp.adapters.base import StoreAdapter

STORE_ADAPTERS: dict[str, str] = {
    "magento": "webapp.adapters.magento:MagentoAdapter",
    "shopify": "webapp.adapters.shopify:ShopifyAdapter",
    "bigcommerce": "webapp.adapters.bigcommerce:BigCommerceAdapter",
    "woocommerce": "webapp.adapters.woocommerce:WooCommerceAdapter",
}


class UnknownPlatform(LookupError):
    pass


def store_adapter_class(platform: str) -> type[StoreAdapter]:
    try:
        dotted = STORE_ADAPTERS[platform]
    except KeyError:
        raise UnknownPlatform(f"Unknown store platform {platform!r}") from None
    module_name, _, class_name = dotted.partition(":")
    return getattr(import_module(module_name), class_name)


def store_platforms() -> list[type[StoreAdapter]]:
    return [store_adapter_class(name) for name in STORE_ADAPTERS]
