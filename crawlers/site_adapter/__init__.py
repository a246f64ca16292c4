"""Declarative site adapters: one YAML file per marketplace, run by ``crawlers.spiders.site``.

``spec`` loads and validates a file, ``records`` applies its selectors to pages, ``script_json``
reads JSON embedded in script tags, ``registry`` finds adapters by name or domain.
"""

from crawlers.site_adapter.registry import adapter_for_url, load_site, site_files
from crawlers.site_adapter.spec import AdapterError, SiteAdapter, load_adapter, parse_adapter

__all__ = [
    "AdapterError",
    "SiteAdapter",
    "adapter_for_url",
    "load_adapter",
    "load_site",
    "parse_adapter",
    "site_files",
]
