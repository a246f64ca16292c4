"""Downloader and spider middlewares that keep a pass going on the real web (docs/crawling.md)."""
