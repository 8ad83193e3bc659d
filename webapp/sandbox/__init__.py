"""Emulated platform APIs (TikTok Shop, Magento 2) served over real HTTP for the demo and tests."""
