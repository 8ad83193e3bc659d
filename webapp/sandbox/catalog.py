"""Seeded generator of the demo catalog that the sandbox platforms serve.

One apparel brand sells the same styles on TikTok Shop and in its own store. The store holds a
configurable parent per style with one simple child per size/colour; TikTok Shop holds one product
per style with one SKU per variant. Most seller SKUs equal their store SKU; the rest carry the
flaws real shops have (DESIGN.md, complaints 2–5): a different case, spaces or separators, leading
zeros on numeric SKUs, SKUs the store lacks, and store SKUs that two store products share.

The same seed and sizes always give the same catalog, so the sandbox, the demo and the tests agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from webapp.sandbox.settings import SandboxSettings

CATALOG_EPOCH = 1_761_955_200  # 2025-11-01T00:00:00Z: products were updated in the 90 days after

STYLES = [
    # (code, title, category, base price, colours?, sizes?)
    ("TS", "Classic Cotton Tee", "T-Shirts"),
    ("VT", "Vintage Wash Tee", "T-Shirts"),
    ("LS", "Long Sleeve Henley", "T-Shirts"),
    ("HD", "Fleece Pullover Hoodie", "Hoodies"),
    ("ZH", "Zip-Up Hoodie", "Hoodies"),
    ("SW", "Crewneck Sweatshirt", "Sweatshirts"),
    ("JG", "Tapered Joggers", "Pants"),
    ("CH", "Stretch Chino", "Pants"),
    ("SH", "Running Shorts", "Shorts"),
    ("LG", "High-Rise Leggings", "Activewear"),
    ("BR", "Seamless Sports Bra", "Activewear"),
    ("JK", "Quilted Puffer Jacket", "Outerwear"),
    ("WB", "Packable Windbreaker", "Outerwear"),
    ("DR", "Linen Midi Dress", "Dresses"),
    ("SK", "Pleated Skirt", "Skirts"),
    ("PL", "Pique Polo", "Shirts"),
    ("OX", "Oxford Button-Down", "Shirts"),
    ("BN", "Ribbed Beanie", "Accessories"),
    ("CP", "Washed Baseball Cap", "Accessories"),
    ("SO", "Crew Socks 3-Pack", "Accessories"),
]
ADJECTIVES = ["Essential", "Everyday", "Heritage", "Studio", "Trail", "Coastal", "Urban", "Organic"]
COLOURS = [
    ("BLK", "Black"),
    ("WHT", "White"),
    ("NVY", "Navy"),
    ("GRY", "Heather Grey"),
    ("OLV", "Olive"),
    ("SND", "Sand"),
    ("RST", "Rust"),
    ("SKY", "Sky Blue"),
]
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
TAGS = ["new", "bestseller", "sale", "organic", "limited", "core"]

# Share of TikTok SKUs given each flaw, in the order they are drawn.
FLAW_SHARES = {
    "case": 0.05,  # store SKU in lower case
    "separator": 0.04,  # TikTok seller SKU written with spaces or underscores
    "missing": 0.05,  # the store has no such SKU
    "duplicate": 0.02,  # two store products share the store SKU
}
LEADING_ZERO_STYLE_SHARE = 0.08  # styles sold under numeric SKUs, zero-padded on TikTok only


@dataclass(frozen=True)
class Warehouse:
    id: str
    name: str


@dataclass(frozen=True)
class TikTokSku:
    id: str
    seller_sku: str
    price: Decimal
    currency: str
    inventory: tuple[tuple[str, int], ...]  # (warehouse_id, quantity)
    sales_attributes: tuple[tuple[str, str], ...]  # (name, value_name), e.g. ("Color", "Black")
    identifier_code: str | None  # GTIN/EAN shown only in product detail


@dataclass(frozen=True)
class TikTokProduct:
    id: str
    title: str
    status: str  # ACTIVATE, SELLER_DEACTIVATED, ...
    category: str
    create_time: int
    update_time: int
    skus: tuple[TikTokSku, ...]


@dataclass(frozen=True)
class TikTokShop:
    id: str
    cipher: str
    code: str
    name: str
    region: str
    seller_type: str
    currency: str
    warehouses: tuple[Warehouse, ...]
    products: tuple[TikTokProduct, ...]


@dataclass(frozen=True)
class StoreProduct:
    """One Magento-style catalog entry: a configurable parent or a simple (sellable) product."""

    id: int
    sku: str
    name: str
    type_id: str  # "configurable" (never a link target) or "simple"
    price: Decimal
    quantity: int
    barcode: str | None
    color: str | None
    size: str | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    parent_id: int | None = None
    children_ids: tuple[int, ...] = ()
    status: int = 1  # 1 enabled, 2 disabled
    updated_at: int = CATALOG_EPOCH


@dataclass(frozen=True)
class DemoCatalog:
    shops: tuple[TikTokShop, ...]
    store_products: tuple[StoreProduct, ...]
    categories: tuple[str, ...] = field(default=())

    def shop(self, shop_id: str) -> TikTokShop:
        return next(shop for shop in self.shops if shop.id == shop_id)


def _ean13(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(12)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


def _remote_id(rng: random.Random) -> str:
    return str(rng.randrange(1_700_000_000_000_000_000, 1_799_999_999_999_999_999))


def catalog_for(settings: SandboxSettings) -> DemoCatalog:
    """The catalog a sandbox with these settings serves."""
    return generate_catalog(
        settings.seed, settings.tiktok_skus, settings.products, flaws=settings.catalog_flaws
    )


def generate_catalog(
    seed: int = 7, tiktok_skus: int = 2000, products: int = 500, *, flaws: bool = True
) -> DemoCatalog:
    """Build the demo catalog: a US shop of about `tiktok_skus` SKUs on `products` products,
    a smaller UK shop, and the store catalog they map to. Without `flaws` every seller SKU is
    its store SKU, once (for benchmarks that need every row linkable)."""
    rng = random.Random(seed)
    variants_per_product = max(1, round(tiktok_skus / max(1, products)))
    store: list[StoreProduct] = []
    next_store_id = iter(range(1, 10_000_000))
    us_warehouses = (Warehouse(_remote_id(rng), "Dallas DC"), Warehouse(_remote_id(rng), "Reno DC"))
    uk_warehouses = (Warehouse(_remote_id(rng), "Leicester DC"),)
    us_products: list[TikTokProduct] = []
    made_skus = 0

    for index in range(products):
        code, base_title, category = STYLES[index % len(STYLES)]
        adjective = ADJECTIVES[(index // len(STYLES)) % len(ADJECTIVES)]
        title = f"{adjective} {base_title}" + (
            f" {index // (len(STYLES) * len(ADJECTIVES)) + 1}"
            if index >= len(STYLES) * len(ADJECTIVES)
            else ""
        )
        style_code = f"{code}-{index + 1:04d}"
        numeric_style = rng.random() < LEADING_ZERO_STYLE_SHARE
        remaining_products = products - index
        remaining_skus = max(remaining_products, tiktok_skus - made_skus)
        count = max(1, min(len(COLOURS) * len(SIZES), round(remaining_skus / remaining_products)))
        if index < products - 1:
            count = max(1, min(count + rng.choice((-1, 0, 0, 1)), variants_per_product * 2))
        colours = rng.sample(COLOURS, k=min(len(COLOURS), max(1, (count + len(SIZES) - 1) // 6)))
        combos = [(c, s) for c in colours for s in SIZES][:count]
        base_price = Decimal(rng.choice(["14.99", "19.99", "24.99", "34.99", "49.00", "59.95"]))
        tags = tuple(sorted(rng.sample(TAGS, k=rng.randint(0, 2))))
        parent_id = next(next_store_id) if count > 1 else None
        children: list[StoreProduct] = []
        tiktok_skus_of_product: list[TikTokSku] = []
        update_time = CATALOG_EPOCH + rng.randrange(90 * 86_400)

        for variant_index, ((colour_code, colour), size) in enumerate(combos):
            if numeric_style:
                store_sku = f"{(index + 1) * 100 + variant_index}"
                seller_sku = store_sku.zfill(7) if flaws else store_sku
            else:
                store_sku = f"{style_code}-{colour_code}-{size}"
                seller_sku = store_sku
            flaw = _draw_flaw(rng) if flaws else None
            if flaw == "case":
                store_sku = store_sku.lower()
            elif flaw == "separator":
                seller_sku = seller_sku.replace("-", rng.choice((" ", "_", " - ")))
            barcode = _ean13(rng)
            price = base_price + (Decimal("2.00") if size in ("XL", "XXL") else Decimal("0"))
            quantity = rng.choice((0, 3, 8, 12, 25, 40, 60, 120))
            if flaw != "missing":
                children.append(
                    StoreProduct(
                        id=next(next_store_id),
                        sku=store_sku,
                        name=f"{title} - {colour} / {size}",
                        type_id="simple",
                        price=price,
                        quantity=quantity,
                        barcode=barcode,
                        color=colour,
                        size=size,
                        categories=(category,),
                        tags=tags,
                        parent_id=parent_id,
                        updated_at=update_time,
                    )
                )
                if flaw == "duplicate":
                    children.append(
                        StoreProduct(
                            id=next(next_store_id),
                            sku=store_sku,
                            name=f"{title} - {colour} / {size} (old listing)",
                            type_id="simple",
                            price=price,
                            quantity=0,
                            barcode=_ean13(rng),
                            color=colour,
                            size=size,
                            categories=(category,),
                            tags=tags,
                            parent_id=None,
                            updated_at=update_time,
                        )
                    )
            warehouses = us_warehouses if rng.random() < 0.3 else us_warehouses[:1]
            split = [quantity // len(warehouses)] * len(warehouses)
            split[0] += quantity - sum(split)
            tiktok_skus_of_product.append(
                TikTokSku(
                    id=_remote_id(rng),
                    seller_sku=seller_sku,
                    price=price,
                    currency="USD",
                    inventory=tuple((w.id, q) for w, q in zip(warehouses, split, strict=True)),
                    sales_attributes=(("Color", colour), ("Size", size)),
                    identifier_code=barcode if rng.random() < 0.6 else None,
                )
            )

        made_skus += len(tiktok_skus_of_product)
        if parent_id is not None:
            store.append(
                StoreProduct(
                    id=parent_id,
                    sku=str(index + 1) if numeric_style else style_code,
                    name=title,
                    type_id="configurable",
                    price=base_price,
                    quantity=0,
                    barcode=None,
                    color=None,
                    size=None,
                    categories=(category,),
                    tags=tags,
                    children_ids=tuple(c.id for c in children if c.parent_id == parent_id),
                    updated_at=update_time,
                )
            )
        store.extend(children)
        us_products.append(
            TikTokProduct(
                id=_remote_id(rng),
                title=title,
                status="ACTIVATE" if rng.random() > 0.03 else "SELLER_DEACTIVATED",
                category=category,
                create_time=update_time - rng.randrange(30 * 86_400),
                update_time=update_time,
                skus=tuple(tiktok_skus_of_product),
            )
        )

    uk_products = tuple(
        TikTokProduct(
            id=_remote_id(rng),
            title=product.title,
            status="ACTIVATE",
            category=product.category,
            create_time=product.create_time,
            update_time=product.update_time,
            skus=tuple(
                TikTokSku(
                    id=_remote_id(rng),
                    seller_sku=sku.seller_sku,
                    price=sku.price,
                    currency="GBP",
                    inventory=((uk_warehouses[0].id, sum(q for _, q in sku.inventory)),),
                    sales_attributes=sku.sales_attributes,
                    identifier_code=sku.identifier_code,
                )
                for sku in product.skus
            ),
        )
        for product in us_products[: max(1, products // 10)]
    )
    shops = (
        TikTokShop(
            id=_remote_id(rng),
            cipher="ROW_" + f"{rng.getrandbits(96):024x}",
            code="USDEMO01",
            name="Demo Outfitters US",
            region="US",
            seller_type="LOCAL",
            currency="USD",
            warehouses=us_warehouses,
            products=tuple(us_products),
        ),
        TikTokShop(
            id=_remote_id(rng),
            cipher="ROW_" + f"{rng.getrandbits(96):024x}",
            code="GBDEMO01",
            name="Demo Outfitters UK",
            region="GB",
            seller_type="LOCAL",
            currency="GBP",
            warehouses=uk_warehouses,
            products=uk_products,
        ),
    )
    categories = tuple(sorted({category for _, _, category in STYLES}))
    return DemoCatalog(shops=shops, store_products=tuple(store), categories=categories)


def _draw_flaw(rng: random.Random) -> str | None:
    roll = rng.random()
    for flaw, share in FLAW_SHARES.items():
        if roll < share:
            return flaw
        roll -= share
    return None
