"""The ``marketguard`` command: a thin layer over importable functions.

marketguard demo [--no-serve] [--json]    one monitoring pass over the bundled demo shop
marketguard crawl --site SITE [--keyword K]  one monitoring pass with a site adapter
marketguard crawl --url URL [--dry-run --json]  one product page (adapter or generic extraction)
marketguard crawl --base-url URL          one monitoring pass over a running demo-style shop
marketguard serve                         the review workspace over the store
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from marketguard import __version__
from marketguard.settings import Settings

SUMMARY_KEYS = ("listings", "flagged", "evidence", "errors", "by_rule", "store")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketguard",
        description="查找网售假冒伪劣与未认证产品，固定证据，供执法人员审查。",
    )
    parser.add_argument("--version", action="version", version=f"marketguard {__version__}")
    sub = parser.add_subparsers(title="commands")

    demo = sub.add_parser("demo", help="run one monitoring pass over the bundled demo shop")
    _store_options(demo)
    demo.add_argument("--listings", type=int, default=300, help="listings in the demo shop")
    demo.add_argument("--seed", type=int, default=7, help="seed of the demo shop's data")
    demo.add_argument("--no-serve", action="store_true", help="exit after the summary")
    demo.add_argument("--json", action="store_true", help="print only the summary as JSON")
    demo.add_argument("--no-capture", action="store_true", help="skip browser evidence")
    demo.add_argument(
        "--in-process",
        action="store_true",
        help="run the whole pass here even when a broker is configured",
    )
    demo.add_argument(
        "--no-refs",
        action="store_true",
        help="do not load the demo brands' genuine photos into the reference library",
    )
    demo.add_argument("--port", type=int, default=8000, help="review workspace port")
    demo.set_defaults(func=cmd_demo)

    crawl = sub.add_parser(
        "crawl",
        help="run one monitoring pass over a site adapter, one page, or a demo-style shop",
        description=(
            "--site SITE: search a marketplace with its adapter (crawlers/sites/SITE.yaml); "
            "--url URL: read one page (the adapter whose domain matches, else generic "
            "extraction); --base-url URL alone: a running demo-style shop."
        ),
    )
    _store_options(crawl)
    target = crawl.add_argument_group("what to crawl (one of --site, --url, --base-url)")
    target.add_argument("--site", default="", help="site adapter name (or path to a .yaml file)")
    target.add_argument("--url", default="", help="extract one product page")
    target.add_argument(
        "--base-url", default="", help="a demo-style shop's base URL (with --site: its mirror)"
    )
    crawl.add_argument(
        "--sites-dir",
        default=None,
        help="folder of site adapters tried before the bundled ones (env MARKETGUARD_SITES_DIR)",
    )
    crawl.add_argument(
        "--keyword", action="append", default=[], help="search term (default: the watchlist's)"
    )
    crawl.add_argument("--max-pages", type=int, default=None, help="result pages per keyword")
    crawl.add_argument(
        "--dry-run",
        action="store_true",
        help="print what was extracted (with --json: one Listing JSON per line); store nothing",
    )
    crawl.add_argument("--json", action="store_true", help="print only the summary as JSON")
    crawl.add_argument("--no-capture", action="store_true", help="skip browser evidence")
    crawl.add_argument(
        "--in-process",
        action="store_true",
        help="run the whole pass here even when a broker is configured",
    )
    crawl.add_argument(
        "--job",
        metavar="NAME",
        help="resumable pass: rerun the same command to resume it after a kill (docs/crawling.md)",
    )
    crawl.add_argument(
        "--full",
        action="store_true",
        help="match and capture unchanged listings again (default: only move their last-seen time)",
    )
    crawl.set_defaults(func=cmd_crawl)

    serve = sub.add_parser("serve", help="serve the review workspace")
    _store_options(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    from marketguard.commands import register_all

    register_all(sub)
    return parser


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=None, help="store folder (default $MARKETGUARD_HOME or ./var)"
    )


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.store is not None:
        settings.home = args.store
    return settings


def watchlist_search_terms(settings: Settings) -> list[str]:
    from matching.catalogue import load_catalogue

    return load_catalogue(settings.catalogue).watched_search_terms()


def check_browser(settings: Settings) -> str | None:
    """Why captures cannot run here, or None when the browser is in place."""
    if not (Path(settings.chromium).exists() or shutil.which(settings.chromium)):
        return (
            f"Chromium not found at {settings.chromium}. Install Debian's packages "
            "`chromium fonts-noto-cjk` (make demo does it when run as root), or set "
            "MARKETGUARD_CHROMIUM to the executable."
        )
    return None


def cmd_demo(args: argparse.Namespace) -> int:
    from demo.generator import generate
    from demo.references import add_references
    from demo.server import DemoServer

    settings = _settings(args)
    capture = not args.no_capture
    if capture and (problem := check_browser(settings)):
        print(problem, file=sys.stderr)
        return 3
    marketplace = generate(seed=args.seed, listings=args.listings)
    # The brands' official photos and resellers, as an officer would add them (marketguard refs).
    if not args.no_refs:
        add_references(marketplace, Path(settings.home))
    with DemoServer(marketplace) as shop:
        if not args.json:
            print(f"演示网店已启动: {shop.url} ({args.listings} 个商品)", file=sys.stderr)
        try:
            summary = _run(args, settings, shop.url, watchlist_search_terms(settings), capture)
        except RuntimeError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 3
        _print_summary(summary, as_json=args.json)
        if args.no_serve:
            return 0
        return _serve(settings, "127.0.0.1", args.port)


def cmd_crawl(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.site or args.url:
        return _crawl_site(args, settings)
    if not args.base_url:
        print("crawl: give --site SITE, --url URL or --base-url URL", file=sys.stderr)
        return 2
    if args.dry_run:
        print("crawl: --dry-run needs --site or --url", file=sys.stderr)
        return 2
    capture = not args.no_capture
    if capture and (problem := check_browser(settings)):
        print(problem, file=sys.stderr)
        return 3
    keywords = args.keyword or watchlist_search_terms(settings)
    try:
        summary = _run(args, settings, args.base_url, keywords, capture)
    except RuntimeError as exc:
        print(f"crawl: {exc}", file=sys.stderr)
        return 3
    _print_summary(summary, as_json=args.json)
    return 0


def _crawl_site(args: argparse.Namespace, settings: Settings) -> int:
    """``crawl --site`` / ``crawl --url``: the generic spider over a site adapter."""
    from crawlers.site_adapter import AdapterError, adapter_for_url, load_site

    if args.site and args.url:
        print("crawl: give either --site or --url, not both", file=sys.stderr)
        return 2
    spider_args: dict[str, Any] = {"sites_dir": args.sites_dir or ""}
    try:
        if args.site:
            adapter = load_site(args.site, args.sites_dir)
            keywords = args.keyword or adapter.keywords or watchlist_search_terms(settings)
            spider_args.update(site=args.site, keywords=",".join(keywords))
            if adapter.search is None:
                print(f"crawl: {adapter.file} has no search section; use --url", file=sys.stderr)
                return 2
        else:
            if not args.url.startswith(("http://", "https://")):
                print(f"crawl: --url must be an http(s) URL, not {args.url!r}", file=sys.stderr)
                return 2
            adapter, broken = adapter_for_url(args.url, args.sites_dir)
            for error in broken:
                print(f"warning: {error}", file=sys.stderr)
            spider_args["url"] = args.url
    except AdapterError as exc:
        print(f"site adapter error: {exc}", file=sys.stderr)
        return 2
    if args.base_url:
        spider_args["base_url"] = args.base_url
    if args.max_pages is not None:
        spider_args["max_pages"] = args.max_pages
    if args.dry_run:
        from crawlers.pipelines.dry_run import run_dry_pass

        if not args.json:
            source = adapter.file if adapter else "generic extraction"
            print(f"dry run with {source}", file=sys.stderr)
        counts = run_dry_pass("site", spider_args, settings)
        print(
            f"dry run: {counts['listings']} listings, {counts['errors']} page errors, "
            f"{counts['offsite_skipped']} offsite links not followed, "
            f"{counts['empty_search_pages']} search pages without results",
            file=sys.stderr,
        )
        return 0 if counts["listings"] else 1
    capture = not args.no_capture
    if capture and (problem := check_browser(settings)):
        print(problem, file=sys.stderr)
        return 3
    try:
        summary = _pass(args, settings, "site", spider_args, capture)
    except RuntimeError as exc:
        print(f"crawl: {exc}", file=sys.stderr)
        return 3
    _print_summary(summary, as_json=args.json)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    return _serve(_settings(args), args.host, args.port)


def _run(
    args: argparse.Namespace, settings: Settings, base_url: str, keywords: list[str], capture: bool
) -> dict[str, Any]:
    spider_args = {"base_url": base_url, "keywords": ",".join(keywords)}
    return _pass(args, settings, "demo_shop", spider_args, capture)


def _pass(
    args: argparse.Namespace,
    settings: Settings,
    spider: str,
    spider_args: dict[str, Any],
    capture: bool,
) -> dict[str, Any]:
    """One monitoring pass: on the workers when a broker is configured (and --in-process is not
    given), else here. RuntimeError when workers are wanted but none answers."""
    from marketguard.distributed.config import worker_config

    quiet = bool(args.json)
    incremental = not getattr(args, "full", False)
    config = worker_config(settings.home)
    if config.distributed and not getattr(args, "in_process", False):
        from evidence.archive import open_archive
        from marketguard.distributed.app import make_app
        from marketguard.distributed.submit import crawl_on_workers

        if getattr(args, "job", None):
            raise RuntimeError("--job names an in-process pass; worker crawls are always resumable")
        if not quiet:
            print(f"交给工作进程 queued on the workers ({config.broker_url})", file=sys.stderr)
        archive = open_archive(settings.home)
        try:
            return crawl_on_workers(
                make_app(config),
                archive,
                spider,
                spider_args,
                capture=capture,
                incremental=incremental,
            )
        finally:
            archive.close()
    from crawlers.run import run_pass

    return run_pass(
        spider,
        spider_args,
        settings,
        capture=capture,
        progress_interval=0 if quiet else 2.0,
        log_level="ERROR" if quiet else "WARNING",
        job=getattr(args, "job", None),
        incremental=incremental,
    )


def _print_summary(summary: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: summary[k] for k in SUMMARY_KEYS}, ensure_ascii=False), flush=True)
        return
    lines = [
        "",
        "== 本轮监测汇总 ==",
        f"商品总数 listings : {summary['listings']}",
        f"被标记   flagged  : {summary['flagged']}",
        f"已取证   evidence : {summary['evidence']}",
        f"错误     errors   : {summary['errors']}"
        + (
            "  (" + ", ".join(f"{k} {v}" for k, v in summary["errors_by_kind"].items()) + ")"
            if summary.get("errors_by_kind")
            else ""
        ),
        *_robustness_lines(summary),
        *_image_lines(summary),
        "按规则 by rule:",
        *[f"  {rule:<22} {count}" for rule, count in summary["by_rule"].items()],
        f"存储 store: {summary['store']}",
    ]
    print("\n".join(lines), flush=True)


def _robustness_lines(summary: dict[str, Any]) -> list[str]:
    """Retries, unchanged, gone, resumed: shown only when something happened."""
    labels = (
        ("unchanged", "未变化   unchanged"),
        ("gone", "已下架   gone"),
        ("retries", "重试     retries"),
        ("gave_up", "放弃     gave up"),
        ("resume_skipped", "续跑跳过 resumed"),
    )
    return [f"{label}: {summary[key]}" for key, label in labels if summary.get(key)]


def _image_lines(summary: dict[str, Any]) -> list[str]:
    """Pictures hashed, unreadable and read by OCR: shown when the image step ran."""
    images = summary.get("images")
    if not images:
        return []
    reused = f" (+{images['ocr_cached']} 复用 reused)" if images["ocr_cached"] else ""
    return [
        f"图片     images   : 已哈希 hashed {images['hashed']}, "
        f"无法读取 errors {images['errors']}, OCR {images['ocr']}{reused}"
    ]


def _serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from api.accounts.users import ensure_first_admin
    from api.app import create_app
    from api.workspace_db import open_workspace
    from evidence.archive import open_archive
    from marketguard.distributed.config import worker_config

    try:
        distributed = worker_config(settings.home).distributed
    except ValueError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    if not _port_free(host, port):
        port = _free_port(host)
    workspace = open_workspace(settings.home)
    if password := ensure_first_admin(workspace):
        # Shown once and never stored in clear: the first run of a fresh home has no accounts.
        print(
            f"已创建管理员账号 admin，一次性密码 one-time password: {password}\n"
            "  请登录后修改: marketguard users passwd admin",
            flush=True,
        )
    # Without a broker the feed worker thread sends webhooks, runs re-checks and marks overdue
    # notices while serving. With one, `marketguard beat` and the notify/recheck workers do it:
    # both at once would send every webhook twice.
    app = create_app(open_archive(settings.home), workspace=workspace, feed_worker=not distributed)
    if distributed:
        print("平台推送、回头看、逾期标记由 beat 与 notify/recheck 工作进程执行", flush=True)
    print(f"审查工作台 review workspace: http://{host}:{port}/  (Ctrl+C 退出)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
