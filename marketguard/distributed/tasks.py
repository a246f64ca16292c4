"""The tasks of a monitoring pass on Celery workers: crawl -> match -> capture -> store.

Each step is its own task on its own queue, so a slow browser never holds up crawling.

Nothing lost, nothing twice:

- Every task is acknowledged late (app.py): a worker that dies mid-task leaves it to be
  delivered again, to another worker.
- A delivery may therefore come twice. Matching is pure, so doing it again is harmless. A
  capture is claimed in the store under ``capture:<run>:<platform>:<listing_id>:<content
  hash>`` (``Archive.claim_work``): a second delivery finds it done and reuses its evidence, or
  finds a live lease and waits; a lease whose worker died runs out and is taken over. The store
  step saves the listing, its errors and its done-mark in one transaction, and saving the same
  listing and flags again changes nothing. ``<run>`` is the crawl job, so a later pass of the
  same content captures again, while a delivery of the same pass never does.
- Transient errors (network, store briefly down, a crashed browser) are retried with
  exponential backoff; permanent ones, and transient ones that outlast the retries, are
  recorded against the listing (a PageError of kind "task", shown in the workspace), never
  retried forever.
- Results go to the store; Celery keeps none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from celery import Task
from celery.exceptions import Retry

from marketguard.distributed import wire
from marketguard.distributed.app import ROUTINE, URGENT, app, config_of, priority
from marketguard.distributed.retry import TransientError, backoff, is_transient
from marketguard.models import PageError
from marketguard.settings import Settings

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
DOWNLOAD_TIMEOUT = 30.0  # crawlers/settings.py's
# A crashed browser may crash again on the same page; two fresh browsers is enough to tell.
CAPTURE_CRASH_RETRIES = 2


# --- per-process resources ------------------------------------------------------------------
_lock = threading.RLock()  # a resource may be made of others
_resources: dict[str, Any] = {}


def _resource(name: str, make: Callable[[], Any]) -> Any:
    with _lock:
        if name not in _resources:
            _resources[name] = make()
        return _resources[name]


def settings() -> Settings:
    return _resource("settings", Settings.from_env)  # type: ignore[no-any-return]


def archive() -> Any:
    from evidence.archive import open_archive

    return _resource("archive", lambda: open_archive(settings().home))


def matcher() -> Any:
    from matching.engine import Matcher

    s = settings()
    return _resource("matcher", lambda: Matcher.load(s.catalogue, s.rules))


def pass_base(pass_id: int | None) -> Any:
    """Registry and repeat offenders, loaded once per pass (as the in-process pass does)."""
    from marketguard.match_context import PassContext
    from matching.context import MatchContext

    key = f"pass_base:{pass_id}"
    with _lock:
        cached = _resources.get("pass_base")
        if cached is not None and cached[0] == key:
            return cached[1]
    loaded = PassContext.load(matcher(), settings().home, archive())
    base = MatchContext(registry=loaded.registry, repeat_offenders=loaded.repeat_offenders)
    with _lock:
        _resources["pass_base"] = (key, base)
    return base


class _CaptureLoop:
    """One Chromium per worker process, driven from an asyncio loop on its own thread, so that
    the worker's task threads (pool "threads") share it, at most N pages at a time."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="capture", daemon=True)
        self.thread.start()
        self.capturer: Any = None

    def _make(self) -> Any:
        from evidence.capture import Capturer
        from evidence.ledger import ledger_for

        s = settings()
        store = archive()
        return Capturer(
            s,
            store.put_blob,
            investigators=s.investigators,
            case_id=s.case_id,
            ledger=ledger_for(store, s),
            capture_timeout=config_of(app).capture_timeout,
        )

    def capture(self, **kwargs: Any) -> Any:
        async def run() -> Any:
            if self.capturer is None:
                self.capturer = self._make()
            return await self.capturer.capture(**kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(longest_capture())

    def reset(self) -> None:
        """Close a browser that crashed; the next capture launches a fresh one."""

        async def close() -> None:
            capturer, self.capturer = self.capturer, None
            if capturer is not None:
                await capturer.aclose()

        try:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(60)
        except Exception:
            logger.exception("closing the crashed browser failed")


def longest_capture() -> float:
    """A capture's own timeout plus the browser's launch (or relaunch) and the writes."""
    return config_of(app).capture_timeout * 2 + 30


def capture_loop() -> _CaptureLoop:
    return _resource("capture_loop", _CaptureLoop)  # type: ignore[no-any-return]


def owner(task: Task) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{task.request.id}"


# --- failure handling -----------------------------------------------------------------------
def record_task_error(url: str, task_name: str, exc: BaseException, pass_id: Any) -> None:
    message = f"{task_name}: {type(exc).__name__}: {exc}"
    try:
        archive().record_error(PageError(url=url, kind="task", message=message[:2000]), pass_id)
    except Exception:  # the store itself is away: the log is all that is left
        logger.exception("could not record the failure of %s for %s", task_name, url)


@contextmanager
def failures(task: Task, url: str, pass_id: Any) -> Iterator[None]:
    """Retry transient errors with backoff; record permanent ones (and exhausted retries)."""
    try:
        yield
    except Retry:
        raise
    except Exception as exc:
        if is_transient(exc) and task.request.retries < task.max_retries:
            logger.warning("%s for %s failed (%s); retrying", task.name, url, exc)
            raise task.retry(exc=exc, countdown=backoff(task.request.retries)) from exc
        logger.exception("%s for %s failed for good", task.name, url)
        record_task_error(url, task.name, exc, pass_id)
        report_check(task, None, error=f"{type(exc).__name__}: {exc}")


def report_check(task: Task, payload: dict[str, Any] | None, *, error: str = "") -> None:
    """Tell the workspace how an officer's on-demand check ended (notify queue, beside serve)."""
    kwargs = task.request.kwargs or {}
    check_id = (payload or kwargs).get("check_id")
    if check_id is None:
        return
    listing = (payload or {}).get("listing") or {}
    flags = (payload or {}).get("flags") or []
    evidence = (payload or {}).get("evidence") or {}
    app.send_task(
        "marketguard.notify.check_result",
        kwargs={
            "check_id": check_id,
            "state": "failed" if error else "done",
            "platform": listing.get("platform", ""),
            "listing_id": listing.get("listing_id", ""),
            "flagged": bool(flags),
            "rule_ids": list(dict.fromkeys(f["rule_id"] for f in flags)),
            "capture_id": evidence.get("capture_id"),
            "error": error,
        },
        priority=priority(app, URGENT),
    )


def _priority_of(payload: dict[str, Any]) -> int:
    return priority(app, URGENT if payload.get("check_id") is not None else ROUTINE)


# --- crawl ----------------------------------------------------------------------------------
@app.task(name="marketguard.crawl", bind=True, max_retries=3)
def crawl(
    self: Task,
    *,
    spider: str,
    spider_args: dict[str, Any],
    capture: bool = True,
    incremental: bool = True,
    origin: str = "",
    check_id: int | None = None,
    urgent: bool = False,
    job: dict[str, Any] | None = None,
    slice_seconds: float | None = None,
) -> dict[str, Any]:
    """One slice of a crawl job in a child process; the rest of the job goes to a new task.

    A slice that found nothing new (its time went on pages retried with backoff, a slow site)
    hands on a slice twice as long, up to what the visibility timeout allows; a slice that long
    that still finds nothing stops the job with a recorded error instead of looping forever."""
    from crawlers.jobs import Job, load_job, save_job

    config = config_of(app)
    home = settings().home
    name = job["name"] if job else f"crawl-{self.request.id}"
    if job and load_job(home, name) is None:
        # The slice before ran on another machine: carry its job over (when it began, and so
        # what this pass has already stored and need not fetch again).
        home.mkdir(parents=True, exist_ok=True)
        save_job(home, Job.from_dict(job))
    level = URGENT if urgent or check_id is not None else ROUTINE
    longest_slice = config.visibility_timeout - config.capture_timeout
    this_slice = min(slice_seconds or config.crawl_slice, longest_slice)
    orders = {
        "spider": spider,
        "spider_args": spider_args,
        "capture": capture,
        "incremental": incremental,
        "origin": origin,
        "check_id": check_id,
        "job": name,
        "slice": this_slice,
        # Closing a slice waits for the downloads in flight: each must end within half the
        # margin the child is given beyond its slice (below), or a hung page kills the slice.
        "download_timeout": min(DOWNLOAD_TIMEOUT, config.capture_timeout / 2),
        "priority": priority(app, level),
    }
    start = spider_args.get("url") or spider_args.get("base_url") or spider_args.get("site", "")
    if check_id is not None and job is None:
        # The officer sees the check move from queued to running.
        app.send_task(
            "marketguard.notify.check_result",
            kwargs={"check_id": check_id, "state": "running"},
            priority=priority(app, URGENT),
        )
    try:
        child = subprocess.run(
            [sys.executable, "-m", "marketguard.distributed.crawl_child"],
            input=json.dumps(orders),
            capture_output=True,
            text=True,
            # The slice closes the spider, which lets the downloads in flight finish (with their
            # retries); a child still closing after this is killed, well before Redis would
            # hand the task to another worker.
            timeout=min(this_slice + config.capture_timeout, config.visibility_timeout * 0.9),
            check=False,
            env={**os.environ, "MARKETGUARD_HOME": str(home)},
            preexec_fn=_die_with_parent,
        )
    except subprocess.TimeoutExpired:  # killed by run(): pages too slow to close in time
        # Counted as a slice that found nothing: the next slice is longer, and the job stops
        # once the longest slice cannot close either. What it stored is kept; the job resumes.
        child = subprocess.CompletedProcess(
            [],
            0,
            json.dumps({"finish_reason": "closespider_timeout", "dispatched": 0, "hung": True}),
            "",
        )
    summary = _last_json_line(child.stdout)
    if child.returncode != 0 or summary is None:
        detail = (summary or {}).get("failed") or child.stderr.strip()[-1500:] or "no output"
        if summary is not None and "failed" in summary:
            # The pass could not run (a broken adapter or rules file): trying again won't help.
            record_task_error(start, self.name, RuntimeError(detail), None)
            report_check(self, None, error=detail)
            return {"failed": detail}
        exc = TransientError(f"crawl child exited with {child.returncode}: {detail}")
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries))
        record_task_error(start, self.name, exc, None)
        report_check(self, None, error=str(exc))
        return {"failed": str(exc)}
    if summary.get("finish_reason") == "closespider_timeout":
        from marketguard.distributed.submit import submit_crawl

        next_slice = config.crawl_slice
        if not (summary.get("dispatched") or summary.get("unchanged")):
            if this_slice >= longest_slice:
                why = "could not close in time" if summary.get("hung") else "found no listing"
                message = (
                    f"crawl job {name} stopped: a slice of {this_slice:g} s {why}"
                    " (pages failing or too slow); it resumes if queued again"
                )
                record_task_error(start, self.name, RuntimeError(message), summary.get("pass_id"))
                report_check(self, None, error=message)
                return {**summary, "failed": message}
            next_slice = min(this_slice * 2, longest_slice)
        current = load_job(home, name)
        submit_crawl(
            app,
            spider,
            spider_args,
            capture=capture,
            incremental=incremental,
            origin=origin,
            check_id=check_id,
            urgent=urgent,
            job=current.to_dict() if current else {"name": name},
            slice_seconds=next_slice,
        )
    elif check_id is not None and not summary.get("dispatched"):
        # The page gave no listing (an error page, not a product): the officer must know.
        errors = summary.get("errors_by_kind") or {}
        report_check(self, None, error=f"no listing found at {start} ({errors or 'no errors'})")
    return summary


