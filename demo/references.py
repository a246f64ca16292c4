"""The demo brands' genuine photos in the reference library, as an officer adds a real brand's.

``marketguard demo`` calls ``add_references`` before its pass: every brand of the demo shop's
categories gets its genuine photo (``marketguard refs add``) and its honest resellers
(``marketguard refs authorise``: the shops that post the photo as-is). Without the library,
honest shops sharing a brand's official photo would look like one picture spread over shops.
"""

from __future__ import annotations

from pathlib import Path

from demo.generator import Marketplace
from demo.images import _jpeg, genuine_photo
from demo.vocabulary import words_for
from marketguard.image_index import ReferenceLibrary


def add_references(marketplace: Marketplace, home: Path) -> int:
    """Add every demo brand's genuine photo and authorised resellers; the library's size.

    Idempotent: a photo added again is the same photo, a reseller authorised again the same.
    """
    authorised = marketplace.authorised_resellers()
    Path(home).mkdir(parents=True, exist_ok=True)
    with ReferenceLibrary.in_home(home) as library:
        for category in marketplace.categories:
            for index, brand in enumerate(words_for(category.id)["brands"]):
                photo = _jpeg(genuine_photo(category.id, index))
                library.add(brand, photo, f"g-{category.id}-{index}.jpg")
        for brand, shops in sorted(authorised.items()):
            library.authorise(brand, sorted(shops))
        return len(library)
