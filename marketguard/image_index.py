"""Image hashes in SQLite, searched through bands: the reference library and the seen-image index.

Both live under ``settings.home`` whichever archive backend is selected:

- ``home/refs.db``: genuine brand photos (``marketguard refs add BRAND FILE...``) with the
  sellers each brand authorised; a listing image near one of them, posted by anyone else, is
  IMAGE_OFFICIAL_REUSED.
- ``home/seen_images.db``: which shop posted which picture, so the same picture across shops
  is IMAGE_SHARED_ACROSS_SHOPS (and a seller-network link).

Search (see matching.hash_search): each row keeps its pHash as four 16-bit band columns, each
with an index. A query's eight dihedral variants give 32 band values; rows sharing any of them
are the candidates (``b0 IN (...) OR b1 IN (...) ...``, which SQLite answers with the four
indexes), and each candidate is verified with the true distance and the colour check. Exact for
radius <= 3; a larger radius falls back to reading every row (fine for a library of thousands of
photos, slow for millions of seen images, so the seen-image rule caps its radius at 3).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from matching.context import brand_key
from matching.hash_search import BANDS, MAX_BAND_RADIUS, bands, from_signed, to_signed
from matching.image_hash import ImageDecodeError, ImageHashes, hash_reference, match_distance
from matching.image_signals import ReferenceMatch

REFS_DB = "refs.db"
SEEN_DB = "seen_images.db"

# Centre crops stored with each reference photo (share of width/height cut away): copies that
# were cropped by up to ~10% per side and scaled back stay within a few bits of one of them.
REFERENCE_ZOOMS: tuple[float, ...] = (0.04, 0.08, 0.12, 0.16, 0.20)

_BAND_COLUMNS = ", ".join(f"b{i} INTEGER NOT NULL" for i in range(BANDS))


def _band_indexes(table: str) -> str:
    return "\n".join(
        f"CREATE INDEX IF NOT EXISTS {table}_b{i} ON {table}(b{i});" for i in range(BANDS)
    )


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One pipeline worker thread uses the connection, but not the thread that opened it.
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _candidates_sql(table: str, columns: str, radius: int, variants: int) -> str:
    if radius > MAX_BAND_RADIUS:
        return f"SELECT {columns} FROM {table}"
    marks = ", ".join("?" * variants)
    where = " OR ".join(f"b{i} IN ({marks})" for i in range(BANDS))
    return f"SELECT {columns} FROM {table} WHERE {where}"


def _candidate_args(query: ImageHashes, radius: int) -> list[int]:
    if radius > MAX_BAND_RADIUS:
        return []
    per_variant = [bands(v) for v in query.variants]
    return [per_variant[v][band] for band in range(BANDS) for v in range(len(per_variant))]


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the reference library ---------------------------------------------------------------------

_REFS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS brands (
    brand_key TEXT PRIMARY KEY,
    brand TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS authorised_sellers (
    brand_key TEXT NOT NULL REFERENCES brands(brand_key),
    seller TEXT NOT NULL,  -- matching.context.seller_key: "platform:seller_id"
    PRIMARY KEY (brand_key, seller)
);
CREATE TABLE IF NOT EXISTS refs (
    ref_id INTEGER PRIMARY KEY,
    brand_key TEXT NOT NULL REFERENCES brands(brand_key),
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    phash TEXT NOT NULL,
    added_at TEXT NOT NULL,
    UNIQUE (brand_key, sha256)
);
CREATE TABLE IF NOT EXISTS ref_hashes (
    ref_id INTEGER NOT NULL REFERENCES refs(ref_id),
    zoom REAL NOT NULL,
    phash INTEGER NOT NULL,
    {_BAND_COLUMNS},
    colour BLOB NOT NULL
);
{_band_indexes("ref_hashes")}
"""


@dataclass(frozen=True, slots=True)
class Reference:
    ref_id: int
    brand: str
    name: str
    sha256: str
    width: int
    height: int
    phash: str  # hex, as posted (zoom 0)
    added_at: str


