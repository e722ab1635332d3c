"""Every Kafka client's connection options from the settings: TLS checked against the given
CA, SASL with a password from the setting or a mounted file, and unreadable files refused by
the setting's name."""

from __future__ import annotations

import ssl

import pytest
import trustme

from streamapp.brokers import kafka_options
from streamapp.errors import UsageError
from streamapp.settings import Settings


def test_sasl_ssl_checks_the_brokers_certificate_against_the_ca_and_reads_a_password_file(
    tmp_path,
):
    ca_file, secret = tmp_path / "ca.pem", tmp_path / "password"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    secret.write_text("from-the-file\n")
    options = kafka_options(
        Settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="app",
            kafka_sasl_password_file=str(secret),
            kafka_ssl_cafile=str(ca_file),
        )
    )
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert options["sasl_plain_password"] == "from-the-file"
    assert options["security_protocol"] == "SASL_SSL"


def test_missing_credentials_or_files_are_refused_by_the_settings_name(tmp_path):
    with pytest.raises(UsageError, match="STREAMAPP_KAFKA_SASL_USERNAME"):
        kafka_options(Settings(kafka_security_protocol="SASL_PLAINTEXT"))
    with pytest.raises(UsageError, match="STREAMAPP_KAFKA_SASL_PASSWORD_FILE"):
        kafka_options(
            Settings(
                kafka_security_protocol="SASL_PLAINTEXT",
                kafka_sasl_username="app",
                kafka_sasl_password_file=str(tmp_path / "absent"),
            )
        )
    with pytest.raises(UsageError, match="STREAMAPP_KAFKA_SSL_CAFILE"):
        kafka_options(
            Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tmp_path / "absent"))
        )


def test_the_password_never_prints():
    settings = Settings(kafka_sasl_password="s3cret")
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
