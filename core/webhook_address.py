"""The address Plex is given: PUBLIC_WEBHOOK_URL, else this machine's LAN address and the port
the daemon listens on. Plex Media Server usually runs on another machine, so `localhost`
would be wrong for nearly everyone."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

WEBHOOK_PATH = "/api/plex/webhook"
_WILDCARD = {"", "0.0.0.0", "::", "*"}


def lan_address() -> str:
    """The address other machines on the LAN reach this one at.

    Connecting a UDP socket sends nothing; it only asks the kernel which local address
    would be used for the default route. No route (an isolated box): loopback.
    """
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))
                address = str(s.getsockname()[0])
        except OSError:
            continue
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return "127.0.0.1"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def default_webhook_base(host: str, port: int) -> str:
    """The webhook URL without its secret when PUBLIC_WEBHOOK_URL is unset."""
    where = lan_address() if host in _WILDCARD else host
    return f"http://{_url_host(where)}:{port}{WEBHOOK_PATH}"


def with_webhook_path(url: str) -> str:
    """`http://host:8123` means the webhook on that server: add the path Plex must post to."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return parts._replace(path=WEBHOOK_PATH).geturl()
    return url


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_warning(url: str) -> str | None:
    if not is_loopback(url):
        return None
    return (
        f"{urlsplit(url).hostname} is this machine only: a Plex server on another machine "
        "cannot reach it. Set PUBLIC_WEBHOOK_URL to an address Plex can reach "
        "(e.g. http://192.168.1.20:8080)."
    )