@dataclass(frozen=True, slots=True)
class Added:
    reference: Reference
    new: bool  # False when the same file was already in the library for this brand


class ReferenceLibrary:
    """Genuine brand photos and authorised sellers in ``home/refs.db``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = _connect(path)
        self._db.executescript(_REFS_SCHEMA)

    @classmethod
    def in_home(cls, home: Path) -> ReferenceLibrary:
        return cls(Path(home) / REFS_DB)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ReferenceLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_brand(self, brand: str) -> str:
        key = brand_key(brand)
        if not key:
            raise ValueError("brand must not be empty")
        self._db.execute(
            "INSERT INTO brands(brand_key, brand) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (key, brand.strip()),
        )
        return key

    def add(self, brand: str, data: bytes, name: str) -> Added:
        """Hash a genuine photo (and its centre crops) into the library; ImageDecodeError when
        the file is not a usable picture. Adding the same file twice is a no-op."""
        sha256 = hashlib.sha256(data).hexdigest()
        hashes = hash_reference(data, zooms=REFERENCE_ZOOMS)
        if hashes[0].blank:
            raise ImageDecodeError("corrupt", f"{name}: picture is blank (no shape to match)")
        with _transaction(self._db):
            key = self._ensure_brand(brand)
            row = self._db.execute(
                "SELECT ref_id FROM refs WHERE brand_key = ? AND sha256 = ?", (key, sha256)
            ).fetchone()
            if row is not None:
                return Added(self._reference(row[0]), new=False)
            cursor = self._db.execute(
                "INSERT INTO refs(brand_key, name, sha256, width, height, phash, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, name, sha256, hashes[0].width, hashes[0].height, hashes[0].hex, _now()),
            )
            ref_id = int(cursor.lastrowid or 0)
            self._db.executemany(
                "INSERT INTO ref_hashes(ref_id, zoom, phash, b0, b1, b2, b3, colour)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (ref_id, zoom, to_signed(h.phash), *bands(h.phash), h.colour)
                    for zoom, h in zip((0.0, *REFERENCE_ZOOMS), hashes, strict=True)
                ],
            )
        return Added(self._reference(ref_id), new=True)

    def authorise(self, brand: str, sellers: Iterable[str]) -> int:
        """Record sellers (``platform:seller_id``) allowed to use the brand's photos."""
        count = 0
        with _transaction(self._db):
            key = self._ensure_brand(brand)
            for seller in sellers:
                seller = seller.strip()
                if ":" not in seller:
                    raise ValueError(f"seller {seller!r} must be platform:seller_id")
                cursor = self._db.execute(
                    "INSERT INTO authorised_sellers(brand_key, seller) VALUES (?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (key, seller),
                )
                count += cursor.rowcount
        return count

    def authorised_sellers(self, brand: str) -> frozenset[str]:
        rows = self._db.execute(
            "SELECT seller FROM authorised_sellers WHERE brand_key = ?", (brand_key(brand),)
        )
        return frozenset(r[0] for r in rows)

    def references(self, brand: str | None = None) -> list[Reference]:
        sql = (
            "SELECT r.ref_id, b.brand, r.name, r.sha256, r.width, r.height, r.phash, r.added_at"
            " FROM refs r JOIN brands b USING (brand_key)"
        )
        args: tuple[str, ...] = ()
        if brand is not None:
            sql += " WHERE r.brand_key = ?"
            args = (brand_key(brand),)
        return [Reference(*row) for row in self._db.execute(sql + " ORDER BY r.ref_id", args)]

    def brands(self) -> list[tuple[str, int, int]]:
        """(brand, reference photos, authorised sellers) per brand."""
        rows = self._db.execute(
            "SELECT b.brand,"
            " (SELECT count(*) FROM refs r WHERE r.brand_key = b.brand_key),"
            " (SELECT count(*) FROM authorised_sellers a WHERE a.brand_key = b.brand_key)"
            " FROM brands b ORDER BY b.brand"
        )
        return [(str(a), int(b), int(c)) for a, b, c in rows]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM refs").fetchone()[0])

    def _reference(self, ref_id: int) -> Reference:
        row = self._db.execute(
            "SELECT r.ref_id, b.brand, r.name, r.sha256, r.width, r.height, r.phash, r.added_at"
            " FROM refs r JOIN brands b USING (brand_key) WHERE r.ref_id = ?",
            (ref_id,),
        ).fetchone()
        return Reference(*row)

    def find(
        self, query: ImageHashes, *, radius: int, colour_tolerance: int
    ) -> tuple[ReferenceMatch, ...]:
        """Reference photos within ``radius`` of the picture (any orientation, any stored crop),
        nearest first, one per photo, with the brand's authorised sellers."""
        if query.blank:
            return ()
        sql = _candidates_sql(
            "ref_hashes h JOIN refs r USING (ref_id) JOIN brands b ON b.brand_key = r.brand_key",
            "h.ref_id, h.phash, h.colour, b.brand",
            radius,
            len(query.variants),
        )
        best: dict[int, tuple[int, str]] = {}
        for ref_id, phash, colour, brand in self._db.execute(sql, _candidate_args(query, radius)):
            distance = match_distance(
                query,
                from_signed(phash),
                colour,
                radius=radius,
                colour_tolerance=colour_tolerance,
            )
            if distance is not None and (ref_id not in best or distance < best[ref_id][0]):
                best[ref_id] = (distance, brand)
        authorised: dict[str, frozenset[str]] = {}
        out = []
        for ref_id, (distance, brand) in sorted(best.items(), key=lambda kv: (kv[1][0], kv[0])):
            if brand not in authorised:
                authorised[brand] = self.authorised_sellers(brand)
            out.append(ReferenceMatch(brand, str(ref_id), distance, authorised[brand]))
        return tuple(out)


