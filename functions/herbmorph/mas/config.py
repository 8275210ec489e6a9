"""The MAS's configuration: exactly the environment DiSSCo gives a MAS container, plus optional
overrides for the exchange and routing-key names and the consumer's limits.

Required (DiSSCo sets them): ``MAS_ID``, ``MAS_NAME``, ``RABBITMQ_HOST``, ``RABBITMQ_QUEUE``,
``RABBITMQ_USER``, ``RABBITMQ_PASSWORD``. ``RUNNING_ENDPOINT`` is set by DiSSCo too; without it
the "job running" call is skipped (with a warning at start).

Optional: ``RABBITMQ_PORT`` (5672), ``RABBITMQ_VHOST`` (``/``), ``RABBITMQ_EXCHANGE``
(``mas-annotation-exchange``) and ``RABBITMQ_ROUTING_KEY`` (``mas-annotation``) for results,
``RABBITMQ_FAILED_EXCHANGE`` (``mas-annotation-failed-exchange``) and
``RABBITMQ_FAILED_ROUTING_KEY`` (``mas-annotation-failed``) for failures,
``HERBMORPH_MAS_PREFETCH`` (1: jobs are seconds of CPU each, so a pod holds one and the queue
stays visible to KEDA and to the other pods), ``HERBMORPH_MAS_HEARTBEAT`` (60 s),
``HERBMORPH_MAS_MAX_DELIVERIES`` (5: a job delivered that often without an answer, because the
consumers holding it died, gets a failure instead of another crash).
The image fetch uses ``HERBMORPH_URL_TIMEOUT`` and ``HERBMORPH_MAX_BYTES`` like every adapter.

The password never appears in a repr or a log line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

REQUIRED = ("MAS_ID", "MAS_NAME", "RABBITMQ_HOST", "RABBITMQ_QUEUE", "RABBITMQ_USER", "RABBITMQ_PASSWORD")
MAX_PREFETCH = 100


class ConfigError(ValueError):
    """The environment cannot run the MAS; the message names every variable at fault."""


@dataclass(frozen=True)
class MasConfig:
    mas_id: str
    mas_name: str
    host: str
    queue: str
    user: str
    password: str = field(repr=False)
    running_endpoint: Optional[str] = None
    port: int = 5672
    vhost: str = "/"
    exchange: str = "mas-annotation-exchange"
    routing_key: str = "mas-annotation"
    failed_exchange: str = "mas-annotation-failed-exchange"
    failed_routing_key: str = "mas-annotation-failed"
    prefetch: int = 1
    heartbeat: int = 60
    max_deliveries: int = 5
    running_timeout: float = 10.0
    reconnect_max_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "MasConfig":
        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        problems = [f"{name} is not set" for name in REQUIRED if not get(name)]
        numbers = {}
        for name, default, low, high in (("RABBITMQ_PORT", "5672", 1, 65535),
                                         ("HERBMORPH_MAS_PREFETCH", "1", 1, MAX_PREFETCH),
                                         ("HERBMORPH_MAS_HEARTBEAT", "60", 0, 3600),
                                         ("HERBMORPH_MAS_MAX_DELIVERIES", "5", 2, 1000)):
            raw = get(name, default)
            if raw.isdigit() and low <= int(raw) <= high:
                numbers[name] = int(raw)
            else:
                problems.append(f"{name} must be a whole number within {low}..{high}, not {raw!r}")
        if problems:
            raise ConfigError("cannot start the MAS: " + "; ".join(problems))
        return cls(
            mas_id=get("MAS_ID"), mas_name=get("MAS_NAME"), host=get("RABBITMQ_HOST"),
            queue=get("RABBITMQ_QUEUE"), user=get("RABBITMQ_USER"),
            password=env.get("RABBITMQ_PASSWORD", ""),  # not stripped: it is what it is
            running_endpoint=get("RUNNING_ENDPOINT").rstrip("/") or None,
            port=numbers["RABBITMQ_PORT"], vhost=get("RABBITMQ_VHOST", "/"),
            exchange=get("RABBITMQ_EXCHANGE", cls.exchange),
            routing_key=get("RABBITMQ_ROUTING_KEY", cls.routing_key),
            failed_exchange=get("RABBITMQ_FAILED_EXCHANGE", cls.failed_exchange),
            failed_routing_key=get("RABBITMQ_FAILED_ROUTING_KEY", cls.failed_routing_key),
            prefetch=numbers["HERBMORPH_MAS_PREFETCH"], heartbeat=numbers["HERBMORPH_MAS_HEARTBEAT"],
            max_deliveries=numbers["HERBMORPH_MAS_MAX_DELIVERIES"],
        )

    def connection_parameters(self):
        import pika

        return pika.ConnectionParameters(
            host=self.host, port=self.port, virtual_host=self.vhost,
            credentials=pika.PlainCredentials(self.user, self.password),
            heartbeat=self.heartbeat,
            blocked_connection_timeout=300,  # a broker in a resource alarm must not hang us forever
            connection_attempts=1,  # the consumer's own loop retries, with back-off and a log line
            socket_timeout=10,
            client_properties={"connection_name": f"herbmorph-mas {self.mas_name}"[:200]},
        )

    def describe(self) -> str:
        """One log line: where it listens and answers (no password)."""
        return (f"MAS {self.mas_name!r} ({self.mas_id}) consuming {self.queue!r} on "
                f"{self.user}@{self.host}:{self.port}{self.vhost if self.vhost.startswith('/') else '/' + self.vhost}, "
                f"results to {self.exchange}/{self.routing_key}, failures to "
                f"{self.failed_exchange}/{self.failed_routing_key}, prefetch {self.prefetch}")
