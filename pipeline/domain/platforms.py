"""Platform overlays (CONTRACT §11): one policy document, one merged policy per platform.

The policy file's `platforms:` maps a platform name to an overlay holding only what differs
from the base: mappings merge key by key, lists and scalars replace. The merged document is
then loaded like the base (policy.py), by a validator whose errors name the platform and the
overlay's line where the overlay wrote the offending key (the base's line otherwise).

Pure data functions on the parsed YAML: policy.py imports them, they import nothing of it.
"""

from __future__ import annotations

import re
from typing import Any, Final, NoReturn

from pipeline.domain.errors import PolicyError
from pipeline.domain.yamlcheck import Path, Validator

DEFAULT: Final = "default"
PLATFORM_PATTERN: Final = r"^[a-z0-9._-]{1,32}$"  # CONTRACT §2 (v3)
_NAME: Final = re.compile(PLATFORM_PATTERN)
# Overlay sections whose keys must already be in the base: a rule the base lacks would be a
# rule no code evaluates, and a credit or state key a typo. Catalogues of words (categories,
# keywords, product categories) may add entries; the merged document's load checks them.
_CLOSED: Final = ("rules", "credit", "state", "appeals", "review")


def merge(base: Any, overlay: Any) -> Any:
    """Mappings key by key (recursively); anything else (lists, scalars) replaces."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return overlay


def overlays(v: Validator, value: Any) -> dict[str, dict[str, Any]]:
    """The `platforms:` section: platform name -> overlay mapping, names checked."""
    path: Path = ("platforms",)
    out: dict[str, dict[str, Any]] = {}
    for name, overlay in v.str_keys(value, path).items():
        if not _NAME.match(name):
            v.fail((*path, name), f"platform name {name!r} is not [a-z0-9._-]{{1,32}}")
        if name == DEFAULT:
            v.fail((*path, name), "`default` is the base itself; it takes no overlay")
        if not isinstance(overlay, dict) or not overlay:
            v.fail((*path, name), "an overlay is a non-empty mapping of what differs")
        if "platforms" in overlay:
            v.fail((*path, name, "platforms"), "overlays do not nest")
        out[name] = overlay
    return out


def check_known(v: Validator, platform: str, base: dict[str, Any], overlay: Any) -> None:
    """Refuse an overlay naming a rule or field the base lacks (in the closed sections)."""
    for section in _CLOSED:
        if section in overlay:
            _known(v, ("platforms", platform, section), base.get(section), overlay[section])


def _known(v: Validator, path: Path, base: Any, overlay: Any) -> None:
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return  # replaced whole: the merged document's load checks its shape
    for key, value in overlay.items():
        if key not in base:
            if path[-1] == "rules" or path[-1] == "credit":
                v.fail((*path, str(key)), f"the base policy has no `{key}` here to override")
            continue  # an optional key (e.g. a rule's mode): the merged load checks it
        _known(v, (*path, str(key)), base[key], value)


def overlay_lines(lines: dict[Path, int], platform: str) -> dict[Path, int]:
    """The merged document's line map: the overlay's line where it wrote the key, else the
    base's."""
    prefix = ("platforms", platform)
    out = {p: n for p, n in lines.items() if p[:1] != ("platforms",)}
    for p, n in lines.items():
        if p[:2] == prefix:
            out[p[2:]] = n
    return out


class PlatformValidator(Validator):
    """A Validator whose errors name the platform whose merged policy is being checked."""

    def __init__(self, lines: dict[Path, int], source: str, platform: str) -> None:
        super().__init__(lines, source)
        self.platform = platform

    def fail(self, path: Path, reason: str) -> NoReturn:
        try:
            super().fail(path, reason)
        except PolicyError as exc:
            raise PolicyError(
                f"platform `{self.platform}`: {exc.reason}", exc.line, exc.source
            ) from None


def merged_document(data: dict[str, Any], platform: str) -> dict[str, Any]:
    """A parsed policy document as `platform` sees it: the base with its overlay merged
    (`livegate policy show --platform`, `policy diff`); the base for an unknown platform."""
    base = {k: v for k, v in data.items() if k != "platforms"}
    overlay = (data.get("platforms") or {}).get(platform)
    merged: dict[str, Any] = merge(base, overlay) if isinstance(overlay, dict) else base
    return merged
