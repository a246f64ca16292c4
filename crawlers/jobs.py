"""Named crawl jobs: a pass that survives being killed (``marketguard crawl --job NAME``).

A job is a small JSON file under ``<home>/jobs/``: the spider, its arguments, when the job began
and the passes that worked on it. Running a job whose file says it is unfinished resumes it; a
finished job starts over.

The frontier is not kept in the job file but re-derived from durable facts. On resume the spider
starts from its search pages again (cheap, and they may have changed), and
``crawlers.middlewares.resume.ResumeFilter`` drops every request for a listing page the store
already holds from this job (last seen since the job began). The store commits each listing
atomically, so whatever a kill (even SIGKILL) interrupted is simply fetched again, and what was
committed is never fetched twice. See docs/crawling.md.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from marketguard.models import utcnow

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class JobMismatchError(ValueError):
    """An unfinished job is resumed with a different spider or arguments."""


@dataclass(slots=True)
class Job:
    name: str
    spider: str
    spider_args: dict[str, Any]
    started_at: datetime = field(default_factory=utcnow)
    passes: list[int] = field(default_factory=list)
    finished_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spider": self.spider,
            "spider_args": self.spider_args,
            "started_at": self.started_at.isoformat(),
            "passes": self.passes,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        finished = data.get("finished_at")
        return cls(
            name=data["name"],
            spider=data["spider"],
            spider_args=dict(data.get("spider_args") or {}),
            started_at=datetime.fromisoformat(data["started_at"]),
            passes=[int(p) for p in data.get("passes") or []],
            finished_at=datetime.fromisoformat(finished) if finished else None,
        )


def job_path(home: Path, name: str) -> Path:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"job name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )
    return Path(home) / "jobs" / f"{name}.json"


def load_job(home: Path, name: str) -> Job | None:
    path = job_path(home, name)
    if not path.exists():
        return None
    return Job.from_dict(json.loads(path.read_text(encoding="utf-8")))


def start_or_resume(
    home: Path, name: str, spider: str, spider_args: dict[str, Any]
) -> tuple[Job, bool]:
    """The job to run and whether it resumes an unfinished one."""
    args = {key: str(value) for key, value in spider_args.items()}
    job = load_job(home, name)
    if job is not None and job.finished_at is None:
        if job.spider != spider or job.spider_args != args:
            raise JobMismatchError(
                f"job {name!r} is unfinished and was started as {job.spider} {job.spider_args}; "
                f"resume it with the same arguments or use another job name"
            )
        return job, True
    job = Job(name=name, spider=spider, spider_args=args)
    save_job(home, job)
    return job, False


def save_job(home: Path, job: Job) -> None:
    """Write the job file atomically (a kill leaves the old or the new file, never half)."""
    path = job_path(home, job.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{job.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(job.to_dict(), out, ensure_ascii=False, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_pass(home: Path, name: str, pass_id: int) -> None:
    """Note that a pass began working on the job (as soon as it begins: it may be killed)."""
    job = load_job(home, name)
    if job is not None and pass_id not in job.passes:
        job.passes.append(pass_id)
        save_job(home, job)
