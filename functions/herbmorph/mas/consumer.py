"""The AMQP side of the MAS: consume jobs, publish each outcome with publisher confirms, and
acknowledge a job only after the broker confirmed its outcome.

* **At least once, answered once per pod.** A job is acknowledged only after the broker confirmed
  (publisher confirms, ``mandatory``) the outcome's publication, so a pod killed mid-job leaves
  the job on the queue for the next consumer. An outcome whose confirm arrived but whose ack was
  lost (the connection dropped in between) is remembered by job id: the redelivery is only
  acknowledged, not answered twice. An outcome computed but not yet confirmed is kept too: the
  redelivery is published again without measuring again.
* **Bounded prefetch** (``HERBMORPH_MAS_PREFETCH``, default 1).
* **Heartbeats during long jobs**: the measurement runs in a worker thread while this thread keeps
  servicing the connection (``process_data_events``, woken the moment the job is done), so a slow
  sheet is not mistaken for a dead consumer.
* **Reconnects**: a broker restart, a dropped connection, or a closed channel ends the current
  connection; the loop reconnects with exponential back-off (1 s … ``reconnect_max_s``).
* **Poison jobs**: a quorum queue counts a message's earlier deliveries (``x-delivery-count``,
  ``x-acquired-count``). A job delivered ``HERBMORPH_MAS_MAX_DELIVERIES`` times without an answer
  (each consumer holding it died: out of memory on a huge image, a crash) gets a failure instead of
  killing one more pod.
* **Malformed messages** (not JSON, no ``jobId``, no ``object``) are rejected without requeue (a
  dead-letter exchange on the queue keeps them, if the operator set one) and logged.
* **SIGTERM/SIGINT** finish the job in hand, publish and acknowledge it, then stop.
"""
from __future__ import annotations

import logging
import signal
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

import pika
from pika.exceptions import AMQPError, ChannelClosedByBroker, NackError, UnroutableError

from herbmorph.errors import brief

from .config import MasConfig
from .jobs import JobRunner, MalformedJob, Outcome, parse_job

log = logging.getLogger(__name__)

CONFIRMED_MEMORY = 10_000  # job ids answered by this process, for redeliveries after a lost ack
PENDING_MEMORY = 64  # computed outcomes not yet confirmed (bounded: bodies can be large)
POLL_S = 0.25


def _earlier_deliveries(props) -> int:
    headers = getattr(props, "headers", None) or {}
    counts = [headers.get(k) for k in ("x-delivery-count", "x-acquired-count")]
    return max([c for c in counts if isinstance(c, int) and not isinstance(c, bool)] or [0])


def _why(exc: BaseException) -> str:
    """pika's connection errors often have no message of their own: name what is inside."""
    text = str(exc) or "; ".join(map(str, exc.args)) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:300]


