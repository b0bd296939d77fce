"""Faust's `broker_credentials` for LiveGate's Kafka settings."""

from __future__ import annotations

from typing import Any

from pipeline.adapters.kafka import client_kwargs
from pipeline.adapters.settings import Settings


def faust_credentials(settings: Settings) -> Any:
    """Faust's `broker_credentials` for the same settings (None for PLAINTEXT)."""
    import faust  # imported when a worker (or the bench's floor) runs only

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = client_kwargs(settings).get("ssl_context")
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=context,  # None: SASL_PLAINTEXT
    )
