"""Throughput of Matcher.match on one core: ``python -m matching.benchmark [--listings N]``.

Builds a varied, demo-like set of listings (titles, 100-300 character descriptions, attributes,
sellers; about a third carrying some signal) once, then times matching them all. Not part of the
engine and not imported by it.
"""

from __future__ import annotations

import argparse
import random
import time
import timeit
from datetime import UTC, datetime
from decimal import Decimal

from marketguard.models import Listing, Seller
from matching.engine import Matcher

_TITLES = (
    "{b} {w} 氮化镓快充充电器 M{n} 适用手机平板",
    "{b} 充电宝 {w}mAh 超薄便携 K{n}",
    "{b} 儿童安全座椅 ISOFIX接口 0-12岁 S{n}",
    "{b} 遥控汽车 越野攀爬 电动玩具 T{n}",
    "{b} 婴儿推车 可坐可躺 一键收车 P{n}",
    "{b} 复合肥 15-15-15 硫酸钾型 40kg",
    "{b} 保温杯 316不锈钢 大容量 {w}ml",
)
_SENTENCES = (
    "支持PD/QC多协议快充，智能识别设备。",
    "过压、过流、短路多重保护。",
    "下单后48小时内发货。",
    "支持七天无理由退换。",
    "有任何问题请联系在线客服。",
    "全国包邮（偏远地区除外）。",
    "侧撞防护设计，吸能材料包裹。",
    "氮磷钾配比科学，养分均衡。",
    "正品保障，拒绝高仿。",
)
_SIGNALS = (
    "高仿品质，做工细节到位。",
    "本店只做原单，价格美丽。",
    "１：１复刻，和专柜的放一起看不出区别。",
    "明星同款。",
)


def sample_listings(count: int, seed: int = 7) -> list[Listing]:
    rng = random.Random(seed)
    crawled = datetime(2025, 6, 1, tzinfo=UTC)
    listings = []
    for i in range(count):
        title = rng.choice(_TITLES).format(
            b=rng.choice(("星川", "朗途", "护童", "乐飞", "沃丰")), w=rng.randint(10, 999), n=i
        )
        sentences = rng.sample(_SENTENCES, rng.randint(3, 8))
        if rng.random() < 0.2:
            sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(_SIGNALS))
        attributes = {"品牌": "星川", "型号": f"M{i}", "产地": "广东深圳"}
        roll = rng.random()
        if roll < 0.5:
            attributes["3C证书编号"] = f"2023{rng.randint(10**11, 10**12 - 1)}"
        elif roll < 0.6:
            attributes["3C认证"] = str(rng.randint(10**9, 10**10))
        price = Decimal(rng.randint(5, 900)) + Decimal("0.9")
        seller = Seller(
            seller_id=f"s{i % 50}",
            name="星辰专营店",
            rating=round(rng.uniform(3.5, 5.0), 1) if rng.random() < 0.9 else None,
            shop_age_days=rng.randint(5, 3000) if rng.random() < 0.9 else None,
        )
        listings.append(
            Listing(
                platform="demo",
                listing_id=str(i),
                url=f"http://127.0.0.1/item/{i}",
                title=title,
                price=price,
                seller=seller,
                attributes=attributes,
                description="".join(sentences),
                crawled_at=crawled,
                search_keyword="充电器",
            )
        )
    return listings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args()
    matcher = Matcher.load()
    listings = sample_listings(args.listings)
    flagged = sum(1 for listing in listings if matcher.match(listing).flags)  # also warms up
    match = matcher.match
    chunks: list[float] = []  # CPU seconds per listing, chunk by chunk
    total_cpu = float("inf")
    for _ in range(args.repeat):
        run_cpu = 0.0
        for start in range(0, len(listings), args.chunk):
            part = listings[start : start + args.chunk]
            cpu = time.process_time()
            for listing in part:
                match(listing)
            spent = time.process_time() - cpu
            run_cpu += spent
            chunks.append(spent / len(part))
        total_cpu = min(total_cpu, run_cpu)
    chunks.sort()
    # On a shared machine CPU time still grows when other processes compete for the core's
    # caches; the best short chunks are the closest reading of an uncontended core. The
    # reference loop shows how busy the core is (a quiet modern core: about 10 us).
    reference = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    print(
        f"{len(listings)} listings, {flagged} flagged; calibration sum(range(1000)) = "
        f"{reference:.1f} us"
    )
    print(f"whole runs (best of {args.repeat}): {len(listings) / total_cpu:,.0f} listings/s")
    print(
        f"chunks of {args.chunk}: best {1 / chunks[0]:,.0f}/s, "
        f"median {1 / chunks[len(chunks) // 2]:,.0f}/s"
    )


if __name__ == "__main__":
    main()