class Consumer:
    def __init__(self, config: MasConfig, runner: Optional[JobRunner]):
        """``runner`` may be set after the signal handlers are installed (models load meanwhile)."""
        self.config = config
        self.runner = runner
        self.stopping = False
        self.connection = None
        self.channel = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mas-job")
        self._work: OrderedDict[str, Future] = OrderedDict()  # job id -> its measurement
        self._confirmed: OrderedDict[str, None] = OrderedDict()
        self._publish_failures = 0

    # ------------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        def stop(signum, _frame):
            log.info("signal %s: stopping after the job in hand", signal.Signals(signum).name)
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def run(self) -> int:
        """Consume until told to stop. Returns the process exit status (0)."""
        log.info("%s", self.config.describe())
        backoff = 1.0
        while not self.stopping:
            try:
                self._connect()
                backoff = 1.0
                self._consume()
            except ChannelClosedByBroker as exc:  # e.g. 404: an exchange or the queue does not exist
                log.error("the broker refused: %s %s; retrying in %.0f s", exc.reply_code, exc.reply_text, backoff)
            except AMQPError as exc:
                log.warning("broker connection lost (%s); reconnecting in %.0f s", _why(exc), backoff)
            finally:
                self._close()
            if not self.stopping:
                self._wait(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_s)
        self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("stopped")
        return 0

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(POLL_S, left))

    def _connect(self) -> None:
        self.connection = pika.BlockingConnection(self.config.connection_parameters())
        ch = self.connection.channel()
        # Refuse to take jobs that could not be answered: the result exchanges must exist
        # (passive: DiSSCo declares them; a missing one closes the channel with NOT_FOUND).
        for exchange in (self.config.exchange, self.config.failed_exchange):
            ch.exchange_declare(exchange, passive=True)
        ch.queue_declare(self.config.queue, passive=True)
        ch.confirm_delivery()
        ch.basic_qos(prefetch_count=self.config.prefetch)
        self.channel = ch
        log.info("connected to %s:%s, consuming %s", self.config.host, self.config.port, self.config.queue)

    def _close(self) -> None:
        conn, self.connection, self.channel = self.connection, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 — closing a dying connection
                log.debug("closing the connection: %s", brief(exc))

    # ------------------------------------------------------------------ messages

    def _consume(self) -> None:
        for method, props, body in self.channel.consume(self.config.queue, inactivity_timeout=1.0):
            if method is not None:
                self._on_message(method, props, body)
            if self.stopping:
                requeued = self.channel.cancel()  # prefetched, not started: back to the queue
                log.info("consumer cancelled; %d prefetched job(s) returned to the queue", requeued)
                return

    def _on_message(self, method, props, body: bytes) -> None:
        tag, received = method.delivery_tag, time.perf_counter()
        try:
            job = parse_job(body, getattr(props, "content_encoding", None))
        except MalformedJob as exc:
            log.error("rejected message %s (delivery %s, %d bytes): %s", props.message_id or "-", tag, len(body), exc)
            self.channel.basic_reject(tag, requeue=False)
            return
        if job.job_id in self._confirmed:
            log.info("job %s: redelivered after its outcome was confirmed; acknowledging only", job.job_id)
            self.channel.basic_ack(tag)
            return
        earlier = _earlier_deliveries(props)
        if earlier >= self.config.max_deliveries and job.job_id not in self._work:
            log.error("job %s: delivered %d times before without an answer; failing it", job.job_id, earlier)
            self._finish(tag, received, job, Outcome.failure(job.job_id, (
                f"herbmorph gave up on this image after {earlier} deliveries: each consumer that took it "
                "stopped before answering (out of memory or a crash); it is not retried")))
            return
        if job.batching_requested:
            log.info("job %s: batching requested; herbmorph annotates one image per job", job.job_id)
        self._finish(tag, received, job, self._outcome(job))

    def _finish(self, tag, received: float, job, outcome: Outcome) -> None:
        if not self._publish(outcome):
            self.channel.basic_nack(tag, requeue=True)  # kept in _work: republished, not remeasured
            return
        self._work.pop(job.job_id, None)
        self._remember_confirmed(job.job_id)
        self.channel.basic_ack(tag)
        took = (time.perf_counter() - received) * 1000
        if outcome.ok:
            log.info("job %s: annotations published and acknowledged, %.0f ms after delivery", job.job_id, took)
        else:
            log.warning("job %s: failure published and acknowledged, %.0f ms after delivery: %s", job.job_id, took,
                        outcome.message["errorMessage"])

    def _outcome(self, job) -> Outcome:
        future = self._work.get(job.job_id)
        if future is None:
            future = self._executor.submit(self.runner.run, job)
            self._work[job.job_id] = future
            while len(self._work) > PENDING_MEMORY:  # jobs another pod has answered by now
                self._work.popitem(last=False)
        conn = self.connection

        def wake(_future) -> None:  # from the worker thread: end the wait below at once
            try:
                conn.add_callback_threadsafe(lambda: None)
            except Exception:  # noqa: BLE001 — the connection closed meanwhile; the loop below notices
                pass

        future.add_done_callback(wake)
        while not future.done():
            conn.process_data_events(time_limit=1.0)  # heartbeats and prefetch keep flowing
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 — JobRunner.run does not raise; belt and braces
            return Outcome.failure(job.job_id, f"herbmorph failed with an internal error ({brief(exc)})")

    def _publish(self, outcome: Outcome) -> bool:
        """True once the broker confirmed; False when it refused (no queue bound: unroutable, or
        nack), after a back-off so a misconfigured broker is not hammered. Connection and channel
        errors propagate to the reconnect loop."""
        exchange, key = ((self.config.exchange, self.config.routing_key) if outcome.ok
                         else (self.config.failed_exchange, self.config.failed_routing_key))
        props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8", delivery_mode=2)
        try:
            self.channel.basic_publish(exchange, key, outcome.body(), properties=props, mandatory=True)
        except (UnroutableError, NackError) as exc:
            self._publish_failures += 1
            delay = min(2.0 ** self._publish_failures, self.config.reconnect_max_s)
            log.error("job %s: the broker did not take the outcome on %s/%s (%s); job returned to the "
                      "queue in %.0f s", outcome.job_id, exchange, key, type(exc).__name__, delay)
            self.connection.sleep(delay)
            return False
        self._publish_failures = 0
        return True

    def _remember_confirmed(self, job_id: str) -> None:
        self._confirmed[job_id] = None
        while len(self._confirmed) > CONFIRMED_MEMORY:
            self._confirmed.popitem(last=False)
