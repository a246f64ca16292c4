"""Labels the workspace shows for stored codes, in Simplified Chinese.

Codes that come from the store (severity, decision, artifact kind, error kind, pass summary
keys) are translated by ``label``; page text of the review pages goes through ``t`` (the
``TEXT`` catalogue). Another locale is one more pair of dicts and a ``LOCALES`` entry; keys
missing from it fall back to Simplified Chinese, never to a blank.
"""

from __future__ import annotations

ZH_CN: dict[str, dict[str, str]] = {
    "severity": {"high": "高", "medium": "中", "low": "低"},
    "decision": {
        "confirmed": "确认违法",
        "dismissed": "驳回",
        "unreviewed": "待审核",
        "recheck": "申请复查",
    },
    "case_status": {"open": "办理中", "referred": "已移送公安", "closed": "已结案"},
    "stat": {
        "category": "按类目",
        "platform": "按平台",
        "region": "按卖家地区",
        "rule": "按规则",
        "week": "按周（首次发现）",
        "decision": "按审核状态",
    },
    "artifact": {
        "screenshot": "整页截图",
        "html": "网页源码",
        "metadata": "取证元数据",
        "image": "商品图片",
        "manifest": "取证清单",
    },
    "error": {
        "http_status": "HTTP 状态错误",
        "timeout": "超时",
        "parse": "解析失败",
        "image": "图片无法读取",
        "capture": "取证失败",
        "pipeline": "处理失败",
        "task": "任务失败",
    },
    "role": {"reviewer": "审核员", "supervisor": "主管", "admin": "管理员"},
    "rendered_with": {"http": "HTTP 抓取", "browser": "浏览器渲染"},
    "summary": {
        "listings": "商品总数",
        "flagged": "被标记",
        "evidence": "已取证",
        "errors": "错误",
        "by_rule": "按规则",
        "errors_by_kind": "按错误类型",
        "store": "存储位置",
    },
}


TEXT_ZH_CN: dict[str, str] = {
    "nav.queue": "待审队列",
    "nav.cases": "案件",
    "nav.stats": "统计",
    "nav.audit": "审计日志",
    "nav.errors": "抓取错误",
    "nav.workers": "系统状态",
    "nav.checks": "投诉核查",
    "workers.title": "系统状态 · 任务队列",
    "filter.title": "筛选",
    "filter.q": "全文搜索",
    "filter.q_hint": "标题、卖家、描述",
    "filter.category": "类目",
    "filter.rule": "规则",
    "filter.platform": "平台",
    "filter.region": "卖家地区",
    "filter.date_from": "发现日期自",
    "filter.date_to": "至",
    "filter.decision": "审核状态",
    "filter.all": "全部",
    "filter.apply": "筛选",
    "filter.reset": "清除",
    "queue.title": "被标记商品",
    "queue.total": "共 {n} 条",
    "queue.rows": "第 {first}–{last} 条",
    "queue.empty": "没有符合条件的被标记商品。",
    "col.risk": "风险分",
    "col.severity": "严重程度",
    "col.listing": "商品",
    "col.price": "价格",
    "col.seller": "卖家",
    "col.rules": "规则",
    "col.decision": "审核状态",
    "col.last_seen": "最近发现",
    "detail.flags": "标记原因",
    "detail.screenshot": "整页截图",
    "detail.facts": "商品信息",
    "detail.evidence": "证据",
    "detail.review": "审核",
    "detail.review_history": "审核记录",
    "queue.export": "导出 Excel",
    "queue.next": "下一页",
    "queue.first": "回到第一页",
    "queue.bulk": "批量处理当前筛选结果",
    "queue.bulk_hint": "对当前筛选出的全部 {n} 条执行（最多 {max} 条）",
    "queue.bulk_done": "批量处理完成：执行 {applied} 条，跳过 {skipped} 条。",
    "queue.bulk_too_many": "筛选结果超过 {max} 条，请先缩小范围。",
    "action.confirmed": "确认违法",
    "action.dismissed": "驳回",
    "action.recheck": "申请复查",
    "action.reason": "理由（驳回时必填）",
    "action.submit": "执行",
    "detail.seller_history": "卖家历史",
    "detail.seller_confirmed": "该卖家已有 {n} 条确认违法记录",
    "detail.images": "商品图片与比对",
    "detail.no_match": "未发现比对命中",
    "detail.verify": "校验证据",
    "detail.verify_ok": "校验通过",
    "detail.verify_failed": "校验未通过",
    "detail.verify_last": "最近一次校验：{who}，{when}（最新取证记录）",
    "detail.verify_never": "最新取证记录尚未校验。",
    "detail.rechecks": "复查申请",
    "detail.cases": "所属案件",
    "detail.add_to_case": "加入案件",
    "case.title": "案件",
    "case.new": "新建案件",
    "case.name": "案件名称",
    "case.investigators": "办案人员（两名）",
    "case.note": "备注",
    "case.create": "创建",
    "case.number": "案件编号",
    "case.value": "估算货值",
    "case.value_incomplete": "部分商品缺少价格或销量，货值为下限",
    "case.referral": "达到移送标准（两法衔接）",
    "case.threshold": "移送标准：货值 ≥ ¥{amount}",
    "case.export": "导出证据包",
    "case.listings": "涉案商品",
    "case.remove": "移出",
    "case.status": "状态",
    "case.empty": "尚无案件。",
    "stats.title": "统计",
    "stats.priority": "重点产品案件占比",
    "stats.priority_detail": "{priority} / {total} 个案件涉及重点产品目录（目标 ≥ {target}%）",
    "stats.export": "导出统计 Excel",
    "audit.title": "审计日志",
    "audit.actor": "操作人",
    "audit.action": "操作",
    "audit.target": "对象",
    "audit.at": "时间",
    "audit.before": "操作前",
    "audit.after": "操作后",
    "audit.older": "更早",
    "audit.export": "导出 Excel",
}

LOCALES: dict[str, tuple[dict[str, dict[str, str]], dict[str, str]]] = {
    "zh-CN": (ZH_CN, TEXT_ZH_CN),
}


def t(key: str, locale: str = "zh-CN", **params: object) -> str:
    """Page text for ``key``, formatted with ``params``; the key itself when unknown."""
    catalogue = LOCALES.get(locale, LOCALES["zh-CN"])[1]
    text = catalogue.get(key) or TEXT_ZH_CN.get(key) or key
    return text.format(**params) if params else text


def label(group: str, code: str | None, labels: dict[str, dict[str, str]] = ZH_CN) -> str:
    """The label of ``code`` in ``group``; the code itself when there is none (never blank)."""
    if code is None:
        code = "unreviewed" if group == "decision" else ""
    return labels.get(group, {}).get(code, code)
