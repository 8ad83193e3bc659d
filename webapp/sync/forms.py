from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField
from wtforms.validators import InputRequired, NumberRange


class SyncSettingsForm(FlaskForm):
    inventory = BooleanField("Inventory")
    price = BooleanField("Price")
    status = BooleanField("Product status (activate / deactivate)")
    orders = BooleanField("Orders (TikTok Shop → store)")
    interval_minutes = IntegerField(
        "Sync every (minutes)",
        validators=[
            InputRequired("Say how often to sync."),
            NumberRange(5, 1440, "Sync every 5 to 1,440 minutes (a day)."),
        ],
    )
    safety_stock = IntegerField(
        "Safety stock (store units held back per SKU)",
        validators=[
            InputRequired("Give a safety stock (0 for none)."),
            NumberRange(0, 1_000_000, "Safety stock is a whole number of units, 0 or more."),
        ],
    )
    reserve_percent = IntegerField(
        "Reserve (% of store stock held back)",
        validators=[
            InputRequired("Give a reserve (0 for none)."),
            NumberRange(0, 100, "The reserve is a percentage from 0 to 100."),
        ],
    )
    out_of_stock_threshold = IntegerField(
        "Out-of-stock threshold (offer 0 at or below)",
        validators=[
            InputRequired("Give a threshold (0 for none)."),
            NumberRange(0, 1_000_000, "The threshold is a whole number, 0 or more."),
        ],
    )
    store_overwrites = BooleanField("Store data overwrites TikTok data")

    FIELDS = (
        "inventory",
        "price",
        "status",
        "orders",
        "interval_minutes",
        "safety_stock",
        "reserve_percent",
        "out_of_stock_threshold",
        "store_overwrites",
    )
