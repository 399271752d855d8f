"""Every route of ``config.urls`` as a concrete path, so suites can visit endpoints nobody listed.

The walk descends into every include. Wagtail's own admin screens are left out (Wagtail tests
them); admin screens our apps register (views in our packages, and Wagtail's generic views of our
models, such as snippets) are kept. A route the walk cannot turn into a path that resolves back
to the same view is reported, never skipped, so a new endpoint cannot slip past a suite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils.regex_helper import normalize

OUR_PACKAGES = frozenset({"core", "members", "community", "loyalty", "share"})
CONVERTER_SAMPLES = {"int": "1", "str": "1", "slug": "x-1", "path": "x/1",
                     "uuid": "00000000-0000-0000-0000-000000000001"}  # fmt: skip
REGEX_SAMPLES = ("1", "x", "x-1", "")


@dataclass(frozen=True)
class Endpoint:
    route: str  # the pattern as written, e.g. "points/rewards/<int:pk>/redeem/"
    path: str  # a concrete path that resolves to the view, e.g. "/points/rewards/1/redeem/"
    name: str  # "namespace:name", or the view's dotted path when unnamed
    module: str
    admin: bool

    def __str__(self) -> str:
        return f"{self.path} ({self.name})"


def _view_module(callback) -> str:
    return getattr(getattr(callback, "view_class", callback), "__module__", "") or ""


def _model_app(callback) -> str:
    model = (getattr(callback, "view_initkwargs", None) or {}).get("model")
    if isinstance(model, str):
        return model.split(".")[0]
    meta = getattr(model, "_meta", None)
    return meta.app_label if meta else ""


def _is_ours(callback) -> bool:
    return (
        _view_module(callback).split(".")[0] in OUR_PACKAGES or _model_app(callback) in OUR_PACKAGES
    )


def _route_sample(route: str) -> str:
    return re.sub(
        r"<(?:(\w+):)?\w+>", lambda m: CONVERTER_SAMPLES.get(m.group(1) or "str", "1"), route
    )


# A lookahead or lookbehind, with at most one group nested in it (``(?!(?:a|b)/)``).
LOOKAROUND = re.compile(r"\(\?<?[!=](?:[^()]|\([^()]*\))*\)")


def _regex_sample(regex: str) -> str | None:
    """A path the regex accepts. Django's ``normalize`` cannot expand lookarounds, so a regex
    with one is also tried without it, and then with its groups made non-capturing (a group
    around the whole path is otherwise one parameter); each sample is checked against the
    whole regex."""
    compiled = re.compile(regex)
    plain = LOOKAROUND.sub("", regex)
    for source in (regex, plain, re.sub(r"(?<!\\)\((?!\?)", "(?:", plain)):
        for template, params in normalize(source):
            for value in REGEX_SAMPLES:
                sample = template % {param: value for param in params}
                if compiled.fullmatch(sample) or compiled.match(sample):
                    return sample
    return None


def _sample(pattern) -> str | None:
    if isinstance(pattern, RoutePattern):
        return _route_sample(str(pattern))
    if isinstance(pattern, RegexPattern):
        return _regex_sample(pattern._regex)
    return None


def _walk(resolver: URLResolver, route: str, path: str | None, namespaces: tuple[str, ...]):
    for entry in resolver.url_patterns:
        piece = _sample(entry.pattern)
        here = None if path is None or piece is None else path + piece
        if isinstance(entry, URLResolver):
            spaces = namespaces + ((entry.namespace,) if entry.namespace else ())
            yield from _walk(entry, route + str(entry.pattern), here, spaces)
        elif isinstance(entry, URLPattern):
            yield entry, route + str(entry.pattern), here, namespaces


def endpoints() -> tuple[list[Endpoint], list[str]]:
    """(endpoints, problems): problems name routes that could not be turned into a path."""
    found: list[Endpoint] = []
    problems: list[str] = []
    for pattern, route, path, namespaces in _walk(get_resolver("config.urls"), "", "", ()):
        admin = route.startswith("admin/")
        if admin and not _is_ours(pattern.callback):
            continue
        module = _view_module(pattern.callback)
        name = ":".join([*namespaces, pattern.name]) if pattern.name else module
        if path is None:
            problems.append(f"{route}: no sample path could be built")
            continue
        try:
            match = resolve("/" + path)
        except Resolver404:
            problems.append(f"{route}: sample /{path} does not resolve")
            continue
        if match.func is not pattern.callback:
            problems.append(f"{route}: sample /{path} resolves to {match.view_name} instead")
            continue
        found.append(Endpoint(route, "/" + path, name, module, admin))
    return found, problems
