"""How a process reaches Kafka: the one place that turns the settings into a client's
connection options, so the worker, the learner and every command connect alike (plaintext,
TLS, SASL over either) and a credential is configured once.

>>> kafka_options(Settings(kafka_bootstrap="k:9092"))
{'bootstrap_servers': 'k:9092', 'security_protocol': 'PLAINTEXT'}
"""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from streamapp.errors import UsageError
from streamapp.settings import Settings, read_secret

__all__ = ["describe", "kafka_options", "sasl_password"]


def kafka_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every aiokafka client (producer, consumer, admin, plain client)
    takes to reach the configured cluster as the configured principal.

    >>> options = kafka_options(Settings(
    ...     kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-512",
    ...     kafka_sasl_username="app", kafka_sasl_password="pw"))
    >>> options["sasl_mechanism"], options["sasl_plain_username"], "ssl_context" in options
    ('SCRAM-SHA-512', 'app', False)
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if protocol.startswith("SASL_"):
        if not settings.kafka_sasl_username:
            raise UsageError(f"STREAMAPP_KAFKA_SASL_USERNAME is empty; {protocol} needs a user")
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = sasl_password(settings)
    return options


def sasl_password(settings: Settings) -> str:
    """The SASL password: the setting's, or else its file's content without the trailing
    newline (a mounted secret)."""
    password = settings.kafka_sasl_password.get_secret_value()
    if password or not settings.kafka_sasl_password_file:
        return password
    return read_secret(settings.kafka_sasl_password_file, "STREAMAPP_KAFKA_SASL_PASSWORD_FILE")


def describe(settings: Settings) -> str:
    """Who connects where, for an error message: the bootstrap servers, the protocol and,
    with SASL, the user and mechanism (never the password).

    >>> describe(Settings(kafka_bootstrap="k:9093", kafka_security_protocol="SASL_SSL",
    ...     kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="app"))
    'k:9093 over SASL_SSL as app (SCRAM-SHA-512)'
    """
    text = f"{settings.kafka_bootstrap} over {settings.kafka_security_protocol}"
    if settings.kafka_security_protocol.startswith("SASL_"):
        text += f" as {settings.kafka_sasl_username} ({settings.kafka_sasl_mechanism})"
    return text


def _ssl_context(settings: Settings) -> Any:
    """A TLS context that checks the brokers' certificates (and host names) against the
    configured CA, presenting a client certificate when one is set."""
    try:
        return create_ssl_context(
            cafile=settings.kafka_ssl_cafile or None,
            certfile=settings.kafka_ssl_certfile or None,
            keyfile=settings.kafka_ssl_keyfile or None,
        )
    except OSError as exc:
        raise UsageError(
            f"Kafka TLS files (STREAMAPP_KAFKA_SSL_CAFILE / _CERTFILE / _KEYFILE) cannot be "
            f"read: {exc}"
        ) from None
