"""One DiSSCo job: parse the message, tell DiSSCo it runs, fetch the image safely, measure it with
the cores already loaded, and turn the result into exactly one outcome: the annotation event
``{jobId, annotations}`` or the failure ``{jobId, errorMessage}``.

Nothing here talks AMQP (that is :mod:`herbmorph.mas.consumer`), so a job's work can run in a
worker thread while the connection keeps its heartbeats.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass

from herbmorph.area.opends import MediaTarget, annotation_event, mas_agent
from herbmorph.errors import brief, sanitize_message
from herbmorph.urlfetch import UrlError, fetch, timeout_from_env

from .config import MasConfig

log = logging.getLogger(__name__)

#: a job message is one media object's JSON: kilobytes. Anything far larger is not a job.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_JOB_ID_CHARS = 1000
#: what pipeline.measure_image records when the organ model itself failed (then "no organs
#: found" would be a false statement, so the job fails instead)
SEGMENT_FAILED = "segment stage failed"


class MalformedJob(ValueError):
    """Not a job at all (not JSON, no jobId, no object): rejected without requeue, never answered."""


@dataclass(frozen=True)
class Job:
    job_id: str
    media: dict
    batching_requested: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a job ends with: ``ok`` → the annotation event, else the failure message."""

    job_id: str
    ok: bool
    message: dict

    def body(self) -> bytes:
        return json.dumps(self.message, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")

    @classmethod
    def failure(cls, job_id: str, error: str) -> "Outcome":
        return cls(job_id, False, {"jobId": job_id, "errorMessage": sanitize_message(error)})


def _decompress(body: bytes) -> bytes:
    """gzip (DiSSCo's MessageCompressionComponent) with a ceiling on the inflated size."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_MESSAGE_BYTES + 1)
    except zlib.error as exc:
        raise MalformedJob(f"content-encoding gzip, but not gzip data ({exc})") from None
    if len(out) > MAX_MESSAGE_BYTES or inflater.unconsumed_tail:
        raise MalformedJob(f"inflates to more than {MAX_MESSAGE_BYTES} bytes")
    return out


def parse_job(body: bytes, content_encoding: str | None = None) -> Job:
    """The job in a message body, or :class:`MalformedJob` saying what is wrong with it."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise MalformedJob(f"message of {len(body)} bytes, over {MAX_MESSAGE_BYTES}")
    if (content_encoding or "").lower() == "gzip":
        body = _decompress(body)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJob(f"not JSON: {brief(exc, 120)}") from None
    if not isinstance(data, dict):
        raise MalformedJob(f"a JSON {type(data).__name__}, not an object")
    job_id = data.get("jobId")
    if not isinstance(job_id, str) or not job_id.strip():
        raise MalformedJob("no jobId (a non-empty string)")
    if len(job_id) > MAX_JOB_ID_CHARS:
        raise MalformedJob(f"jobId longer than {MAX_JOB_ID_CHARS} characters")
    media = data.get("object")
    if not isinstance(media, dict):
        raise MalformedJob(f"job {job_id!r} has no object (the digital media to annotate)")
    return Job(job_id, media, bool(data.get("batchingRequested")))


class JobRunner:
    """Runs jobs with one loaded :class:`herbmorph.pipeline.Pipeline` (models loaded once)."""

    def __init__(self, pipeline, config: MasConfig):
        self.pipeline = pipeline
        self.config = config
        self.agent = mas_agent(config.mas_id, config.mas_name)

    def notify_running(self, job: Job) -> None:
        """``GET {RUNNING_ENDPOINT}/{MAS_ID}/{jobId}/running``. DiSSCo's own service, inside its
        cluster (so not through the public-URL guard); only a status display depends on it, so
        a failure is logged and the job goes on."""
        if not self.config.running_endpoint:
            return
        path = "/".join(urllib.parse.quote(part, safe="/:") for part in (self.config.mas_id, job.job_id))
        url = f"{self.config.running_endpoint}/{path}/running"
        try:
            with urllib.request.urlopen(url, timeout=self.config.running_timeout) as resp:
                resp.read(1 << 16)
        except Exception as exc:  # noqa: BLE001 — never fails the job
            log.warning("job %s: running endpoint did not answer: %s", job.job_id, sanitize_message(brief(exc)))

    def run(self, job: Job) -> Outcome:
        """Exactly one outcome; never raises (an unexpected error is a failure a curator can read)."""
        try:
            self.notify_running(job)
            return self._measure(job)
        except Exception as exc:  # noqa: BLE001 — every job ends with one outcome
            log.exception("job %s: internal error", job.job_id)
            return Outcome.failure(job.job_id, f"herbmorph failed with an internal error ({brief(exc)}); "
                                               "the job may be retried")

    def _measure(self, job: Job) -> Outcome:
        try:
            target = MediaTarget.from_media_object(job.media)
        except ValueError as exc:
            return Outcome.failure(job.job_id, f"herbmorph cannot annotate this object: {exc}")
        url = job.media.get("ac:accessURI")
        if not isinstance(url, str) or not url.strip():
            return Outcome.failure(job.job_id, f"the digital media {target.id} has no ac:accessURI (the image URL)")
        shown = sanitize_message(url)  # signed-URL parameters and user:password never reach a message
        settings = self.pipeline.settings
        t0 = time.perf_counter()
        try:
            fetched = fetch(url.strip(), max_bytes=settings.max_bytes, timeout=timeout_from_env())
        except UrlError as exc:
            return Outcome.failure(job.job_id, f"herbmorph could not fetch the image {shown}: {exc} ({exc.kind})")
        t1 = time.perf_counter()
        m = self.pipeline.measure(fetched.data, shown)
        t2 = time.perf_counter()
        if not m.ok:
            err = m.doc.error
            return Outcome.failure(job.job_id, f"herbmorph could not read the image {shown}: {err.message} ({err.kind})")
        failed = [e for e in m.doc.errors if e.startswith(SEGMENT_FAILED)]
        if failed:
            return Outcome.failure(job.job_id, f"herbmorph could not look for organs on {shown}: {failed[0]}")
        event = annotation_event(m.doc, job.job_id, target=target, creator=self.agent)
        log.info("job %s: %d organs, scale %s, %d annotations (fetch %.0f ms, measure %.0f ms)", job.job_id,
                 len(m.doc.organs), m.doc.scale.status, len(event["annotations"]), (t1 - t0) * 1000, (t2 - t1) * 1000)
        return Outcome(job.job_id, True, event)
