"""Safe HTML: which URLs are remote, and contributed HTML cut down to what the site allows.

The validator and the site both need these: the validator to warn about remote images, the site to
sanitise every case page it renders."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

__all__ = ["sanitise_html"]


_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p",
    "pre", "s", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip


_ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang"},
    "div": {"data-search-exclude"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "th": {"scope", "colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
}


_URL_IGNORED = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in a URL


_URL_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*:")


_C0_AND_SPACE = "".join(map(chr, range(0x21)))  # browsers strip these around a URL


_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")


def is_remote_url(url: str) -> bool:
    """True if a browser would fetch `url` from a server other than the site's own.

    Anything with a scheme (`https:`, `data:` ...) or a network path (`//host`, `/\\host`) is
    remote; only paths on the site itself, such as `images/chart.png`, are not.
    """
    cleaned = _URL_IGNORED.sub("", url).strip(_C0_AND_SPACE)
    cleaned = cleaned.replace("\\", "/")
    return cleaned.startswith("//") or bool(_URL_SCHEME.match(cleaned))


def _local_images_only(element: str, attribute: str, value: str) -> str | None:
    if element == "img" and attribute == "src" and is_remote_url(value):
        return None
    return value


def sanitise_html(fragment: str, *, markup: bool = True) -> str:
    """Remove script, event handlers, frames, unsafe URLs and remote images from page HTML.

    An image from another server is dropped whole (it would let that server see every reader);
    `kb validate` warns about it. With `markup=False` every tag goes and only text (with its
    character references) is kept.
    """
    import nh3

    if not markup:
        return nh3.clean(fragment, tags=set(), attributes={}, strip_comments=True)
    clean = nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_local_images_only,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    # nh3 writes every attribute as name="value" with '>' escaped, so this sees whole tags
    return _IMG_WITHOUT_SRC.sub("", clean) if "<img" in clean else clean
