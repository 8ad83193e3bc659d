"""Settings shared by the emulated platforms: the app registered with them and their knobs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SandboxSettings:
    # The TikTok Shop app SKU Bridge is registered as (the dashboard's config uses the same values).
    app_key: str = "sandbox-app-key"
    app_secret: str = "sandbox-app-secret"
    service_id: str = "7300000000000000001"
    # Where the sandbox's authorize page sends the seller back with ?code=&state=.
    redirect_uri: str = "http://127.0.0.1:5000/accounts/tiktok/callback"
    # Key the sandbox signs its stateless tokens with, so tokens survive a sandbox restart.
    token_signing_key: str = "sandbox-token-signing-key"
    access_token_ttl: int = 7 * 86_400
    refresh_token_ttl: int = 60 * 86_400
    auth_code_ttl: int = 30 * 60
    # products/search stops at this many results (code 12052180), like the real API's 10,000.
    search_cap: int = 10_000
    # Requests a second one app may make per shop before 36009002 / HTTP 429; 0 turns it off.
    rate_limit_per_second: float = 0.0
    # The Magento integration access token the store sandbox accepts.
    magento_token: str = "sandbox-magento-token"
    # Shopify: a custom app's Admin API access token, the secret webhooks are signed with, and
    # the cost-based leaky bucket (points; points restored a second; 0 turns throttling off).
    shopify_access_token: str = "shpat_sandbox_access_token"
    shopify_webhook_secret: str = "sandbox-shopify-webhook-secret"
    shopify_bucket_size: int = 1000
    shopify_restore_rate: float = 50.0
    # WooCommerce: REST API consumer key and secret, and the secret webhooks are signed with.
    woocommerce_consumer_key: str = "ck_sandbox_consumer_key"
    woocommerce_consumer_secret: str = "cs_sandbox_consumer_secret"
    woocommerce_webhook_secret: str = "sandbox-woocommerce-webhook-secret"
    # BigCommerce: store hash, API account access token, the secret header its webhooks carry,
    # and its request quota (requests per window; 0 turns the quota off).
    bigcommerce_store_hash: str = "sandboxhash"
    bigcommerce_access_token: str = "sandbox-bigcommerce-token"
    bigcommerce_webhook_secret: str = "sandbox-bigcommerce-webhook-secret"
    bigcommerce_quota: int = 150
    bigcommerce_window_ms: int = 30_000
    # Demo catalog; without flaws every seller SKU equals its store SKU.
    seed: int = 7
    tiktok_skus: int = 2000
    products: int = 500
    catalog_flaws: bool = True
