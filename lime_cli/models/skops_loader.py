"""Load ``.skops`` files through skops's own type check, with lime-explain's policy."""

from __future__ import annotations

from typing import Any

from lime_cli.errors import ModelError
from lime_cli.models.trust import DENIED_PREFIXES, MODEL_PACKAGES, refusal_message


def load_skops(
    path: str, *, trust_model: bool = False, trusted_modules: tuple[str, ...] = ()
) -> Any:
    """The estimator in a skops file; types outside the policy need ``--trust-model``."""
    try:
        import skops.io as sio
    except ImportError:  # pragma: no cover - skops is a declared dependency
        raise ModelError("reading .skops files needs the skops package") from None
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a zip that is not a skops file, or a corrupted one
        raise ModelError(
            f"{path}: not a readable skops file ({type(exc).__name__}: {exc})"
        ) from None
    refused = [t for t in untrusted if not (trust_model or _acceptable(t, trusted_modules))]
    if refused:
        raise ModelError(refusal_message(path, f"type '{refused[0]}'"))
    try:
        return sio.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise ModelError(
            f"{path}: cannot load the skops model ({type(exc).__name__}: {exc})"
        ) from None


def _acceptable(type_name: str, trusted_modules: tuple[str, ...]) -> bool:
    if any(type_name == m or type_name.startswith(m + ".") for m in trusted_modules):
        return True
    if any(type_name == p or type_name.startswith(p + ".") for p in DENIED_PREFIXES):
        return False
    return type_name.split(".")[0] in MODEL_PACKAGES
