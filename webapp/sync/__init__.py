"""Sync: what linked rows push to TikTok Shop (stock, price, status) and when."""
