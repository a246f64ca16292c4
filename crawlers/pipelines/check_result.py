"""Last pipeline step of an officer's check (``marketguard check``): keep what became of each
listing, for the command to report after the pass. The pass runs in this same process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketguard.models import Assessment


@dataclass(slots=True)
class CheckedListing:
    platform: str
    listing_id: str
    url: str
    title: str
    rule_ids: list[str] = field(default_factory=list)
    capture_id: str | None = None
    errors: list[str] = field(default_factory=list)


# Filled during the pass by the pipeline below; read (and cleared) by the command.
RESULTS: list[CheckedListing] = []


class CheckResultPipeline:
    def process_item(self, item: Any) -> Any:
        if isinstance(item, Assessment):
            listing = item.listing
            RESULTS.append(
                CheckedListing(
                    platform=listing.platform,
                    listing_id=listing.listing_id,
                    url=listing.url,
                    title=listing.title,
                    rule_ids=list(dict.fromkeys(f.rule_id for f in item.flags)),
                    capture_id=item.evidence.capture_id if item.evidence else None,
                    errors=[f"{e.kind}: {e.message}" for e in item.errors],
                )
            )
        return item
