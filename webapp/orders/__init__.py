"""Orders: TikTok Shop orders created in the merchant's store, or held until their items are
linked."""