# --- the seen-image index -----------------------------------------------------------------------

_SEEN_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS seen (
    seller TEXT NOT NULL,  -- matching.context.seller_key
    phash INTEGER NOT NULL,
    {_BAND_COLUMNS},
    colour BLOB NOT NULL,
    listing TEXT NOT NULL,  -- the first listing of this seller showing it ("platform:id")
    url TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (seller, phash)
) WITHOUT ROWID;
{_band_indexes("seen")}
"""


class SeenImages:
    """Which shop posted which picture (one row per shop and distinct hash)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = _connect(path)
        self._db.executescript(_SEEN_SCHEMA)

    @classmethod
    def in_home(cls, home: Path) -> SeenImages:
        return cls(Path(home) / SEEN_DB)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SeenImages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def sellers_with(
        self, query: ImageHashes, *, radius: int, colour_tolerance: int
    ) -> frozenset[str]:
        """Shops that posted this picture (any orientation) before."""
        if query.blank:
            return frozenset()
        sql = _candidates_sql("seen", "seller, phash, colour", radius, len(query.variants))
        found = set()
        for seller, phash, colour in self._db.execute(sql, _candidate_args(query, radius)):
            if seller in found:
                continue
            distance = match_distance(
                query,
                from_signed(phash),
                colour,
                radius=radius,
                colour_tolerance=colour_tolerance,
            )
            if distance is not None:
                found.add(seller)
        return frozenset(found)

    def add(self, seller: str, listing: str, url: str, hashes: ImageHashes) -> None:
        if hashes.blank:
            return
        self._db.execute(
            "INSERT INTO seen(seller, phash, b0, b1, b2, b3, colour, listing, url, first_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                seller,
                to_signed(hashes.phash),
                *bands(hashes.phash),
                hashes.colour,
                listing,
                url,
                _now(),
            ),
        )

    def observe(
        self,
        seller: str,
        listing: str,
        url: str,
        hashes: ImageHashes,
        *,
        radius: int,
        colour_tolerance: int,
    ) -> frozenset[str]:
        """Record that ``seller`` shows this picture; the OTHER shops that showed it before."""
        with _transaction(self._db):
            sellers = self.sellers_with(hashes, radius=radius, colour_tolerance=colour_tolerance)
            self.add(seller, listing, url, hashes)
        return sellers - {seller}
