"""DiSSCo's RabbitMQ topology for a MAS, for a broker that is not DiSSCo's (local runs, tests,
the benchmark). In production DiSSCo declares all of this itself; the consumer only checks that
its exchanges and queue exist.

* the jobs: exchange ``mas-exchange`` (direct), the MAS's quorum queue ``mas-<name>-queue``
  bound to it with the routing key ``<name>`` (:func:`routing_key_of`);
* the answers: ``mas-annotation-exchange`` → ``mas-annotation-queue`` and
  ``mas-annotation-failed-exchange`` → ``mas-annotation-failed-queue`` (the queues DiSSCo's
  annotation processing service reads), under the routing keys of :class:`MasConfig`;
* optionally a dead-letter exchange and queue for the job queue, where rejected (malformed)
  messages end up instead of vanishing.
"""
from __future__ import annotations

from .config import MasConfig

JOB_EXCHANGE = "mas-exchange"
RESULT_QUEUE = "mas-annotation-queue"
FAILED_QUEUE = "mas-annotation-failed-queue"


def routing_key_of(queue: str) -> str:
    """DiSSCo routes a MAS's jobs with its topic name: ``mas-<name>-queue`` → ``<name>``."""
    if queue.startswith("mas-") and queue.endswith("-queue") and len(queue) > len("mas--queue"):
        return queue[len("mas-"):-len("-queue")]
    return queue


def dead_letter_names(config: MasConfig) -> tuple[str, str]:
    return f"{config.queue}-dlx", f"{config.queue}-rejected"


def declare(channel, config: MasConfig, *, dead_letters: bool = True) -> None:
    """Declare (idempotently) everything a MAS needs on ``channel``'s broker."""
    for exchange in (JOB_EXCHANGE, config.exchange, config.failed_exchange):
        channel.exchange_declare(exchange, exchange_type="direct", durable=True)
    args = {"x-queue-type": "quorum"}
    if dead_letters:
        dlx, rejected = dead_letter_names(config)
        channel.exchange_declare(dlx, exchange_type="fanout", durable=True)
        channel.queue_declare(rejected, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(rejected, dlx)
        args["x-dead-letter-exchange"] = dlx
    channel.queue_declare(config.queue, durable=True, arguments=args)
    channel.queue_bind(config.queue, JOB_EXCHANGE, routing_key=routing_key_of(config.queue))
    for queue, exchange, key in ((RESULT_QUEUE, config.exchange, config.routing_key),
                                 (FAILED_QUEUE, config.failed_exchange, config.failed_routing_key)):
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(queue, exchange, routing_key=key)
