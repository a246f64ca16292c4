"""Words the demo shop writes with: brands, title patterns, attributes, descriptions, slang.

All brands and makers are invented, so no real company is shown selling counterfeits. Genuine
text never contains a counterfeit slang word, "3C"/"CCC"/"证书" (unless it states a certificate),
or another category's search term; the generator's self-check relies on this.
"""

from __future__ import annotations

# Counterfeit slang the COUNTERFEIT_WORDING rule looks for. "无3C" is left out on purpose: it is
# also a CCC mention, so whether CCC_MISSING applies would depend on the matcher's reading.
SLANG: tuple[str, ...] = (
    "高仿", "A货", "超A", "原单", "尾单", "跟单", "复刻",
    "1:1", "一比一", "莆田", "外贸货", "老鼠货",
)
SLANG_SENTENCES: tuple[str, ...] = (
    "{w}品质，做工细节到位。",
    "本店只做{w}，价格美丽。",
    "{w}，和专柜的放一起看不出区别。",
    "工厂直发{w}，数量有限。",
)
# Negated slang on genuine listings: a matcher that only looks for the word flags these wrongly.
NEGATIONS: tuple[str, ...] = (
    "正品保障，拒绝高仿。",
    "谨防高仿，认准本店官方授权。",
    "非A货，假一赔十。",
)

SHOP_SENTENCES: tuple[str, ...] = (
    "下单后48小时内发货。",
    "支持七天无理由退换。",
    "有任何问题请联系在线客服。",
    "全国包邮（偏远地区除外）。",
)

LOCATIONS: tuple[tuple[str, str], ...] = (
    ("广东", "深圳"), ("广东", "广州"), ("广东", "东莞"), ("浙江", "义乌"), ("浙江", "宁波"),
    ("浙江", "杭州"), ("江苏", "苏州"), ("上海", "上海"), ("山东", "临沂"), ("河北", "石家庄"),
    ("河南", "郑州"), ("四川", "成都"), ("湖北", "武汉"), ("福建", "厦门"), ("北京", "北京"),
)
SHOP_PREFIXES: tuple[str, ...] = (
    "星辰", "优选", "佳品", "乐购", "万家", "诚信", "好物", "宜家乐",
    "小满", "锦程", "恒通", "云端", "春风", "百汇", "鑫源", "海纳",
)
SHOP_SUFFIXES: tuple[str, ...] = ("专营店", "旗舰店", "小铺", "百货", "商行", "数码馆", "生活馆")

MODEL_LETTERS = "BDEFGHJKLMNPRSTUVWXYZ"  # no "C" (a model like "3C50" would read as a CCC mention)

