"""The install line for an extra, as it works where this copy of podero-client came from.

The package is not on an index yet, so ``pip install "podero-client[otel]"`` fails for a
user who installed a wheel or a checkout. pip records where it installed a distribution
from (``direct_url.json``, PEP 610): a hint names that checkout, wheel or git URL instead,
and the index name only when pip recorded no such origin. Read only when a hint is shown.
"""

from __future__ import annotations

import json
from importlib import metadata
from urllib.parse import unquote, urlsplit

DISTRIBUTION = "podero-client"


def install_hint(extra: str) -> str:
    """``pip install ...`` that adds ``extra`` to this installation."""
    return f"pip install {_requirement(extra)}"


def _requirement(extra: str) -> str:
    """The requirement for this distribution with ``extra``, from where pip says it came (PEP 610)."""
    by_name = f'"{DISTRIBUTION}[{extra}]"'
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
        direct = json.loads(text) if text else None
    except (metadata.PackageNotFoundError, ValueError):  # run from a source tree or a zip, or a bad record
        return by_name
    if not isinstance(direct, dict) or not isinstance(direct.get("url"), str):
        return by_name  # installed from an index
    url: str = direct["url"]
    vcs_info = direct.get("vcs_info")
    if isinstance(vcs_info, dict):
        revision = vcs_info.get("requested_revision") or vcs_info.get("commit_id")
        url = f"{vcs_info.get('vcs', 'git')}+{url}" + (f"@{revision}" if revision else "")
    parts = urlsplit(url)
    if parts.scheme != "file":  # a git or https URL takes the extra on the name
        return f'"{DISTRIBUTION}[{extra}] @ {url}"'
    dir_info = direct.get("dir_info")
    editable = isinstance(dir_info, dict) and dir_info.get("editable") is True
    return f'{"-e " if editable else ""}"{unquote(parts.path)}[{extra}]"'
