"""``herbmorph mas``: run herbmorph as a DiSSCo machine annotation service (see README, "DiSSCo MAS")."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger("herbmorph.mas")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Consume DiSSCo MAS jobs from RabbitMQ (configuration from the environment DiSSCo "
                     "gives a MAS: MAS_ID, MAS_NAME, RABBITMQ_HOST, RABBITMQ_QUEUE, RABBITMQ_USER, "
                     "RABBITMQ_PASSWORD, RUNNING_ENDPOINT) and publish openDS annotations.")
    p.add_argument("--declare-topology", action="store_true",
                   help="first declare DiSSCo's exchanges and queues (a local broker; DiSSCo declares its own)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def main(args: argparse.Namespace) -> int:
    from herbmorph import logsafe
    from herbmorph.urlguard import ALLOW_LOOPBACK_ENV, allow_loopback

    from .config import ConfigError, MasConfig

    logsafe.setup(getattr(logging, args.log_level))
    # pika logs every failed connection attempt with a traceback; the consumer's own line says it once
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        config = MasConfig.from_env()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if not config.running_endpoint:
        log.warning("RUNNING_ENDPOINT is not set: DiSSCo will not be told when a job starts")
    if allow_loopback():
        log.warning("%s=1: image URLs on 127.0.0.0/8 and ::1 are allowed. This is a test setting; "
                    "never set it in a deployment", ALLOW_LOOPBACK_ENV)
    if args.declare_topology:
        from pika.exceptions import AMQPError

        try:
            declare_topology(config)
        except AMQPError as exc:
            log.error("cannot declare the topology on %s:%s: %s", config.host, config.port,
                      str(exc) or type(exc).__name__)
            return 1

    from herbmorph.pipeline import Pipeline

    from .consumer import Consumer
    from .jobs import JobRunner

    consumer = Consumer(config, None)
    consumer.install_signal_handlers()  # a SIGTERM while the models load still stops cleanly
    pipeline = Pipeline().setup()  # once, before the first job: no job pays for loading models
    consumer.runner = JobRunner(pipeline, config)
    return consumer.run()


def declare_topology(config) -> None:
    import pika

    from .topology import declare

    with pika.BlockingConnection(config.connection_parameters()) as conn:
        declare(conn.channel(), config)
    log.info("declared the MAS topology for queue %s", config.queue)
