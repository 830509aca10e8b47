"""Load ``.skops`` files through skops's own type check, with lime-explain's policy.

skops lists the types a file needs beyond those it trusts itself; each must
pass :class:`lime_cli.models.trust.TrustPolicy` (the same rules as pickles,
checked against the object the name resolves to). Bound methods are refused
too: skops fetches them by an attribute name the file chooses, which its type
list does not show.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any

from lime_cli.errors import ModelError
from lime_cli.models.safe_pickle import one_line
from lime_cli.models.trust import MissingModule, Refused, TrustPolicy, refusal_message


def load_skops(
    path: str, *, trust_model: bool = False, trusted_modules: tuple[str, ...] = ()
) -> Any:
    """The estimator in a skops file; types outside the policy need ``--trust-model``."""
    try:
        import skops.io as sio
    except ImportError:  # pragma: no cover - skops is a declared dependency
        raise ModelError("reading .skops files needs the skops package") from None
    policy = TrustPolicy(trust_model, tuple(trusted_modules))
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a zip that is not a skops file, or a damaged one
        raise ModelError(f"{path}: not a readable skops file ({one_line(exc)})") from None
    try:
        for type_name in untrusted:
            policy.check_type_name(type_name)
        if not trust_model:
            method = first_bound_method(path)
            if method is not None:
                raise Refused(method, "it is a method, fetched by a name the file chooses")
    except Refused as exc:
        raise ModelError(refusal_message(path, exc)) from None
    except MissingModule as exc:
        raise ModelError(f"{path}: {exc}") from None
    try:
        return sio.load(path, trusted=untrusted)
    except MemoryError:
        raise ModelError(f"{path}: not enough memory to load the model") from None
    except Exception as exc:
        raise ModelError(f"{path}: cannot load the skops model ({one_line(exc)})") from None


def first_bound_method(path: str) -> str | None:
    """``module.Class.method`` of the first bound method the file stores, if any."""
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if node.get("__loader__") == "MethodNode":
                content = node.get("content")
                func = content.get("func") if isinstance(content, dict) else None
                return f"{node.get('__module__')}.{node.get('__class__')}.{func}"
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return None