# Per category id: brands, title patterns ({b} brand, {m} model, {s} spec), specs, attribute
# makers, maker industry, certificate category code, description sentences.
CATEGORY_WORDS: dict[str, dict] = {
    "charger": {
        "brands": ("星川", "朗途", "极充", "迅能", "柏瑞"),
        "titles": (
            "{b} {s} 氮化镓快充充电器 {m} 适用手机平板",
            "{b} {s} 电源适配器 {m} 多口快充",
            "{b} {s} 充电头 Type-C双口 {m}",
            "{b} 充电器 {s} PD快充 {m} 折叠插脚",
        ),
        "specs": ("20W", "30W", "33W", "45W", "65W", "67W", "100W", "120W"),
        "spec_key": "输出功率",
        "extra": (("接口类型", ("USB-C", "USB-C+USB-A", "双USB-C")),),
        "industry": "电子科技",
        "ccc_code": "0907",
        "sentences": (
            "支持PD/QC多协议快充，智能识别设备。",
            "过压、过流、短路多重保护。",
            "小巧便携，出差旅行都方便。",
            "氮化镓芯片，发热低效率高。",
        ),
        "shape": "charger",
    },
    "power_bank": {
        "brands": ("星川", "能量方舟", "朗途", "酷电", "云启"),
        "titles": (
            "{b} {s} 移动电源 {m} 22.5W快充 大容量",
            "{b} 充电宝 {s} 超薄便携 {m}",
            "{b} {s} 自带线充电宝 {m} 可带上飞机",
        ),
        "specs": ("5000mAh", "10000mAh", "20000mAh", "30000mAh"),
        "spec_key": "电池容量",
        "extra": (("电芯类型", ("锂聚合物", "锂离子")),),
        "industry": "电子科技",
        "ccc_code": "0914",
        "sentences": (
            "电芯安全可靠，支持多设备同时充电。",
            "数显电量，随时掌握剩余电量。",
            "轻薄机身，放进口袋不占地方。",
        ),
        "shape": "power_bank",
    },
    "child_car_seat": {
        "brands": ("护童", "安途宝", "贝安", "路路佳", "佑行"),
        "titles": (
            "{b} 儿童安全座椅 {m} ISOFIX接口 {s}",
            "{b} 汽车用儿童安全座椅 360度旋转 {s} {m}",
            "{b} 儿童安全座椅 {s} 车载便携 {m}",
        ),
        "specs": ("0-4岁", "0-12岁", "9个月-12岁", "3-12岁"),
        "spec_key": "适用年龄",
        "extra": (("安装方式", ("ISOFIX+支撑腿", "安全带固定", "ISOFIX+上拉带")),),
        "industry": "儿童用品",
        "ccc_code": "1102",
        "sentences": (
            "侧撞防护设计，吸能材料包裹。",
            "五点式安全带，调节方便。",
            "可调节头枕，陪伴宝宝长大。",
        ),
        "shape": "seat",
    },
    "electric_toy": {
        "brands": ("乐飞", "奇趣星", "童梦", "飞驰小子", "酷玩"),
        "titles": (
            "{b} 电动玩具 遥控车 {s} {m} 儿童礼物",
            "{b} 遥控汽车 {s} 越野攀爬 电动玩具 {m}",
            "{b} 电动玩具车 {s} 合金车身 {m}",
        ),
        "specs": ("2.4G遥控", "四驱", "充电款", "声光版"),
        "spec_key": "功能",
        "extra": (
            ("适用年龄", ("3岁以上", "6岁以上", "8岁以上")),
            ("电池类型", ("锂电池", "5号电池")),
        ),
        "industry": "玩具",
        "ccc_code": "2201",
        "sentences": (
            "大容量电池，续航时间长。",
            "耐摔材质，边角圆润不伤手。",
            "请在成人看护下使用。",
        ),
        "shape": "toy",
    },
    "stroller": {
        "brands": ("暖阳", "宝乐行", "小步", "悠途", "贝安"),
        "titles": (
            "{b} 婴儿推车 {s} {m} 一键收车",
            "{b} 婴儿推车 {s} 避震 {m} 0-3岁",
            "{b} 轻便婴儿推车 {s} {m}",
        ),
        "specs": ("可坐可躺", "轻便折叠", "高景观", "双向推行"),
        "spec_key": "特点",
        "extra": (("承重", ("15kg", "22kg", "25kg")), ("适用年龄", ("0-3岁", "6个月-4岁"))),
        "industry": "儿童用品",
        "ccc_code": "2202",
        "sentences": (
            "铝合金车架，轻便结实。",
            "大遮阳篷，防晒透气。",
            "一键收车，单手操作。",
        ),
        "shape": "stroller",
    },
    "compound_fertilizer": {
        "brands": ("沃丰", "金穗", "绿野", "丰年乐", "禾力"),
        "titles": (
            "{b} 复合肥 {s} 硫酸钾型 40kg 通用型",
            "{b} 复合肥料 {s} 50斤装 果树蔬菜用",
            "{b} 复合肥 {s} 高塔造粒 40kg",
        ),
        "specs": ("15-15-15", "17-17-17", "18-8-16", "20-10-10", "16-16-16"),
        "spec_key": "养分含量(N-P2O5-K2O)",
        "extra": (("净含量", ("40kg", "25kg", "50kg")),),
        "industry": "肥业",
        "ccc_code": "",
        "sentences": (
            "氮磷钾配比科学，养分均衡。",
            "适用于水稻、小麦、玉米、蔬菜、果树等作物。",
            "颗粒均匀，易溶解，不结块。",
        ),
        "shape": "bag",
    },
}

GENERIC_WORDS: dict = {
    "brands": ("星川", "朗途", "优品", "佳禾", "恒远"),
    "titles": ("{b} {k} {s} {m}",),
    "specs": ("标准款", "升级款", "家用款"),
    "spec_key": "款式",
    "extra": (),
    "industry": "实业",
    "ccc_code": "0101",
    "sentences": ("品质可靠，售后无忧。", "厂家直供，货源稳定。"),
    "shape": "box",
}

MAKER_CITIES: tuple[str, ...] = ("深圳", "东莞", "宁波", "苏州", "临沂", "中山", "潍坊")


def words_for(category_id: str) -> dict:
    return CATEGORY_WORDS.get(category_id, GENERIC_WORDS)
