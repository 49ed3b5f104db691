"""DICOM nodes: ``AE@HOST:PORT`` on the command line, or a node configured in the settings.

Settings (read defensively: the fields may not exist in older settings files):
``pacs_nodes`` a list of ``{"name", "ae_title", "host", "port"}`` dicts and
``local_ae_title`` (our calling / called AE title, default ``DENTALOSTEO``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError

DEFAULT_AE_TITLE = "DENTALOSTEO"


@dataclass(frozen=True)
class Node:
    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


def check_ae_title(text: str, what: str = "AE title") -> str:
    """A valid AE title (1-16 characters, no backslash or control characters)."""
    t = str(text).strip()
    if not t or len(t) > 16 or "\\" in t or any(ord(c) < 32 or ord(c) > 126 for c in t):
        raise ConfigError(f"{what} {text!r} is not valid (1 to 16 ASCII characters, no "
                          "backslash), e.g. DENTALOSTEO")
    return t


def check_port(value: Any, what: str = "port") -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what} {value!r} is not a number (1-65535)") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{what} {port} is out of range (1-65535)")
    return port


def parse_node(text: str, settings: Any = None) -> Node:
    """``AE@HOST:PORT`` (IPv6 hosts in brackets) or the name of a configured node."""
    t = str(text).strip()
    for n in configured_nodes(settings):
        if n[0] == t:
            return n[1]
    if "@" not in t or ":" not in t.rsplit("@", 1)[1]:
        known = ", ".join(n for n, _ in configured_nodes(settings))
        hint = f" or one of the configured nodes: {known}" if known else ""
        raise ConfigError(f"node {text!r}: give it as AE@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242{hint}")
    ae, rest = t.rsplit("@", 1)
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
    else:
        host, _, port = rest.rpartition(":")
    if not host:
        raise ConfigError(f"node {text!r}: the host is missing (AE@HOST:PORT)")
    return Node(check_ae_title(ae), host, check_port(port, f"node {text!r}: port"))


def configured_nodes(settings: Any) -> list[tuple[str, Node]]:
    """(name, node) for each valid entry of ``settings.pacs_nodes``; bad entries are skipped."""
    out: list[tuple[str, Node]] = []
    for item in getattr(settings, "pacs_nodes", None) or []:
        try:
            node = Node(check_ae_title(item["ae_title"]), str(item["host"]).strip(),
                        check_port(item["port"]))
            if not node.host:
                continue
            out.append((str(item.get("name") or node.ae_title), node))
        except (KeyError, TypeError, AttributeError, ConfigError):
            logging.getLogger(__name__).warning("settings: a PACS node entry is incomplete; ignored")
    return out


def local_ae_title(settings: Any) -> str:
    value = getattr(settings, "local_ae_title", None) or DEFAULT_AE_TITLE
    try:
        return check_ae_title(value)
    except ConfigError:
        return DEFAULT_AE_TITLE
