"""Broker URLs and credentials: what is accepted, what is refused, where secrets come from."""

from __future__ import annotations

import pytest

from rocksq.bridge import Auth, Endpoint, parse_url


def test_urls_name_broker_host_port_and_stream() -> None:
    assert parse_url("nats://127.0.0.1:4333/orders.eu") == Endpoint(
        "nats", "127.0.0.1", 4333, "orders.eu", False, None
    )
    assert parse_url("tls://alice@nats.example/orders") == Endpoint(
        "nats", "nats.example", 4222, "orders", True, "alice"
    )
    assert parse_url("redis://[::1]/jobs") == Endpoint("redis", "::1", 6379, "jobs", False, None)
    assert parse_url("rediss://r:7000/jobs").tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h/s", "not a broker URL"),
        ("nats://h", "must end in /SUBJECT"),
        ("redis://h/", "must end in /STREAM"),
        ("redis:///s", "names no host"),
        ("redis://h:99999/s", "(?i)port"),
        ("redis://h/s?x=1", "must end in"),
    ],
)
def test_malformed_urls_are_refused_saying_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(url)


def test_a_password_in_a_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="ROCKSQ_REDIS_PASSWORD") as raised:
        parse_url("redis://user:hunter2@h/s")
    assert "hunter2" not in str(raised.value)


def test_credentials_come_from_the_environment_or_files_it_names(tmp_path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    auth = Auth.from_environment(
        "redis",
        {"ROCKSQ_REDIS_USER": "app", "ROCKSQ_REDIS_PASSWORD_FILE": str(secret),
         "ROCKSQ_NATS_PASSWORD": "not-for-redis", "ROCKSQ_TLS_CA": "ca.pem"},
    )
    assert auth == Auth(user="app", password="from-file", tls_ca="ca.pem")
    nats = Auth.from_environment(
        "nats", {"ROCKSQ_NATS_TOKEN": "t", "ROCKSQ_NATS_CREDS": "user.creds"}
    )
    assert (nats.token, nats.creds_file, nats.password) == ("t", "user.creds", None)


def test_secrets_do_not_show_in_an_auths_repr() -> None:
    assert "s3cret" not in repr(Auth(user="u", password="s3cret", token="s3cret"))