def _die_with_parent() -> None:
    """In the crawl child, before exec: die when the worker dies (even by SIGKILL), so that a
    redelivered crawl never runs beside an orphan of the first one (Linux)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


# --- match ----------------------------------------------------------------------------------
@app.task(name="marketguard.match", bind=True, max_retries=MAX_RETRIES)
def match(self: Task, **payload: Any) -> None:
    listing_data = payload["listing"]
    with failures(self, listing_data.get("url", ""), payload.get("pass_id")):
        listing = wire.listing_from(listing_data)
        base = pass_base(payload.get("pass_id"))
        context = wire.context_from_slice(payload.get("context") or {}, base)
        result = matcher().match(listing, context)
        listing.category = result.category
        out = {
            "run": payload.get("run", ""),
            "pass_id": payload.get("pass_id"),
            "listing": listing.to_dict(),
            "flags": wire.flags_to_list(result.flags),
            "risk_score": result.risk.score if result.flags else None,
            "errors": payload.get("errors") or [],
            "check_id": payload.get("check_id"),
            "origin": payload.get("origin", ""),
        }
        # An officer's check is captured whatever the rules say: it is what was complained of.
        wants_capture = payload.get("capture", True) and (
            result.flags or payload.get("check_id") is not None
        )
        next_task = "marketguard.capture" if wants_capture else "marketguard.store"
        app.send_task(next_task, kwargs=out, priority=_priority_of(payload))


# --- capture --------------------------------------------------------------------------------
def work_key(stage: str, payload: dict[str, Any]) -> str:
    listing = wire.listing_from(payload["listing"])
    run = payload.get("run") or f"pass-{payload.get('pass_id')}"
    return f"{stage}:{run}:{listing.platform}:{listing.listing_id}:{listing.content_hash()}"


@app.task(name="marketguard.capture", bind=True, max_retries=MAX_RETRIES)
def capture(self: Task, **payload: Any) -> None:
    listing_data = payload["listing"]
    url = listing_data.get("url", "")
    with failures(self, url, payload.get("pass_id")):
        from evidence.capture import CaptureError

        config = config_of(app)
        key = work_key("capture", payload)
        me = owner(self)
        store = archive()
        # Long enough for the slowest capture; a dead worker's lease runs out before Redis
        # hands its task to another worker (visibility timeout > lease, config.py).
        lease = min(longest_capture(), config.visibility_timeout - 1)
        claim = store.claim_work(key, me, lease)
        if claim.state == "busy":
            # Another worker is on it (a duplicate delivery): look again when its lease ends.
            raise self.retry(countdown=min(lease, 30), max_retries=None)
        if claim.state == "done":
            result = claim.result or {}
        else:
            listing = wire.listing_from(listing_data)
            errors: list[dict[str, Any]] = []
            evidence = None
            try:
                evidence = capture_loop().capture(
                    url=listing.url,
                    platform=listing.platform,
                    listing_id=listing.listing_id,
                    image_urls=listing.image_urls,
                )
            except CaptureError as exc:  # the page itself: another try would fail the same way
                errors.append(PageError(url=url, kind="capture", message=str(exc)).to_dict())
            except Exception as exc:  # the browser: start a fresh one, try again a little
                capture_loop().reset()
                if self.request.retries < CAPTURE_CRASH_RETRIES:
                    raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
                message = f"{type(exc).__name__}: {exc}"
                errors.append(PageError(url=url, kind="capture", message=message).to_dict())
            if evidence is not None:
                errors.extend(
                    PageError(url=url, kind="image", message=m).to_dict() for m in evidence.errors
                )
            result = {"evidence": evidence.to_dict() if evidence else None, "errors": errors}
            store.finish_work(key, me, result)
        out = {
            **payload,
            "evidence": result.get("evidence"),
            "errors": [*(payload.get("errors") or []), *result.get("errors", [])],
        }
        app.send_task("marketguard.store", kwargs=out, priority=_priority_of(payload))


# --- store ----------------------------------------------------------------------------------
@app.task(name="marketguard.store", bind=True, max_retries=MAX_RETRIES)
def store(self: Task, **payload: Any) -> None:
    listing_data = payload["listing"]
    with failures(self, listing_data.get("url", ""), payload.get("pass_id")):
        target = archive()
        key = work_key("store", payload)
        me = owner(self)
        if target.claim_work(key, me, 600).state == "done":
            report_check(self, payload)  # the report may be what was lost
            return
        listing = wire.listing_from(listing_data)
        flags = payload.get("flags") or []
        done = {
            "stored_at": time.time(),
            "pass_id": payload.get("pass_id"),
            "rules": list(dict.fromkeys(f["rule_id"] for f in flags)),
            "evidence": bool(payload.get("evidence")),
        }
        # SQLite: the listing, its errors and the done-mark in one transaction. A store whose
        # batch is only a buffer (Elasticsearch) writes the done-mark after the rest, so that a
        # crash in between means "write again" (harmless), never "done but not written".
        atomic = getattr(target, "transactional_batch", False)
        with target.batch() if atomic else nullcontext():
            target.save_listing(
                listing,
                wire.flags_from_list(flags),
                wire.evidence_from(payload.get("evidence")),
                payload.get("pass_id"),
                risk_score=payload.get("risk_score"),
            )
            for error in wire.errors_from_list(payload.get("errors") or []):
                target.record_error(error, payload.get("pass_id"))
            if atomic:
                target.finish_work(key, me, done)
        if not atomic:
            target.finish_work(key, me, done)
        report_check(self, payload)
