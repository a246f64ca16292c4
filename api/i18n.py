"""Labels the workspace shows for stored codes, in Simplified Chinese.

Page text lives in the templates; codes that come from the store (severity, decision, artifact
kind, error kind, pass summary keys) are translated here, so another locale is one more dict.
"""

from __future__ import annotations

ZH_CN: dict[str, dict[str, str]] = {
    "severity": {"high": "高", "medium": "中", "low": "低"},
    "decision": {
        "confirmed": "确认违法",
        "dismissed": "驳回",
        "unreviewed": "待审核",
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


def label(group: str, code: str | None, labels: dict[str, dict[str, str]] = ZH_CN) -> str:
    """The label of ``code`` in ``group``; the code itself when there is none (never blank)."""
    if code is None:
        code = "unreviewed" if group == "decision" else ""
    return labels.get(group, {}).get(code, code)
